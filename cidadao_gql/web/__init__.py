"""The HTTP and WebSocket surface: the Starlette app, its endpoints, middleware, sessions and refusals."""
