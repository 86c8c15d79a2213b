"""The audit trail: record, hash chain, ledger, signing key, verify, search, purge, export and its
CLI.
"""
