"""Fixtures for tests and benchmarks (tiny checkpoints); the package never imports this."""
