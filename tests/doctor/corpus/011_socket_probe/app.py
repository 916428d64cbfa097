"""PSE101: a socket connect in an async dependency health check."""

import socket

from fastapi import FastAPI

app = FastAPI()

DEPENDENCIES = {"postgres": ("db", 5432), "redis": ("cache", 6379)}


@app.get("/health/dependencies")
async def dependency_health() -> dict:
    results = {}
    for name, (host, port) in DEPENDENCIES.items():
        try:
            with socket.create_connection((host, port), timeout=1):
                results[name] = "up"
        except OSError:
            results[name] = "down"
    return results
