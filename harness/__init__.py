"""The gatedrill harness: scenarios, load, gateways under test, checks and reports."""

from gatedrill.fakes.errors import ConfigError, GatedrillError

__all__ = ["ConfigError", "GatedrillError"]
