"""The one exception type users can cause (bad config, port in use); the CLI prints it without a traceback."""

from __future__ import annotations


class GatedrillError(Exception):
    """A problem the user can fix; the message says what to change."""


class ConfigError(GatedrillError):
    """A configuration (fake, scenario, patch) failed validation."""


def require_extra(module: str, extra: str, feature: str) -> None:
    """Raise one clear ConfigError, naming the pip extra to install, when an optional part's module is missing
    (instead of an ImportError traceback from deep inside)."""
    from importlib.util import find_spec

    if find_spec(module) is None:
        raise ConfigError(f"{feature} needs {module}: pip install 'gatedrill[{extra}]'")
