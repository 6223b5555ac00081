"""Wire formats: SSE and WebSocket subscribers as protocol objects. No Redis, no business rules."""
