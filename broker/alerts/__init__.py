"""Alerts: rules, checks, the outbox and its delivery (mail, webhook), texts and settings."""
