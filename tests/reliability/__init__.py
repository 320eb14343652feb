"""Reliability suites: crashes, faults, bad input and secrets (see the README's Tests)."""
