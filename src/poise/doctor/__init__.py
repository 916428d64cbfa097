"""``poise doctor``: a FastAPI-aware audit of blocking, CPU-heavy and unbounded calls.

It finds the app's entry points statically, follows calls across the project's own
modules, matches what they reach against a sink catalog (``sinks.toml``), and can
confirm findings with a live probe. Uses poise's public API only.
"""

from __future__ import annotations

from poise.doctor.model import ChainLink, Finding, Report, RouteInfo, Severity
from poise.doctor.rules import RULES, Rule

__all__ = ["RULES", "ChainLink", "Finding", "Report", "RouteInfo", "Rule", "Severity"]
