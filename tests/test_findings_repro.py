"""Each published finding's reproduction (`gatedrill repro ID`) shows its behaviour: run.sh is run as a vendor would
run it, against the real gateway and one fake on 127.0.0.1, and its curl output must match the finding's
expectations (and each variant's: Portkey with the repository's async-retry patch, LiteLLM with prisma importable).
Both processes must be gone when it ends, and when it is interrupted. The reload findings' run.sh reloads nginx or
LiteLLM gracefully during its curl line."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from ctrl_c import sigint_default
from needs import need

from gatedrill.harness.findings import published, write_repro
from gatedrill.harness.gateways.base import free_port

FINDINGS = published()
RUN_TIMEOUT_S = 150.0
PROXY_DEPS = ("fastapi", "uvicorn", "websockets", "apscheduler", "backoff", "orjson")
PRISMA_SITE = os.environ.get("GATEDRILL_PRISMA_SITE", "")


def _bin() -> str:
    return str(Path(sys.executable).parent)


def _available(gateway: str) -> tuple[bool, str]:
    if gateway == "nginx":
        from gatedrill.harness.gateways.nginx import JS_MODULE_PATHS

        ok = (shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")) is not None
        return (ok and any(os.path.exists(m) for m in JS_MODULE_PATHS),
                "nginx and its njs module are not installed (apt-get install -y nginx libnginx-mod-http-js)")
    if gateway == "litellm":
        import importlib.util

        ok = shutil.which("litellm", path=_bin()) is not None and all(importlib.util.find_spec(m) for m in PROXY_DEPS)
        return ok, "the LiteLLM proxy is not installed (pip install 'gatedrill[litellm]')"
    if gateway == "haproxy":
        return (shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")) is not None, \
            "haproxy is not installed (apt-get install -y haproxy)"
    return (shutil.which("node") is not None and shutil.which("npm") is not None,
            "the Portkey gateway needs node and npm (apt-get install nodejs npm)")


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """run.sh's environment: this checkout's gatedrill and the venv's programs first, fresh ports, the Portkey
    install the adapter uses."""
    from gatedrill.harness.gateways.portkey import ensure_installed
    from gatedrill.harness.scenario import PortkeyOptions

    env = dict(os.environ, PATH=f"{_bin()}:{os.environ.get('PATH', '')}", FAKE_PORT=str(free_port()),
               GATEWAY_PORT=str(free_port()))
    if shutil.which("node"):
        env["PORTKEY_DIR"] = str(ensure_installed(PortkeyOptions()))
    return env | (extra or {})


def _closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _check(out: str, expect: list[str], absent: list[str], what: str) -> None:
    for pattern in expect:
        assert re.search(pattern, out), f"{what}: no match for {pattern!r} in:\n{out[-2500:]}"
    for pattern in absent:
        assert not re.search(pattern, out), f"{what}: {pattern!r} should not appear in:\n{out[-2500:]}"


def _run(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["bash", str(folder / "run.sh")], env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)
    for port in (env["FAKE_PORT"], env["GATEWAY_PORT"]):
        assert _closed(int(port)), f"something still listens on {port} after run.sh ended"
    return done


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f.id)
def test_the_reproduction_shows_the_behaviour(tmp_path: Path, finding: Any) -> None:
    need(*_available(finding.gateway))
    write_repro(finding, tmp_path / "repro")
    done = _run(tmp_path / "repro", _env())
    assert done.returncode == 0, f"run.sh exited {done.returncode}:\n{done.stderr[-2500:]}"
    _check(done.stdout, finding.repro.expect, finding.repro.expect_absent, finding.id)


@pytest.mark.parametrize(("finding", "variant"), [(f, v) for f in FINDINGS for v in f.repro.variants],
                         ids=lambda x: getattr(x, "name", None) or x.id)
def test_each_variant_shows_the_other_build(tmp_path: Path, finding: Any, variant: Any) -> None:
    need(*_available(finding.gateway))
    env = dict(variant.env)
    if "PRISMA_SITE" in env:
        need(bool(PRISMA_SITE), "GATEDRILL_PRISMA_SITE names no folder with prisma in it (dev/test installs one)")
        env["PRISMA_SITE"] = PRISMA_SITE
    write_repro(finding, tmp_path / "repro")
    done = _run(tmp_path / "repro", _env(env))
    assert done.returncode == 0, f"run.sh exited {done.returncode}:\n{done.stderr[-2500:]}"
    _check(done.stdout, variant.expect, variant.expect_absent, f"{finding.id} ({variant.name})")


def _kill_started_in(folder: Path) -> None:
    """Kill the process group of every process whose working directory is in `folder` (run.sh's fake and gateway)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
            if cwd == folder or folder in cwd.parents:
                os.killpg(os.getpgid(int(entry.name)), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def test_an_interrupted_reproduction_stops_the_fake_and_the_gateway(tmp_path: Path) -> None:
    finding = next(f for f in FINDINGS if f.id == "portkey-no-cooldown")
    need(*_available(finding.gateway))
    write_repro(finding, tmp_path / "repro")
    env = {**_env(), "REPRO_KEEP": "1"}  # it stays up after its curl, so the interrupt cannot race its normal end
    gateway_port = int(env["GATEWAY_PORT"])
    # a shell started with SIGINT ignored can never trap it (ctrl_c.py)
    proc = subprocess.Popen(["bash", str(tmp_path / "repro" / "run.sh")], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=sigint_default)
    try:
        deadline = time.monotonic() + 90
        while _closed(gateway_port) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert not _closed(gateway_port), "the gateway never listened"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
        deadline = time.monotonic() + 10
        while not (_closed(gateway_port) and _closed(int(env["FAKE_PORT"]))) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _closed(gateway_port) and _closed(int(env["FAKE_PORT"])), "a process outlived Ctrl-C"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _kill_started_in(tmp_path / "repro")  # a SIGKILLed run.sh runs no trap: its setsid children would outlive it
