"""`python -m gatedrill.harness.reference CONFIG`: serve the reference gateway from a JSON or YAML `GatewayConfig` file.

Prints `reference<TAB>URL` once listening (the runner reads it), then serves until SIGINT/SIGTERM.
Exit codes follow gatedrill's: 2 for a bad config or port, 3 when it cannot start otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from gatedrill.fakes.errors import ConfigError, GatedrillError

from .server import serve


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m gatedrill.harness.reference CONFIG.json|yaml", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        data = yaml.safe_load(path.read_text())  # JSON is YAML
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping with intent and upstreams")
        serve(data)
    except FileNotFoundError:
        print(f"error: {path}: no such file", file=sys.stderr)
        return 2
    except (ConfigError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except GatedrillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if "in use" in str(exc) else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
