"""Runnable example apps for poise.

Serve them from the repository root, e.g. ``uvicorn examples.shop.burnt:app``.
"""
