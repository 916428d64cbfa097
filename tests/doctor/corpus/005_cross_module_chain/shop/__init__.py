"""The shop's domain code."""
