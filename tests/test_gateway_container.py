"""The container gateway adapter: a gateway image (here a locally built nginx image, no registry) started with
testcontainers on host networking in front of the fakes; a short drill through it, and no container left behind
after a run, a failed start, or a stop through the harness's process handling."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from needs import need

from gatedrill.fakes import FakeServer
from gatedrill.fakes.errors import ConfigError
from gatedrill.harness.checks import gate, judge
from gatedrill.harness.gateways import get_adapter, limitations
from gatedrill.harness.gateways.container import LABEL
from gatedrill.harness.gateways.docker_engine import Engine, EngineUnavailable, ensure_engine, import_nginx_image
from gatedrill.harness.intent import UpstreamEndpoint
from gatedrill.harness.processes import InfrastructureError, Processes
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, run
from gatedrill.harness.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The Docker engine (a dockerd started here if none answers, stopped afterwards) and the local nginx image."""
    try:
        eng = ensure_engine(tmp_path_factory.mktemp("dockerd") / "dockerd.log")
    except EngineUnavailable as exc:
        need(False, f"no Docker engine: {exc}")
    try:
        import_nginx_image(eng.client)
    except EngineUnavailable as exc:
        eng.stop()
        need(False, f"cannot build the local nginx image: {exc}")
    yield eng
    eng.stop()


def ours(engine: Engine, run_dir: Path) -> list[Any]:
    """Containers (running or not) this run started."""
    return engine.client.containers.list(all=True, filters={"label": f"{LABEL}={run_dir.resolve()}"})


def scenario(container: dict[str, Any], **extra: Any) -> Scenario:
    model = {"latency": {"ttft_ms": 10, "itl_ms": 1}}
    data = {
        "name": "container-test", "seed": 4, "duration_s": 6,
        "upstreams": {"primary": {"provider": "openai", "models": [{"id": "gpt-4o-mini"}], **model},
                      "backup": {"provider": "openai", "models": [{"id": "gpt-4.1"}], **model}},
        "gateway": {"kind": "container", "container": container, "routing": {
            "targets": [{"upstream": "primary", "model": "gpt-4o-mini"}], "fallbacks": ["backup"],
            "retry": {"attempts": 1}, "cooldown": {"failures": 2, "window_s": 2, "cooldown_s": 2}, "timeout_s": 2}},
        "load": {"arrivals": {"profile": "poisson", "rate": 20}, "mix": {"stream_share": 0.3}}} | extra
    return Scenario.model_validate(data)


NGINX_IMAGE = {"image": "gatedrill/nginx-local:1", "config": "nginx"}


def test_a_short_drill_runs_through_a_gateway_image_and_leaves_no_container(engine: Engine, tmp_path: Path) -> None:
    sc = scenario(NGINX_IMAGE, checks={"rollback": {"upstream": "primary", "max_detection_s": 1.5},
                                       "accounting": {}, "error_mapping": {}}, timeline=[
        {"at_s": 1.5, "action": "set_faults", "upstream": "primary",
         "faults": [{"fault": {"kind": "http_error", "status": 500}}]},
        {"at_s": 4.5, "action": "clear_faults", "upstream": "primary"}])
    out = run(sc, RunOptions(gateway="container", out=tmp_path / "run")).path
    rec = RunRecord.load(out)
    assert all(c.status == 200 for c in rec.clients)
    backup = [e for e in rec.journals["backup"] if e.status == 200]
    assert len(backup) >= 10 and {e.model for e in backup} == {"gpt-4.1"}  # the njs rewrite, inside the image
    verdicts = judge(rec)
    assert gate(verdicts), [v.summary for v in verdicts]
    assert "no live upstreams" in (out / "logs" / "container.log").read_text()  # the container's log, streamed
    assert ours(engine, out / "logs") == []


