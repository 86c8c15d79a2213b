"""ASGI apps, the two uvicorn servers (browser port, agent mTLS port) and the TLS scope."""
