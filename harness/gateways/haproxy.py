"""The HAProxy adapter: writes the haproxy.cfg and Lua script that `haproxy_conf` renders for the scenario into the
run's logs folder and runs HAProxy in the foreground on 127.0.0.1 (`haproxy -db`; its request log goes to the run's
haproxy.log).

A timeline set_weights goes through HAProxy's runtime API (`stats socket ... level admin` on a loopback port, as the
fakes' control API): `set weight BACKEND/SERVER N` for each target, no reload. It counts as applied once `get
weight` answers the new weight for every server.

Needs HAProxy 2.5 or newer built with Lua (Debian 12: `apt-get install -y haproxy`, 2.6).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from gatedrill.fakes.errors import ConfigError

from ..timeline import WeightsApplied
from .base import Limitation, RunningGateway, free_port, wait_ready
from .builds import program_version
from .haproxy_conf import BACKEND, BODY_LUA, HEALTH_PATH, HaproxyPlan, plan, render, reweighted, server_weights

if TYPE_CHECKING:
    from ..intent import UpstreamEndpoint
    from ..processes import Processes
    from ..scenario import Scenario

LOG = "haproxy.log"
CLAIMS = {"upstream": "x-gatedrill-haproxy-server"}  # the server that answered: servers are named for upstreams
RUNTIME_TIMEOUT_S = 5.0


def find_haproxy(executable: str = "haproxy") -> str:
    """The haproxy binary's path, or a ConfigError saying how to install it."""
    found = shutil.which(executable) or shutil.which(
        executable, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"]))
    if found is None:
        raise ConfigError("the haproxy gateway needs haproxy on PATH (Debian: apt-get install -y haproxy)")
    return found


def write_config(folder: Path, cfg: str) -> Path:
    """haproxy.cfg and the Lua script in `folder`; returns the config's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gatedrill.lua").write_text(BODY_LUA)
    path = folder / "haproxy.cfg"
    path.write_text(cfg)
    return path


def installed_version(scenario: Scenario) -> str:
    """The version of the haproxy this scenario runs ("unknown" when it cannot be told): a limitation depends on it."""
    opts = scenario.gateway.haproxy
    return program_version([opts.executable if opts else "haproxy", "-v"], r"version (\S+)")


class HaproxyAdapter:
    name = "haproxy"

    def limitations(self, scenario: Scenario) -> list[Limitation]:
        return plan(scenario, installed_version(scenario)).limitations

    def start(self, procs: Processes, scenario: Scenario, endpoints: list[UpstreamEndpoint],
              workdir: Path) -> RunningGateway:
        opts = scenario.gateway.haproxy
        executable = find_haproxy(opts.executable if opts else "haproxy")
        p = plan(scenario, installed_version(scenario))
        keys = {e.name: e.api_key for e in endpoints}
        p.api_key = keys.get(p.targets[0].upstream, p.api_key)
        folder = (workdir / "haproxy").resolve()
        port, admin_port = free_port(), free_port()
        urls = {e.name: e.base_url for e in endpoints}
        cfg = write_config(folder, render(p, urls, f"127.0.0.1:{port}", f"ipv4@127.0.0.1:{admin_port}",
                                          str(folder / "gatedrill.lua")))
        proc = procs.start([executable, "-db", "-f", str(cfg)], LOG)
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}{HEALTH_PATH}", proc, opts.start_timeout_s if opts else 15.0, "haproxy", workdir / LOG)
        return RunningGateway(url=url, proc=proc, log=LOG, claims=CLAIMS,
                              weights=RuntimeApiWeights(p, ("127.0.0.1", admin_port)))


def runtime_command(address: tuple[str, int], command: str, timeout_s: float = RUNTIME_TIMEOUT_S) -> str:
    """One command on HAProxy's runtime API (a stats socket at `address`); its answer. OSError when unreachable."""
    with socket.create_connection(address, timeout=timeout_s) as s:
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace").strip()


class RuntimeApiWeights:
    """Changes a running HAProxy's weights through its runtime API: `set weight` for every target server, then
    `get weight` until each answers the new value (no reload: requests in flight are untouched)."""

    mechanism = "HAProxy runtime API (set weight)"

    def __init__(self, p: HaproxyPlan, address: tuple[str, int]) -> None:
        self.plan, self.address = p, address

    def set_weights(self, update: dict[str, float], weights: dict[str, float]) -> WeightsApplied:
        try:
            new = reweighted(self.plan, weights)
        except ConfigError as exc:
            return WeightsApplied(0, str(exc))
        want = server_weights(new.targets)
        try:
            for server, w in want.items():
                said = runtime_command(self.address, f"set weight {BACKEND}/{server} {w}")
                if said:
                    return WeightsApplied(0, f"HAProxy refused set weight {BACKEND}/{server} {w}: {said[:300]}")
            seen = {server: runtime_command(self.address, f"get weight {BACKEND}/{server}").split(" ", 1)[0]
                    for server in want}
        except OSError as exc:
            return WeightsApplied(0, f"HAProxy's runtime API at {self.address[0]}:{self.address[1]} did not answer "
                                     f"({exc}); see its log")
        wrong = {s: v for s, v in seen.items() if v != str(want[s])}
        if wrong:
            return WeightsApplied(0, "HAProxy did not take the weights: " + ", ".join(
                f"{s} is {v}, want {want[s]}" for s, v in wrong.items()))
        self.plan = new
        return WeightsApplied(200, "set weight: " + ", ".join(f"{s}={w}" for s, w in want.items()))
