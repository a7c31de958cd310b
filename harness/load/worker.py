"""The load generator's own process: `python -m gatedrill.harness.load.worker --spec FILE --url URL --duration S ...`.

Locust and gevent monkey-patch the process they run in, which would break asyncio servers running in
threads (the fakes, the reference gateway), so the load always runs here, apart. `run.LoadRun` starts it
with gevent patched before anything else is imported.

It reports on the file descriptor given by `--status-fd`, one JSON object per line: `{"type": "progress",
...}` about once a second, then `{"type": "final"}` once the summary file is written. Records go to
`--out` as JSONL while the run goes. It stops by itself at the duration or `max_requests` (plus the
drain), at once on SIGTERM or SIGINT, and when its parent process goes away; on SIGUSR1 it ends early as if its
duration were over (no new requests, those in flight drain).
Exit codes: 0 finished (also when cancelled), 1 the generator failed, 2 bad arguments.

With `--workers N` it is the master of a distributed run (`master.py`) instead, with the same signals, status lines
and summary file; `node_main` is a worker's entry (`gatedrill worker`, or the local workers `run.LoadRun` starts).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
from pathlib import Path
from typing import Any, Protocol

import orjson

HEADERS_ENV = "GATEDRILL_LOAD_HEADERS"  # request headers (with the API key) as a JSON object, kept out of argv
HEADER_SWITCHES_ENV = "GATEDRILL_LOAD_HEADER_SWITCHES"  # [[at_s, {header: value}], ...]: may hold keys too
FINISH_SIGNAL = signal.SIGUSR1  # end the run early and drain (LoadRun.finish)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gatedrill.harness.load.worker", description=__doc__.splitlines()[0])
    p.add_argument("--spec", required=True, help="LoadSpec as a JSON file")
    p.add_argument("--url", required=True, help="gateway base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--duration", type=float, required=True, help="seconds of arrivals")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="client records (JSONL), appended")
    p.add_argument("--summary", required=True, help="where the final summary (JSON) goes")
    p.add_argument("--status-fd", type=int, default=None, help="write status lines to this descriptor")
    p.add_argument("--run-id", default="gd", help="prefix of session and correlation ids")
    p.add_argument("--drain", type=float, default=None, help="seconds in-flight requests get after the end")
    p.add_argument("--header", action="append", default=[],
                   help=f"extra request header 'name: value' (never a credential: a command line is public; "
                        f"put those in ${HEADERS_ENV} as a JSON object)")
    p.add_argument("--control-url", default=None, help="the control arm's fake (base URL); omitted: no control arm")
    p.add_argument("--control-out", default=None, help="the control arm's client records (JSONL)")
    p.add_argument("--workers", type=int, default=0,
                   help="0: generate here; N: be the master of N Locust workers, each sending its share")
    p.add_argument("--master-bind", default="127.0.0.1:0", help="with --workers: where workers connect (HOST:PORT)")
    p.add_argument("--join-timeout", type=float, default=300.0, help="with --workers: seconds to wait for them")
    return p.parse_args(argv)


class StatusPipe:
    """Best-effort JSON lines to the parent: progress may be dropped if the parent stops reading."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        if fd is not None:
            os.set_blocking(fd, False)

    def __call__(self, msg: dict[str, Any]) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, orjson.dumps(msg) + b"\n")
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                self.fd = None  # the parent is gone; the watchdog will stop us
            elif exc.errno != errno.EAGAIN:
                raise

    def final(self, msg: dict[str, Any]) -> None:
        """The last message must arrive: block for it."""
        if self.fd is None:
            return
        os.set_blocking(self.fd, True)
        with contextlib.suppress(OSError):
            os.write(self.fd, orjson.dumps(msg) + b"\n")


