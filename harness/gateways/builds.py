"""Which build of each gateway this machine runs: version, install method and the dependencies a finding can
depend on (prisma for LiteLLM's key check, the async-retry patch for Portkey's retry-after). The scorecard records it
per row, so a cell is read against the build that produced it."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import metadata

from gatedrill import __version__

from ..scenario import PortkeyOptions
from .portkey import ENTRY, install_root

PATCHED_CALL = "fn(bail, num, op)"  # Portkey's patches/async-retry+1.3.3.patch


@dataclass
class GatewayBuild:
    gateway: str
    version: str  # "unknown" when it cannot be told
    install: str
    dependencies: dict[str, str] = field(default_factory=dict)


def _dist(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def program_version(argv: list[str], pattern: str) -> str:
    """What `argv` prints as its version (the first group of `pattern`), "absent" or "unknown"."""
    exe = shutil.which(argv[0]) or shutil.which(argv[0], path="/usr/sbin:/usr/local/sbin")
    if exe is None:
        return "absent"
    try:
        done = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    m = re.search(pattern, done.stdout + done.stderr)
    return m.group(1) if m else "unknown"


def _portkey() -> GatewayBuild:
    import json

    opts = PortkeyOptions()
    root = install_root(opts)
    pkg = root / ENTRY.parent.parent / "package.json"
    version = json.loads(pkg.read_text())["version"] if pkg.exists() else "absent"
    retry = root / "node_modules" / "async-retry"
    deps = {"@hono/node-server": opts.hono_node_server}
    if (retry / "package.json").exists():
        patched = PATCHED_CALL in (retry / "lib" / "index.js").read_text()
        deps["async-retry"] = (json.loads((retry / "package.json").read_text())["version"]
                               + (" (patched)" if patched else " (unpatched)"))
    return GatewayBuild("portkey", version, "npm @portkey-ai/gateway", deps)


BUILT_GATEWAYS = ("litellm", "portkey", "nginx", "haproxy")  # third-party gateways whose build a run record names


def gateway_build(gateway: str) -> GatewayBuild:
    """The installed build of `gateway` (reference, litellm, portkey, nginx, haproxy)."""
    if gateway == "litellm":
        return GatewayBuild("litellm", _dist("litellm"), "pip install 'litellm[proxy]'", {"prisma": _dist("prisma")})
    if gateway == "portkey":
        return _portkey()
    if gateway == "nginx":
        return GatewayBuild("nginx", program_version(["nginx", "-v"], r"nginx/(\S+)"), "Debian package")
    if gateway == "haproxy":
        return GatewayBuild("haproxy", program_version(["haproxy", "-v"], r"version (\S+)"), "Debian package")
    return GatewayBuild(gateway, __version__, "gatedrill")
