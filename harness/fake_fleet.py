"""A run's upstream fakes, started through Python: one child process serves them all (each on its own port,
journaling into the run record; an upstream with `workers:` above 1 by worker processes of its own, `fake_workers`),
tells the runner its URLs over a private pipe, and exits when the runner stops it or when the runner itself dies
(the pipe closes).

`python -m gatedrill.harness.fake_fleet FD CONFIG` is the child's side; nothing else parses its output.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import yaml

from gatedrill.fakes.config import FakeConfig
from gatedrill.fakes.errors import GatedrillError

from .processes import InfrastructureError, Processes
from .scenario import Scenario
from .seeds import derive

LOG = "fakes.log"
START_TIMEOUT_S = 30.0


def upstream_configs(scenario: Scenario) -> dict[str, FakeConfig]:
    """Each upstream's fake: named by its key, seeded by its own stream of the drill's seed (`seed:` on an upstream
    shifts that stream), host and port as configured (127.0.0.1; 0: a free port)."""
    return {name: cfg.model_copy(update={"name": name, "seed": derive(scenario.seed + cfg.seed, f"upstream:{name}")})
            for name, cfg in scenario.upstreams.items()}


def guarded(cfg: FakeConfig) -> FakeConfig:
    """The config, with a fresh control token when the fake listens off loopback without one: its control API
    (faults, patches, the journal) must not be open to the network."""
    if cfg.control_token or _loopback(cfg.host):
        return cfg
    return cfg.model_copy(update={"control_token": secrets.token_urlsafe(24)})


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass
class FakeFleet:
    proc: subprocess.Popen[bytes]
    urls: dict[str, str]  # upstream name -> base URL
    lifeline: socket.socket  # the runner's end: closing it (or dying) stops the fleet


def start_fleet(procs: Processes, configs: list[FakeConfig], workdir: Path,
                timeout: float = START_TIMEOUT_S) -> FakeFleet:
    """Start the fakes in one child (its log: workdir/fakes.log) and wait until each one listens."""
    from .gateways.base import start_error

    path = workdir / "fakes.yaml"
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:  # it names api_keys
        f.write(yaml.safe_dump({"fakes": [c.model_dump(mode="json") for c in configs]}, sort_keys=False))
    ours, theirs = socket.socketpair()
    try:
        proc = procs.start([sys.executable, "-m", "gatedrill.harness.fake_fleet", str(theirs.fileno()), str(path)],
                           LOG, pass_fds=(theirs.fileno(),))
    finally:
        theirs.close()
    try:
        urls = _read_urls(ours, proc, len(configs), timeout)
    except InfrastructureError as exc:
        ours.close()
        raise start_error(exc, proc, workdir / LOG) from None
    return FakeFleet(proc, urls, ours)


def _read_urls(sock: socket.socket, proc: subprocess.Popen[bytes], count: int, timeout: float) -> dict[str, str]:
    sock.settimeout(timeout)
    buf, urls = b"", dict[str, str]()
    try:
        while len(urls) < count:
            chunk = sock.recv(65536)
            if not chunk:
                raise InfrastructureError(f"the fakes exited during start-up (exit code {proc.wait()})")
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                urls[msg["name"]] = msg["url"]
    except TimeoutError:
        raise InfrastructureError(f"the fakes did not become ready within {timeout:g} s") from None
    return urls


def main(argv: list[str] | None = None) -> int:
    """The child: serve the fakes in CONFIG until SIGINT/SIGTERM or until the parent's end of FD closes."""
    from gatedrill.fakes import load_fakes_file

    from .fake_workers import serve_fakes

    fd, config = (sys.argv[1:] if argv is None else argv)
    sock = socket.socket(fileno=int(fd))
    try:
        configs = load_fakes_file(config)
    except GatedrillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    threading.Thread(target=_watch_parent, args=(sock,), name="fleet-lifeline", daemon=True).start()

    def announce(line: str) -> None:  # serve_forever's line per fake: NAME<TAB>PROVIDER<TAB>URL
        name, _, url = line.split("\t")
        sock.sendall(json.dumps({"name": name, "url": url}).encode() + b"\n")

    try:
        serve_fakes(configs, announce)
    except InfrastructureError as exc:  # a worker of a fake died
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except GatedrillError as exc:  # a port in use, a bad config: the scenario's to fix
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _watch_parent(sock: socket.socket) -> None:
    """EOF on the lifeline means the runner is gone: stop as on SIGTERM (journals flushed)."""
    try:
        while sock.recv(1):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
