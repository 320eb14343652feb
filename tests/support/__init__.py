"""Helpers shared by the integration and reliability suites: invariants, sandboxes, processes."""
