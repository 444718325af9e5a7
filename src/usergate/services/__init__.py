"""The business layer: rules live here; no HTTP, no flask_restx."""
