"""Tests of the runnable example apps in ``examples/``."""
