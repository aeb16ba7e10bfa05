"""Simulated hardware for tests: devices that execute a plugin's real command streams (test-only)."""
