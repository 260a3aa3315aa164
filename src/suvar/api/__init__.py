"""HTTP API (FastAPI): thin routers over the store, telemetry and analysis modules; serves the panel too."""
