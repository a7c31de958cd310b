"""Fakes served by several worker processes (`workers:` above 1): the starting process's side.

For such a fake it opens one listening socket per worker on one port (SO_REUSEPORT: the kernel spreads connections
over the workers), starts the workers (`gatedrill.fakes.workers`) as the harness starts every child (own process
group, killed with this process even on SIGKILL), hands each its socket, its config and the shared memory, and answers
the control requests they forward (`GroupControl`). It stops them on SIGINT/SIGTERM, on an error, and when one of them
dies (then it exits with an error: the fake is no longer whole), and merges their journal files into the fake's own.
Fakes with one worker are served in this process, as `serve_forever` always has.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gatedrill.fakes import Fake, FakeConfig, serve_forever
from gatedrill.fakes.errors import GatedrillError
from gatedrill.fakes.server import listen_error
from gatedrill.fakes.workers import (
    Channel,
    ChannelClosed,
    GroupControl,
    SharedRegion,
    merge_worker_journals,
    start_worker_journals,
    worker_journal_path,
)

from .processes import InfrastructureError, Processes, exit_on_sigterm

START_TIMEOUT_S = 30.0
_STOP_GRACE_S = 10.0  # a worker flushing a large journal may need a while


class WorkerGroup:
    """One fake's running workers, its control plane, and what stopping them takes."""

    def __init__(self, config: FakeConfig, children: list[subprocess.Popen[bytes]], ops: list[Channel],
                 calls: list[Channel], region: SharedRegion) -> None:
        self.config = config
        self.children = children
        self.ops = ops
        self.calls = calls
        self.region = region
        self.control = GroupControl(config, ops, region)
        self.failure: str | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    def serve_control(self) -> None:
        """A thread per worker answers the control requests it forwards; one more watches that every worker lives."""
        for i, ch in enumerate(self.calls):
            threading.Thread(target=_answer_calls, args=(ch, self.control), name=f"fake-control-{i}",
                             daemon=True).start()
        threading.Thread(target=self._watch, name="fake-workers-watch", daemon=True).start()

    def _watch(self) -> None:
        while not self._stopping.wait(0.2):
            for i, child in enumerate(self.children):
                code = child.poll()
                if code is not None and not self._stopping.is_set():
                    how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                    self.failure = (f"worker {i} (pid {child.pid}) of fake {self.config.name!r} died ({how}); the "
                                    "fake stopped, since its journal and share of the port are gone")
                    os.kill(os.getpid(), signal.SIGTERM)  # stops `serve_forever` like Ctrl-C; `stop` runs after
                    return

    def stop(self, procs: Processes) -> None:
        """SIGTERM every worker at once, wait for each (SIGKILL after a grace), then merge their journals."""
        self._stopping.set()
        for child in self.children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            procs.stop(child, grace=_STOP_GRACE_S)
        for ch in self.ops + self.calls:
            ch.close()
        if self.config.journal.path:
            merge_worker_journals(self.config.journal.path, self.config.workers)


def start_group(procs: Processes, config: FakeConfig, timeout: float = START_TIMEOUT_S) -> WorkerGroup:
    """Start `config.workers` processes serving `config` on one port and wait until each one listens."""
    socks = _listen(config)
    config = config.model_copy(update={"port": socks[0].getsockname()[1]})
    region = SharedRegion.create()
    installed = time.monotonic()
    path = config.journal.path
    if path:
        start_worker_journals(path, config.workers)
    children: list[subprocess.Popen[bytes]] = []
    ops: list[Channel] = []
    calls: list[Channel] = []
    try:
        for i, sock in enumerate(socks):
            ops_ours, ops_theirs = socket.socketpair()
            calls_ours, calls_theirs = socket.socketpair()
            ops.append(Channel(ops_ours))
            calls.append(Channel(calls_ours))
            fds = (sock.fileno(), ops_theirs.fileno(), calls_theirs.fileno(), region.fd)
            try:
                children.append(procs.start([sys.executable, "-m", "gatedrill.fakes.workers", *map(str, fds)], None,
                                            pass_fds=fds))
            finally:
                ops_theirs.close()
                calls_theirs.close()
                sock.close()
            own = config
            if path:
                own = config.model_copy(update={"journal": config.journal.model_copy(
                    update={"path": worker_journal_path(path, i)})})
            ops[i].send({"config": own.model_dump(mode="json"), "index": i, "generation": 0, "installed": installed})
        for i, ch in enumerate(ops):
            reply = _ready(ch, children[i], timeout, f"worker {i} of fake {config.name!r}")
            if "error" in reply:
                raise GatedrillError(f"fake {config.name!r}: {reply['error']}")
    except BaseException:
        for sock in socks:
            sock.close()
        for child in children:
            procs.stop(child)
        for ch in ops + calls:
            ch.close()
        raise
    group = WorkerGroup(config, children, ops, calls, region)
    group.serve_control()
    return group


