"""What every gateway adapter provides: the intents it cannot express (`Limitation`), and a started gateway
(`RunningGateway`) that the runner drives load through. Plus the start-up helpers adapters share."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import httpx

from gatedrill.fakes.errors import ConfigError

from ..processes import InfrastructureError
from ..record.meta import Limitation

if TYPE_CHECKING:
    from ..intent import UpstreamEndpoint
    from ..processes import Processes
    from ..scenario import Scenario
    from ..timeline import WeightChanger

DEFAULT_API_KEY = "sk-gatedrill-load"  # what the load sends as Bearer when the gateway wants no key of its own


@dataclass
class RunningGateway:
    """A gateway ready for traffic. `headers` go with every client request and are never written to the record."""

    url: str  # base URL clients use (no /v1)
    control: str | None = None  # runtime control (the reference gateway's set_weights), else None
    proc: subprocess.Popen[bytes] | None = None  # the child process, if we started one (watched for liveness)
    log: str | None = None  # its log file name under RUN/logs/
    headers: dict[str, str] = field(default_factory=dict)
    api_key: str | None = DEFAULT_API_KEY  # the key the load generator sends as Bearer
    # response headers that carry the gateway's own claims (kept in clients.jsonl), by meaning: "upstream",
    # "retries", "fallbacks", "overhead_ms"; written to meta.json so reports can read them next to the journals
    claims: dict[str, str] = field(default_factory=dict)
    # lines to show the user before traffic starts (a hand-configured gateway is told what to match)
    briefing: list[str] = field(default_factory=list)
    weights: WeightChanger | None = None  # how a timeline set_weights reaches it (None: it cannot change them)
    # (at_s, headers) for a gateway that takes its routing per request: from at_s (by intended send time) requests
    # carry these headers instead; one per set_weights, in time order (they may hold keys: never written out)
    header_switches: list[tuple[float, dict[str, str]]] = field(default_factory=list)

    def client_headers(self) -> dict[str, str]:
        """Every header a client request carries: the Bearer key and the gateway's own headers."""
        out = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return out | {k.lower(): v for k, v in self.headers.items()}


class GatewayAdapter(Protocol):
    """Turns a scenario's routing intent into one gateway's configuration and starts it in front of the fakes."""

    name: str

    def limitations(self, scenario: Scenario) -> list[Limitation]: ...

    def start(self, procs: Processes, scenario: Scenario, endpoints: list[UpstreamEndpoint],
              workdir: Path) -> RunningGateway: ...


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now on `host` (the child binds it a moment later; a clash shows as a start failure)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float, what: str, log: Path,
               headers: dict[str, str] | None = None) -> None:
    """Poll `url` until it answers 2xx; fail clearly (with the log's last line) if the child exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise InfrastructureError(f"{what} exited during start-up (exit code {code}){log_hint(log)}")
        try:
            r = httpx.get(url, timeout=2.0, headers=headers)
            if 200 <= r.status_code < 300:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.25)
    raise InfrastructureError(f"{what} did not become ready within {timeout_s:g} s ({url}: {last}){log_hint(log)}")


def log_hint(log: Path) -> str:
    """`; see LOG: its last line`, so a one-line error says where to look and what the child said last."""
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        lines = []
    return f"; see {log}" + (f": {lines[-1].strip()[:300]}" if lines else "")


def start_error(exc: InfrastructureError, proc: subprocess.Popen[bytes], log: Path) -> Exception:
    """A child that failed to start, with its last words; exit code 2 from a child means its configuration (from
    the scenario: a port in use, say) was wrong, which is the user's to fix (ConfigError), not infrastructure."""
    msg = f"{exc}{log_hint(log)}"
    return ConfigError(msg) if proc.poll() == 2 else InfrastructureError(msg)
