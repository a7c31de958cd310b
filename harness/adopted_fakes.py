"""Upstreams served by standalone fakes the run adopts instead of starting (`gatedrill run --adopt-fake NAME=URL`):
a fakes Deployment in a cluster, say, that the gateway under test is already configured to reach.

The run owns an adopted fake for its length, through the control API alone: it checks that the fake speaks the
upstream's provider, patches it to the upstream's settings (seed, models, latency, faults; what a running fake
cannot change, such as its port or journal storage, stays), resets its journal and state, and follows the journal
with a cursor while the load runs, writing each entry into the run record as the fake would have. So the record
has the shape of a run whose fakes it started, with two differences it states: meta's `adopted_fakes`, and times
mapped onto the runner's clocks (the fake may run on another host, where the monotonic clock is another one).

Nothing is lost silently: the entries written are counted against the fake's own count of finished requests, and
a fake whose in-memory journal evicted entries before they were read fails the run (exit 3) with that figure. One
run at a time per fake: a second run adopting the same fake would reset it under the first.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from gatedrill.fakes import FIXED_AT_START, FakeConfig
from gatedrill.fakes.control import CONTROL_TOKEN_HEADER
from gatedrill.fakes.errors import ConfigError

from .processes import InfrastructureError
from .record import AdoptedFakeMeta

API = "/_gatedrill"
POLL_S = 0.2  # how often the journal is read: at 10,000 entries a page, far above any fake's rate
PAGE = 10_000
SILENT_S = 5.0  # a fake that has not answered for this long is gone
DRAIN_S = 15.0  # after the load, how long requests still open on the fake may take to end
CLOCK_READINGS = 5


def parse_adoptions(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`--adopt-fake NAME=URL` flags as upstream name -> URL (each name once)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, url = item.partition("=")
        name, url = name.strip(), url.strip().rstrip("/")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise ConfigError(f"--adopt-fake {item!r}: use NAME=http://HOST:PORT, NAME being one of the scenario's "
                              "upstreams")
        if name in out:
            raise ConfigError(f"--adopt-fake names upstream {name!r} twice")
        out[name] = url
    return out


def check_adoptions(adopt: dict[str, str], upstreams: list[str]) -> None:
    """Every adopted name is one of the scenario's upstreams."""
    for name in adopt:
        if name not in upstreams:
            raise ConfigError(f"--adopt-fake {name}=...: the scenario has no upstream {name!r} "
                              f"(it has {', '.join(upstreams)})")


@dataclass(frozen=True)
class ClockMap:
    """Offsets that put another process's clocks on ours, and their uncertainty (half the round trip)."""

    mono_offset_s: float
    wall_offset_s: float
    error_s: float


def clock_offset(sent: float, received: float, theirs: float) -> float:
    """The offset to add to a reading `theirs`, taken between our `sent` and `received`: 0 when the reading falls
    inside that bracket (the same clock, or one that agrees within the round trip), else the bracket's midpoint."""
    if sent <= theirs <= received:
        return 0.0
    return (sent + received) / 2 - theirs


