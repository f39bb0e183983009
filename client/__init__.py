"""The Notifyx client: the Python SDK (client.sdk), the socket listener (client.listener), the user commands of
`notifyx` (client.cli), and the web page (client/web/, served by the local cloud at "/").

It imports nothing of the local cloud or of functions/: it speaks PROTOCOL.md to any deployment.
"""
