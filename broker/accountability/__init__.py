"""Accountability: exports of the audit trail and alerts to people who must see them."""
