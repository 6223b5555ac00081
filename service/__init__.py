"""breaking-push: real-time breaking-news push over SSE and WebSocket."""
