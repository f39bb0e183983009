"""auth: users, passwords, session tokens, and the WebSocket $connect authorizer."""
