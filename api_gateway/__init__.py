"""The local API Gateway: WebSocket data plane, the @connections API, REST proxy events.

It knows nothing of Notifyx: it is configured from the template's ApiGatewayV2 / RestApi resources and
runs functions through an ``Invoke`` callable supplied by the local cloud.
"""
