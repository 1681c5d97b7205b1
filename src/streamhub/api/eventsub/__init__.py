"""EventSub: subscription types, the event sink and outbox, webhook and WebSocket transports."""
