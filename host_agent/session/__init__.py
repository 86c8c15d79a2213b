"""The session guard: idle, maximum, view-only, violations."""
