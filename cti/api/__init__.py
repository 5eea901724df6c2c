"""HTTP and WebSocket APIs: the protocol, the event bus, the endpoints."""