def test_stopping_the_processes_removes_the_container(engine: Engine, tmp_path: Path) -> None:
    sc = scenario(NGINX_IMAGE)
    with FakeServer(provider="openai", name="primary", models=[{"id": "gpt-4o-mini"}]) as primary, \
            FakeServer(provider="openai", name="backup", models=[{"id": "gpt-4.1"}]) as backup:
        eps = [UpstreamEndpoint(name=f.name, provider="openai", base_url=f.url) for f in (primary, backup)]
        with Processes(tmp_path) as procs:
            gw = get_adapter("container").start(procs, sc, eps, tmp_path)
            assert len(ours(engine, tmp_path)) == 1
            import httpx

            r = httpx.post(f"{gw.url}/v1/chat/completions", headers=gw.client_headers(), timeout=10,
                           json={"model": "drill", "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200 and primary.journal.records()[0]["model"] == "gpt-4o-mini"
        deadline = time.monotonic() + 10
        while ours(engine, tmp_path) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert ours(engine, tmp_path) == []


def test_a_container_that_exits_at_start_fails_clearly_and_is_removed(engine: Engine, tmp_path: Path) -> None:
    sc = scenario({"image": "gatedrill/nginx-local:1", "command": ["/usr/sbin/nginx", "-c", "/missing.conf"],
                   "start_timeout_s": 10})
    with pytest.raises(InfrastructureError, match=r"exited during start-up.*missing.conf"), Processes(tmp_path) as p:
        get_adapter("container").start(p, sc, [], tmp_path)
    assert ours(engine, tmp_path) == []


def test_an_image_missing_locally_is_a_config_error_naming_the_fix(engine: Engine, tmp_path: Path) -> None:
    sc = scenario({"image": "gatedrill/not-built:0"})
    with pytest.raises(ConfigError, match="not present locally"), Processes(tmp_path) as p:
        get_adapter("container").start(p, sc, [], tmp_path)


def test_limitations_come_from_the_config_generator_or_say_the_image_brings_its_own() -> None:
    assert {x.feature for x in limitations(scenario(NGINX_IMAGE))} >= {"honor_retry_after", "timeout_per_attempt"}
    (own,) = limitations(scenario({"image": "kong:3"}))
    assert own.feature == "routing" and "kong:3" in own.reason and own.checks == []
    bare = scenario(NGINX_IMAGE).model_dump(mode="json")
    bare["gateway"]["container"] = None
    with pytest.raises(ConfigError, match=r"gateway\.container"):
        limitations(Scenario.model_validate(bare))


CHILD = """
import sys, pathlib
from gatedrill.harness.gateways import get_adapter
from gatedrill.harness.intent import UpstreamEndpoint
from gatedrill.harness.processes import Processes
from gatedrill.harness.scenario import Scenario
sc = Scenario.model_validate_json(pathlib.Path(sys.argv[1]).read_text())
eps = [UpstreamEndpoint(name=n, provider="openai", base_url="http://127.0.0.1:9") for n in sc.upstreams]
procs = Processes(pathlib.Path(sys.argv[2]))
get_adapter("container").start(procs, sc, eps, pathlib.Path(sys.argv[2]))
print("ready", flush=True)
sys.stdin.read()
"""


def test_a_harness_killed_outright_still_leaves_no_container(engine: Engine, tmp_path: Path) -> None:
    import subprocess
    import sys

    spec = tmp_path / "scenario.json"
    spec.write_text(scenario(NGINX_IMAGE | {"ready_path": "/healthz"}).model_dump_json())
    harness = subprocess.Popen([sys.executable, "-c", CHILD, str(spec), str(tmp_path)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent)
    try:
        assert harness.stdout is not None and harness.stdout.readline().strip() == b"ready"
        assert len(ours(engine, tmp_path)) == 1
    finally:
        harness.kill()  # SIGKILL: no finally block, no atexit in the harness runs
        harness.wait()
    deadline = time.monotonic() + 10
    while ours(engine, tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ours(engine, tmp_path) == []  # the follower saw its parent go and removed the container


def test_the_reference_gateway_runs_in_a_container_from_its_generated_config(engine: Engine, tmp_path: Path) -> None:
    """config: reference mounts gateway.json; the image here borrows this host's Python and the project read-only."""
    import sys

    import httpx

    sc = scenario({"image": "gatedrill/nginx-local:1", "config": "reference", "env": {"PYTHONPATH": str(ROOT)},
                   "command": [sys.executable, "-m", "gatedrill.harness.reference", "{config_file}"],
                   "volumes": {sys.prefix: sys.prefix, sys.base_prefix: sys.base_prefix, str(ROOT): str(ROOT),
                               "/usr/lib/x86_64-linux-gnu": "/lib/x86_64-linux-gnu"}})
    assert limitations(sc) == []
    with FakeServer(provider="openai", name="primary", models=[{"id": "gpt-4o-mini"}]) as primary, \
            FakeServer(provider="openai", name="backup", models=[{"id": "gpt-4.1"}]) as backup, \
            Processes(tmp_path) as procs:
        primary.set_faults([{"fault": {"kind": "http_error", "status": 500}}])
        eps = [UpstreamEndpoint(name=f.name, provider="openai", base_url=f.url, context_windows={m: 128000})
               for f, m in ((primary, "gpt-4o-mini"), (backup, "gpt-4.1"))]
        gw = get_adapter("container").start(procs, sc, eps, tmp_path)
        r = httpx.post(f"{gw.url}/v1/chat/completions", headers=gw.client_headers(), timeout=10,
                       json={"model": "drill", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
        assert [e["status"] for e in primary.journal.records()] == [500]
        assert [e["model"] for e in backup.journal.records()] == ["gpt-4.1"]
    assert "reference\thttp://127.0.0.1:" in (tmp_path / "container.log").read_text()


def test_weights_change_in_a_container_by_its_reload_command_without_a_failed_request(engine: Engine,
                                                                                       tmp_path: Path) -> None:
    """config: nginx with a reload_command: a set_weights rewrites the mounted nginx.conf and runs `nginx -s reload`
    inside the container (docker exec); 90/10 becomes 10/90 at 3 s with no request lost."""
    from gateway_drills import canary_share, weights_drill

    data = weights_drill("container", [(3.0, {"stable": 10, "canary": 90})], rate=20.0,
                         duration_s=6.0).model_dump(mode="json")
    data["gateway"]["container"] = NGINX_IMAGE | {"reload_command": [
        "nginx", "-s", "reload", "-p", "{config_dir}", "-c", "{config_file}"]}
    sc = Scenario.model_validate(data)
    assert not any(lim.feature == "set_weights" for lim in limitations(sc))
    out = run(sc, RunOptions(gateway="container", out=tmp_path / "run")).path
    rec = RunRecord.load(out)
    failed = [(c.correlation_id, c.error_class) for c in rec.load_clients() if c.error_class is not None]
    assert failed == [], failed[:5]
    (e,) = [e for e in rec.timeline if e.action == "set_weights"]
    assert e.ok and e.mechanism == "nginx reload (reload_command in the container)", e.detail
    assert e.effective_s is not None and e.sent_s is not None and e.effective_s <= e.sent_s + 1.5, e.effective
    assert canary_share(rec, 0, 2.8)[0] < 0.25 and canary_share(rec, 3.5, 6)[0] > 0.75
    assert ours(engine, out / "logs") == []


def test_the_follower_removes_its_container_even_when_stop_signals_come_in_a_burst(engine: Engine,
                                                                                    tmp_path: Path) -> None:
    """A harness killed outright sends its follower SIGTERM up to three times within moments (the parent-death
    signal, the reaper, the follower's own parent watch); a second one must not cut the removal short."""
    import os
    import signal

    sc = scenario(NGINX_IMAGE | {"ready_path": "/healthz"})
    eps = [UpstreamEndpoint(name=n, provider="openai", base_url="http://127.0.0.1:9") for n in sc.upstreams]
    with Processes(tmp_path) as procs:
        gw = get_adapter("container").start(procs, sc, eps, tmp_path)
        assert len(ours(engine, tmp_path)) == 1
        for _ in range(3):
            os.kill(gw.proc.pid, signal.SIGTERM)
            time.sleep(0.05)
        gw.proc.wait(30)
    assert ours(engine, tmp_path) == []