def serve_fakes(configs: list[FakeConfig], announce: Callable[[str], None] = print) -> None:
    """Serve every fake in `configs` until SIGINT/SIGTERM, one `name<TAB>provider<TAB>url` line each: fakes with one
    worker in this process, the others by their workers. Raises InfrastructureError if a worker died meanwhile."""
    if all(c.workers == 1 for c in configs):
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C before serve_forever takes SIGINT over: the same stop
            serve_forever([Fake(c) for c in configs], announce)
        return
    exit_on_sigterm()
    singles = [Fake(c) for c in configs if c.workers == 1]  # a bad config fails before any worker starts
    groups: list[WorkerGroup] = []
    with Processes(Path.cwd()) as procs:
        try:
            for c in configs:
                if c.workers > 1:
                    groups.append(start_group(procs, c))
                    announce(f"{c.name}\t{c.provider}\t{groups[-1].url}")
            serve_forever(singles, announce)
        except KeyboardInterrupt:
            pass  # Ctrl-C while the workers start, or before serve_forever takes SIGINT over: the same stop
        finally:
            for fake in singles:
                fake.close()
            for g in groups:
                g.stop(procs)
    failures = [g.failure for g in groups if g.failure]
    if failures:
        raise InfrastructureError("; ".join(failures))


def _listen(config: FakeConfig) -> list[socket.socket]:
    """One listening socket per worker, all on one port (the configured one, or a free one for 0)."""
    try:
        family, _, _, _, addr = socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM,
                                                   flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise GatedrillError(f"fake {config.name!r}: cannot listen on {config.host}: {exc.strerror}") from None
    socks: list[socket.socket] = []
    port = config.port
    try:
        if port:  # a port another group's workers hold would take ours too: bind it alone first to be sure it is free
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((addr[0], port, *addr[2:]))
        for _ in range(config.workers):
            s = socket.socket(family, socket.SOCK_STREAM)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((addr[0], port, *addr[2:]))
            s.listen(4096)
            port = s.getsockname()[1]
    except OSError as exc:
        for s in socks:
            s.close()
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        raise listen_error(config, exc) from None
    return socks


def _ready(ch: Channel, child: subprocess.Popen[bytes], timeout: float, what: str) -> Any:
    ch.sock.settimeout(timeout)
    try:
        return ch.recv()
    except ChannelClosed:
        code = child.poll()
        if code is None:
            raise InfrastructureError(f"{what} did not become ready within {timeout:g} s") from None
        raise InfrastructureError(f"{what} exited during start-up (exit code {code})") from None
    finally:
        ch.sock.settimeout(None)


def _answer_calls(ch: Channel, control: GroupControl) -> None:
    while True:
        try:
            call = ch.recv()
        except ChannelClosed:
            return
        try:
            reply = control.answer(call)
        except Exception as exc:  # a bug of ours: the client gets a 500 that says so, the fake keeps serving
            body = f'{{"error": {{"message": "internal control error: {type(exc).__name__}"}}}}'
            reply = {"status": 500, "headers": [("content-type", "application/json")], "body": body}
        try:
            ch.send(reply)
        except ChannelClosed:
            return
