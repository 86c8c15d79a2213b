"""Errors of the operations package.

Exception tree::

    BrokerError (broker.errors)
    └── OpsError            an operation (backup, restore) refused, with a plain reason
"""

from __future__ import annotations

from broker.errors import BrokerError


class OpsError(BrokerError):
    """A backup or restore cannot proceed; the message says why and what to do."""
