"""Gateway: the WebSocket API's $connect/$disconnect and actions, and the fan-out of notifications."""

PERSIST = "persist"   # the Cloud Map service the gateway asks about topics, inboxes and deliveries (template.yaml)
