"""Exceptions of the host agent.

Exception tree::

    AgentError
    ├── AgentConfigError     bad command line or environment
    ├── CaptureError         the screen cannot be captured (no display, display gone)
    ├── EncoderError         no usable libx264, or it refused a parameter or a picture
    ├── InjectionError       input cannot be injected (no XTest, display gone)
    └── BrokerRefused        the broker refused this agent (bad token, protocol error);
                             retrying will not help until the configuration changes

Wire-format errors are ``mamori_protocol.ProtocolError``; input-channel messages that fail
validation raise ``host_agent.errors.InvalidInput`` and are dropped, never injected.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every agent error."""


class AgentConfigError(AgentError):
    """The agent cannot start with this configuration."""


class CaptureError(AgentError):
    """The screen cannot be captured."""


class EncoderError(AgentError):
    """The video encoder cannot be loaded, configured or run."""


class InjectionError(AgentError):
    """Input cannot be injected into the host's display."""


class BrokerRefused(AgentError):
    """The broker refused the agent for a reason that retrying does not fix."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"broker refused the agent: {code} {reason}")
        self.code = code
        self.reason = reason


class InvalidInput(AgentError, ValueError):
    """An input message that must be dropped (and counted), never injected."""
