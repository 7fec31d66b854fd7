"""The HTTP surface: an ASGI app with thin routes over the runtime."""
