"""Wire formats: SSE and WebSocket encodings and subscribers. No broker, no business rules."""
