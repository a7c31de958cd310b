"""Built-in drills, as YAML scenario files, runnable by name (`gatedrill run canary-rollback`)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SCHEMA_FILE = "scenario.schema.json"


def builtin_dir() -> Path:
    return Path(str(files(__name__)))


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


def resolve(name_or_path: str) -> Path:
    """A path as given if it exists, else the built-in drill of that name."""
    p = Path(name_or_path)
    if p.exists():
        return p
    builtin = builtin_dir() / f"{name_or_path}.yaml"
    if builtin.exists():
        return builtin
    from gatedrill.fakes.errors import ConfigError

    raise ConfigError(f"no scenario file {name_or_path!r} and no built-in drill of that name; "
                      f"built-in drills: {', '.join(builtin_names())}")
