"""Benchmark harnesses (they read the clock; the cores they measure never do)."""