def main(argv: list[str] | None = None) -> int:
    from gevent import monkey

    if not monkey.is_module_patched("socket"):
        monkey.patch_all()

    from .driver import DriveConfig, Driver
    from .spec import LoadSpec

    args = _parse(argv)
    try:
        spec = LoadSpec.model_validate_json(Path(args.spec).read_bytes())
    except Exception as exc:
        print(f"load worker: bad spec {args.spec}: {exc}", file=sys.stderr)
        return 2
    headers: dict[str, str] = {}
    try:
        from_env = orjson.loads(os.environ.pop(HEADERS_ENV, "{}"))
    except orjson.JSONDecodeError:
        from_env = None
    if not isinstance(from_env, dict):
        print(f"load worker: ${HEADERS_ENV} must be a JSON object of header names and values", file=sys.stderr)
        return 2
    headers.update({str(k).lower(): str(v) for k, v in from_env.items()})
    try:
        switches = [(float(at), {str(k).lower(): str(v) for k, v in h.items()})
                    for at, h in orjson.loads(os.environ.pop(HEADER_SWITCHES_ENV, "[]"))]
    except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
        print(f"load worker: ${HEADER_SWITCHES_ENV} must be a JSON list of [at_s, {{header: value}}]", file=sys.stderr)
        return 2
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep:
            print(f"load worker: --header wants 'name: value', not {h!r}", file=sys.stderr)
            return 2
        headers[name.strip().lower()] = value.strip()
    status = StatusPipe(args.status_fd)
    cfg = DriveConfig(spec=spec, url=args.url, duration_s=args.duration, seed=args.seed,
                      records_path=Path(args.out), run_id=args.run_id, headers=headers, drain_s=args.drain,
                      control_url=args.control_url,
                      control_records_path=Path(args.control_out) if args.control_out else None,
                      header_switches=switches)
    if args.workers > 0:
        return _master(args, cfg, status)
    try:
        driver = Driver(cfg, on_status=status)
    except ValueError as exc:
        print(f"load worker: {exc}", file=sys.stderr)
        return 2
    return _finish(args, status, _guarded(driver, args.duration + driver.drain_s + 60.0))


class _Runnable(Protocol):
    def run(self) -> dict[str, Any]: ...
    def abort(self, reason: str) -> None: ...
    def finish_early(self) -> None: ...


def _guarded(runner: _Runnable, guard_s: float) -> dict[str, Any]:
    """`runner.run()` under the generator's guards: SIGTERM/SIGINT abort it ("parent_gone" once the parent is gone),
    FINISH_SIGNAL (the parent's `LoadRun.finish`) stops and drains it, a watchdog notices the parent's death, and
    whatever happens the process ends `guard_s` after it began."""
    import gevent

    parent = os.getppid()

    def watch_parent() -> None:
        while True:
            gevent.sleep(0.2)
            if os.getppid() != parent:
                runner.abort("parent_gone")
                return

    def on_signal() -> None:  # SIGTERM also arrives when the parent dies (PR_SET_PDEATHSIG, the reaper)
        runner.abort("parent_gone" if os.getppid() != parent else "cancelled")

    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, on_signal)
    gevent.signal_handler(FINISH_SIGNAL, runner.finish_early)
    watchdog = gevent.spawn(watch_parent)
    guard = gevent.spawn_later(guard_s, os._exit, 3)
    try:
        return runner.run()
    finally:
        watchdog.kill()
        guard.kill()


def _finish(args: argparse.Namespace, status: StatusPipe, summary: dict[str, Any]) -> int:
    Path(args.summary).write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    status.final({"type": "final", "summary_path": args.summary, "failure": summary.get("failure")})
    return 1 if summary.get("failure") else 0


def _master(args: argparse.Namespace, cfg: Any, status: StatusPipe) -> int:
    """The master of a distributed run (`master.Master`): the same signals and guards as a single generator."""

    from .distribution import parse_address
    from .master import Master

    try:
        bind = parse_address(args.master_bind)
        master = Master(cfg, args.workers, bind, status, join_timeout_s=args.join_timeout,
                        control_records_path=cfg.control_records_path if cfg.control_url else None)
    except (ValueError, SystemExit) as exc:  # Locust exits when the port is taken
        print(f"load worker: cannot be the master at {args.master_bind}: {exc}", file=sys.stderr)
        return 2
    return _finish(args, status, _guarded(master, args.join_timeout + args.duration + master.drain_s + 60.0))


def node_main(argv: list[str] | None = None) -> int:
    """A worker of a distributed run: `--master HOST:PORT` (what `gatedrill worker` runs, with gevent patched)."""
    from gevent import monkey

    if not monkey.is_module_patched("socket"):
        monkey.patch_all()
    from .distribution import parse_address
    from .node import Node, install_signals

    p = argparse.ArgumentParser(prog="gatedrill worker", description="join a distributed load run")
    p.add_argument("--master", required=True, help="the master's HOST:PORT")
    p.add_argument("--join-timeout", type=float, default=300.0, help="seconds to wait for a run")
    p.add_argument("--local", action="store_true", help="stop when the parent process goes away")
    args = p.parse_args(argv)
    try:
        host, port = parse_address(args.master)
    except ValueError as exc:
        print(f"gatedrill worker: --master: {exc}", file=sys.stderr)
        return 2
    parent = os.getppid() if args.local else None
    try:
        node = Node((host, port), join_timeout_s=args.join_timeout)
    except ConnectionError:
        print(f"gatedrill worker: no master answered at {args.master}", file=sys.stderr)
        return 1
    install_signals(node)
    return node.run(parent)


if __name__ == "__main__":
    raise SystemExit(main())