@dataclass
class AdoptedFake:
    """One adopted fake: set up for the run, its journal followed into `journal_path`."""

    upstream: str
    url: str
    config: FakeConfig  # the upstream's settings, as the run would have started the fake with
    journal_path: Path
    token: str | None = None
    poll_s: float = POLL_S
    silent_s: float = SILENT_S
    clock: ClockMap = field(default_factory=lambda: ClockMap(0.0, 0.0, 0.0))
    written: int = 0
    _owned: bool = False  # set up for this run: released (faults cleared) at its end
    _cursor: str = "0"
    _last_answer: float = field(default_factory=time.monotonic)
    _error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        headers = {CONTROL_TOKEN_HEADER: self.token} if self.token else {}
        self._http = httpx.Client(base_url=self.url + API, headers=headers, timeout=10.0)

    # -- set-up -------------------------------------------------------------------------------------------------

    def take_over(self) -> None:
        """Check, patch and reset the fake for this run. Raises ConfigError (the user's to fix) before changing
        anything when the fake cannot serve this upstream."""
        health = self._call("GET", "health")
        if health.get("provider") != self.config.provider:
            raise ConfigError(f"--adopt-fake {self.upstream}={self.url}: that fake speaks {health.get('provider')!r}; "
                              f"the scenario's upstream {self.upstream!r} is {self.config.provider!r}")
        current = self._call("GET", "config")  # also proves the token, before anything changes
        wanted = self.config.model_dump(mode="json")
        patch = {k: v for k, v in wanted.items() if k not in FIXED_AT_START and current.get(k) != v}
        self._owned = True
        if patch:
            self._call("PATCH", "config", patch)
        self._call("POST", "reset")
        self.clock = self._read_clock()
        self._journal_file = self.journal_path.open("wb")
        self._thread = threading.Thread(target=self._follow, name=f"journal-{self.upstream}", daemon=True)
        self._thread.start()

    def meta(self) -> AdoptedFakeMeta:
        return AdoptedFakeMeta(url=self.url, mono_offset_s=self.clock.mono_offset_s,
                               wall_offset_s=self.clock.wall_offset_s, clock_error_s=self.clock.error_s)

    def _read_clock(self) -> ClockMap:
        """The fake's clocks against ours, from the quickest of a few health calls (the tightest bracket)."""
        best: tuple[float, float, float] | None = None
        for _ in range(CLOCK_READINGS):
            sent_mono, sent_wall = time.monotonic(), time.time()
            theirs = self._call("GET", "health")["clock"]
            received_mono, received_wall = time.monotonic(), time.time()
            rtt = received_mono - sent_mono
            if best is None or rtt < best[0]:
                best = (rtt, clock_offset(sent_mono, received_mono, float(theirs["mono"])),
                        clock_offset(sent_wall, received_wall, float(theirs["wall"])))
        assert best is not None
        return ClockMap(mono_offset_s=best[1], wall_offset_s=best[2], error_s=best[0] / 2)

    # -- during the run -----------------------------------------------------------------------------------------

    def check_alive(self) -> None:
        """Raise InfrastructureError when the fake has not answered the journal's reader for `silent_s`."""
        with self._lock:
            silent = time.monotonic() - self._last_answer
            error = self._error
        if silent > self.silent_s:
            raise InfrastructureError(f"the adopted fake {self.upstream} at {self.url} has not answered for "
                                      f"{silent:.0f} s ({error or 'no answer'})")

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._read_pages()

    def _read_pages(self) -> dict[str, Any]:
        """Read every page there is now; return the last page's journal counts ({} when the fake did not answer)."""
        while True:
            try:
                page = self._call("GET", "journal", params={"cursor": self._cursor, "limit": PAGE})
            except (InfrastructureError, ConfigError) as exc:
                with self._lock:
                    self._error = str(exc)
                return {}
            entries = page.get("entries", [])
            self._write(entries)
            with self._lock:
                self._cursor = str(page["next_cursor"])
                self._last_answer = time.monotonic()
                self._error = None
            if len(entries) < PAGE:
                return page

    def _write(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        mono, wall = self.clock.mono_offset_s, self.clock.wall_offset_s
        lines = []
        for e in entries:
            e["fake"] = self.upstream  # the record names the upstream, whatever the fake calls itself
            for key, value in e.items():
                if isinstance(value, float) and mono and key.endswith("_mono"):
                    e[key] = value + mono
                elif isinstance(value, float) and wall and key.endswith("_wall"):
                    e[key] = value + wall
            lines.append(orjson.dumps(e, default=str))
        self._journal_file.write(b"\n".join(lines) + b"\n")
        self._journal_file.flush()
        self.written += len(entries)

    # -- after the load -----------------------------------------------------------------------------------------

    def finish(self, drain_s: float = DRAIN_S) -> None:
        """Stop following once every request the fake holds has ended and been read; raise InfrastructureError
        if entries were lost (evicted before they were read) or requests stayed open past `drain_s`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        deadline = time.monotonic() + drain_s
        while True:
            page = self._read_pages()
            if page and page.get("open", 0) == 0:
                break
            if time.monotonic() > deadline:
                self._close_file()
                if not page:
                    raise InfrastructureError(f"the adopted fake {self.upstream} at {self.url} did not answer after "
                                              f"the load ({self._error}); its journal in the record is incomplete")
                raise InfrastructureError(f"{page['open']} request(s) stayed open on the adopted fake "
                                          f"{self.upstream} at {self.url} for {drain_s:g} s after the load; their "
                                          "journal entries would be missing")
            time.sleep(self.poll_s)
        self._close_file()
        lost = int(page.get("finished", 0)) - self.written
        if lost > 0:
            raise InfrastructureError(f"the adopted fake {self.upstream} at {self.url} evicted {lost} journal "
                                      "entries before the run read them; raise its journal.max_entries (or "
                                      "max_bytes) and run again")

    def release(self) -> None:
        """Leave the fake without the run's faults (best effort: it may be gone) and stop following it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._close_file()
        if self._owned:
            with contextlib.suppress(InfrastructureError, ConfigError):
                self._call("DELETE", "faults")
        self._http.close()

    def _close_file(self) -> None:
        f = getattr(self, "_journal_file", None)
        if f is not None and not f.closed:
            f.close()

    # -- the control API ----------------------------------------------------------------------------------------

    def _call(self, method: str, what: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One control call. A refusal (4xx) is the user's to fix: ConfigError; no answer or a 5xx:
        InfrastructureError."""
        try:
            r = self._http.request(method, f"/{what}", json=body, params=params)
        except httpx.HTTPError as exc:
            raise InfrastructureError(f"the adopted fake {self.upstream} at {self.url} did not answer "
                                      f"{method} {API}/{what}: {type(exc).__name__}: {exc}") from None
        if r.status_code == 401:
            raise ConfigError(f"the adopted fake {self.upstream} at {self.url} refused the control token: set "
                              "GATEDRILL_CONTROL_TOKEN to the token it was started with")
        if r.status_code >= 400:
            try:
                reason = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                reason = r.text[:200]
            error = ConfigError if r.status_code < 500 else InfrastructureError
            raise error(f"the adopted fake {self.upstream} at {self.url} answered {method} {API}/{what} with "
                        f"{r.status_code}: {reason}")
        try:
            return r.json()
        except ValueError:
            raise InfrastructureError(f"the adopted fake {self.upstream} at {self.url} answered {method} "
                                      f"{API}/{what} with no JSON: is that URL a gatedrill fake?") from None
