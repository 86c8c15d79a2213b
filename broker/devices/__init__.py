"""Viewing devices: their keys, approval by an admin, and the challenge each viewer session
signs."""
