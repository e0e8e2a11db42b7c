"""Benchmarks run by hand: each prints the project's figure beside the raw limit of the same machine."""
