"""Pydantic payloads and documents, one module per domain."""
