"""The one exception type users can cause (bad config, port in use); the CLI prints it without a traceback."""

from __future__ import annotations


class GatedrillError(Exception):
    """A problem the user can fix; the message says what to change."""


class ConfigError(GatedrillError):
    """A configuration (fake, scenario, patch) failed validation."""
