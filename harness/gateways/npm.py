"""Node packages installed once into gatedrill's cache folder (`GATEDRILL_HOME`, else ~/.cache/gatedrill) with npm.

Used for the Portkey gateway and for the bench's aimock reference. An install goes to a `.partial` folder that is
renamed into place when npm succeeded, under a file lock, so parallel test workers share one copy and a failed or
interrupted install never leaves a half-filled folder behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gatedrill.fakes.errors import ConfigError

from ..processes import InfrastructureError

NPM_TIMEOUT_S = 600.0


def cache_root(install_dir: str | None = None) -> Path:
    """Where npm installs go: an explicit folder, else `GATEDRILL_HOME`, else ~/.cache/gatedrill."""
    base = install_dir or os.environ.get("GATEDRILL_HOME") or str(Path.home() / ".cache" / "gatedrill")
    return Path(base).expanduser()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One installer at a time (parallel test workers share the cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def npm_install(root: Path, package: dict[str, Any], entry: Path, what: str) -> Path:
    """`root` holding `package`'s dependencies, installed with npm on first use (done when `root / entry` exists);
    one clear error when node or npm is missing or npm fails. `what` names the install in those errors."""
    if (root / entry).exists():
        return root
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise ConfigError(f"{what} needs node and npm (Debian: apt-get install nodejs npm)")
    with _locked(root.parent / f".{root.name}.lock"):
        if (root / entry).exists():
            return root
        tmp = root.with_name(root.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / "package.json").write_text(json.dumps(package, indent=2) + "\n")
        try:
            done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=tmp,
                                  capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise InfrastructureError(f"npm install of {what} took over {NPM_TIMEOUT_S:g} s") from None
        if done.returncode != 0 or not (tmp / entry).exists():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise InfrastructureError(f"npm install of {what} failed (exit {done.returncode}): {last}")
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    return root
