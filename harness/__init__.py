"""The gatedrill harness: scenarios, load, gateways under test, checks and reports."""

from fakes.errors import ConfigError, GatedrillError

__all__ = ["ConfigError", "GatedrillError"]
