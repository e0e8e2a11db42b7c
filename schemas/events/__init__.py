"""Typed payloads of the domain events, one module per domain; the catalogue lists them all."""
