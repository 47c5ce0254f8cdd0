"""Helpers shared by the integration tests (running playbooks, reading the local cloud)."""
