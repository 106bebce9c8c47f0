"""Builders for realistic fixtures, shared by tests, scenarios and benchmarks."""
