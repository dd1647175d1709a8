"""The REST API: FastAPI app, dependencies and routes."""
