"""Gateway: the WebSocket API's $connect/$disconnect and actions, and the fan-out of notifications."""
