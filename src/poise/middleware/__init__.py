"""The pure-ASGI layers poise wraps around an app, one module per layer.

``install.py`` stacks them (lifespan, poise's own endpoints, the request ledger) outside
the app's own middleware and error handling.
"""
