"""The HAProxy gateway adapter: the generated haproxy.cfg (accepted by `haproxy -c`: weights, retries, passive
health, backup servers, sticky hashing, the Lua body rewrite), the limitations it reports, and real HAProxy in front
of real fakes: routing by weight, failover on upstream 5xx, a server marked down by what HAProxy observes (and not
while retries cover it), weights changed through the runtime API under load, and the process stopped with the run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_drills import proxy_scenario
from needs import requires

from gatedrill.fakes import FakeServer
from gatedrill.fakes.errors import ConfigError
from gatedrill.harness.checks import gate, judge
from gatedrill.harness.gateways import get_adapter, limitations
from gatedrill.harness.gateways.haproxy import installed_version, runtime_command, write_config
from gatedrill.harness.gateways.haproxy_conf import plan, render, reweighted, server_weights
from gatedrill.harness.intent import UpstreamEndpoint
from gatedrill.harness.processes import Processes
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, resolve_scenario, run
from gatedrill.harness.scenario import Scenario

HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
needs_haproxy = requires(HAPROXY is not None, "haproxy is not installed (apt-get install -y haproxy)")
MODELS = [{"id": "gpt-4o-mini"}]
BODY = {"model": "drill", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}


def scenario(routing: dict[str, Any], upstreams: dict[str, Any] | None = None, **extra: Any) -> Scenario:
    return proxy_scenario("haproxy", routing, upstreams, **extra)


CANARY = {"targets": [{"upstream": "stable", "model": "gpt-4o-mini", "weight": 80},
                      {"upstream": "canary", "model": "gpt-4o-mini", "weight": 20}],
          "fallbacks": ["backup"], "retry": {"attempts": 1}, "timeout_s": 2,
          "cooldown": {"failures": 2, "window_s": 2, "cooldown_s": 2}}


def cfg_for(sc: Scenario, tmp_path: Path) -> tuple[str, Path]:
    urls = {name: f"http://127.0.0.1:{18200 + i}" for i, name in enumerate(sc.upstreams)}
    text = render(plan(sc), urls, "127.0.0.1:18199", "ipv4@127.0.0.1:18198", str(tmp_path / "gatedrill.lua"))
    return text, write_config(tmp_path, text)


def haproxy_accepts(cfg: Path) -> None:
    assert HAPROXY is not None
    r = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stdout + r.stderr


def start(procs: Processes, sc: Scenario, fakes: list[FakeServer], tmp_path: Path) -> Any:
    eps = [UpstreamEndpoint(name=f.name, provider="openai", base_url=f.url) for f in fakes]
    return get_adapter("haproxy").start(procs, sc, eps, tmp_path)


# -- the generated configuration -------------------------------------------------------------------------------

@needs_haproxy
def test_a_weighted_canary_with_a_fallback_becomes_a_config_haproxy_accepts(tmp_path: Path) -> None:
    text, cfg = cfg_for(scenario(CANARY), tmp_path)
    haproxy_accepts(cfg)
    health = ("check inter 1s fastinter 2000ms downinter 2000ms rise 2 fall 3 observe layer7 error-limit 2 "
              "on-error mark-down")
    assert f"server stable 127.0.0.1:18200 weight 80 {health}" in text
    assert f"server canary 127.0.0.1:18201 weight 20 {health}" in text
    assert f"server backup 127.0.0.1:18202 backup {health}" in text  # same model: a backup server
    assert "retry-on conn-failure empty-response response-timeout 408 500 502 503 504" in text  # 429, 529: no
    assert "retries 2" in text and "option redispatch 1" in text and "balance roundrobin" in text
    assert "http-request lua.gatedrill_model gpt-4o-mini" in text and "filter lua.gatedrill-body" in text
    assert "option http-buffer-request" in text and "bind 127.0.0.1:18199" in text
    assert "stats socket ipv4@127.0.0.1:18198 level admin" in text


@needs_haproxy
def test_sticky_sessions_hash_on_the_session_header(tmp_path: Path) -> None:
    text, cfg = cfg_for(scenario(CANARY | {"sticky": "session"}), tmp_path)
    haproxy_accepts(cfg)
    assert "balance hdr(x-gatedrill-session-id)" in text and "hash-type consistent" in text


def test_weights_are_whole_percentages_and_zero_stays_zero() -> None:
    p = plan(scenario(CANARY))
    assert server_weights(p.targets) == {"stable": 80, "canary": 20}
    q = reweighted(p, {"stable": 0, "canary": 3})
    assert server_weights(q.targets) == {"stable": 0, "canary": 100}
    with pytest.raises(ConfigError, match="HAProxy cannot give weight to backup: not a server of the target group"):
        reweighted(p, {"backup": 5})
    with pytest.raises(ConfigError, match="HAProxy needs at least one server with a weight above 0"):
        reweighted(p, {"stable": 0, "canary": 0})


def test_what_haproxy_cannot_express_is_reported_against_the_checks_it_affects() -> None:
    sc = scenario(CANARY | {"retry": {"attempts": 3, "retry_on": [408, 429, 500]}},
                  checks={"rollback": {"upstream": "canary"}, "retry_amplification": {}})
    lims = {lim.feature: lim for lim in plan(sc).limitations}
    assert "429" in lims["retry_on"].reason and "408" not in lims["retry_on"].reason
    assert lims["retry_on"].checks == ["retry_amplification"]
    assert lims["cooldown_on_retried_status"].checks == ["rollback"]
    assert "consecutive" in lims["cooldown_window"].reason and "100-499" in lims["cooldown_on_429"].reason
    assert "another server" in lims["retry_same_upstream"].reason
    assert "backup server" in lims["fallback_order"].reason


def test_fallbacks_and_context_fallbacks_asking_for_another_model_are_left_out() -> None:
    ups = {"small": {"provider": "openai", "models": [{"id": "gpt-4o-mini"}]},
           "large": {"provider": "openai", "models": [{"id": "gpt-4.1"}]}}
    sc = scenario({"targets": [{"upstream": "small", "model": "gpt-4o-mini"}], "fallbacks": ["large"],
                   "context_window_fallbacks": {"small": "large"}}, ups,
                  checks={"context_window": {}, "rollback": {"upstream": "small"}})
    p = plan(sc)
    assert p.backups == []
    lims = {lim.feature: lim for lim in p.limitations}
    assert lims["fallbacks_with_other_models"].checks == ["rollback"] and "large" in lims[
        "fallbacks_with_other_models"].reason
    assert lims["context_window_fallbacks"].checks == ["context_window"]


def test_anthropic_upstreams_are_left_out_and_only_anthropic_targets_are_refused() -> None:
    sc = resolve_scenario("failover-drill", RunOptions(gateway="haproxy"))
    lims = {lim.feature: lim for lim in limitations(sc)}
    assert "secondary" in lims["anthropic_upstreams"].reason
    assert set(lims["anthropic_upstreams"].checks) == {"rollback", "error_mapping"}
    with pytest.raises(ConfigError, match=r"HAProxy cannot express this routing.*use another --gateway"):
        plan(resolve_scenario("streaming-integrity", RunOptions(gateway="haproxy")))


# -- real HAProxy in front of real fakes ------------------------------------------------------------------------

@needs_haproxy
def test_requests_split_by_weight_with_the_model_rewritten_and_haproxy_stops_with_the_run(tmp_path: Path) -> None:
    sc = scenario({"targets": [{"upstream": "stable", "model": "gpt-4o-mini", "weight": 75},
                               {"upstream": "canary", "model": "gpt-4o-mini", "weight": 25}]})
    with FakeServer(provider="openai", name="stable", models=MODELS) as stable, \
            FakeServer(provider="openai", name="canary", models=MODELS) as canary, Processes(tmp_path) as procs:
        gw = start(procs, sc, [stable, canary], tmp_path)
        with httpx.Client(base_url=gw.url, headers=gw.client_headers(), timeout=10) as client:
            for i in range(40):
                body = BODY | {"messages": [{"role": "user", "content": f'say "model": "x" {i}'}], "stream": i % 4 == 0}
                r = client.post("/v1/chat/completions", json=body)
                assert r.status_code == 200, r.text
                if body["stream"]:
                    assert r.text.rstrip().endswith("data: [DONE]")
        got = stable.journal.records() + canary.journal.records()
        assert gw.proc is not None and gw.proc.poll() is None
    assert (len(stable.journal.records()), len(canary.journal.records())) == (30, 10)  # roundrobin keeps 3:1 exactly
    assert {e["model"] for e in got} == {"gpt-4o-mini"}  # the Lua action rewrote "drill"
    assert {e["body"]["messages"][0]["content"] for e in got} == {f'say "model": "x" {i}' for i in range(40)}
    assert gw.proc.poll() is not None  # stopped with the Processes
    assert (tmp_path / "haproxy" / "haproxy.cfg").exists() and (tmp_path / "haproxy" / "gatedrill.lua").exists()


@needs_haproxy
def test_an_upstream_500_is_retried_on_the_other_server_and_never_reaches_the_client(tmp_path: Path) -> None:
    sc = scenario({"targets": [{"upstream": "stable", "model": "gpt-4o-mini", "weight": 50},
                               {"upstream": "canary", "model": "gpt-4o-mini", "weight": 50}],
                   "retry": {"attempts": 1}, "cooldown": {"failures": 3, "window_s": 5, "cooldown_s": 5}})
    with FakeServer(provider="openai", name="stable", models=MODELS) as stable, \
            FakeServer(provider="openai", name="canary", models=MODELS) as canary, Processes(tmp_path) as procs:
        canary.set_faults([{"fault": {"kind": "http_error", "status": 500}}])
        gw = start(procs, sc, [stable, canary], tmp_path)
        statuses = [httpx.post(f"{gw.url}/v1/chat/completions", json=BODY, headers=gw.client_headers(),
                               timeout=10).status_code for _ in range(12)]
    assert statuses == [200] * 12
    failed = [e["status"] for e in canary.journal.records()]
    assert set(failed) == {500} and len(failed) >= 6  # at least its half (a retry moves roundrobin on), each...
    assert len(stable.journal.records()) == 12  # ...retried on stable
    # and never marked down: the retried 500s are not observed (the cooldown_on_retried_status limitation)
    assert "is DOWN" not in (tmp_path / "haproxy.log").read_text()
    assert "cooldown_on_retried_status" in {x.feature for x in plan(sc, installed_version(sc)).limitations}
    # HAProxy 3.1 counts retried statuses (commit 2a5da31cc): there the rollback check judges, not XFAILs
    assert "cooldown_on_retried_status" not in {x.feature for x in plan(sc, "3.1.0").limitations}


@needs_haproxy
def test_without_status_retries_observe_layer7_marks_a_failing_server_down_and_the_backup_serves(
        tmp_path: Path) -> None:
    sc = scenario({"targets": [{"upstream": "stable", "model": "gpt-4o-mini"}], "fallbacks": ["backup"],
                   "retry": {"attempts": 1, "retry_on": [429]},
                   "cooldown": {"failures": 3, "window_s": 5, "cooldown_s": 30}})
    with FakeServer(provider="openai", name="stable", models=MODELS) as stable, \
            FakeServer(provider="openai", name="backup", models=MODELS) as backup, Processes(tmp_path) as procs:
        stable.set_faults([{"fault": {"kind": "http_error", "status": 500}}])
        gw = start(procs, sc, [stable, backup], tmp_path)
        statuses = [httpx.post(f"{gw.url}/v1/chat/completions", json=BODY, headers=gw.client_headers(),
                               timeout=10).status_code for _ in range(8)]
    assert statuses == [500] * 3 + [200] * 5  # 3 consecutive errors (error-limit), then down: the backup serves
    assert len(stable.journal.records()) == 3 and len(backup.journal.records()) == 5
    log = (tmp_path / "haproxy.log").read_text()
    assert "Server gd_targets/stable is DOWN, reason: Health analyze" in log


@needs_haproxy
def test_weights_change_through_the_runtime_api_under_load_without_a_failed_request(tmp_path: Path) -> None:
    """40 req/s, 30% streams lasting about 0.7 s: 90/10, then 10/90 at 4 s, then 50/50 at 8 s. Every request
    succeeds; each change is applied within 0.5 s of being sent and the journals show it within 1 s."""
    from gateway_drills import canary_share, weights_drill

    sc = weights_drill("haproxy", [(4.0, {"stable": 10, "canary": 90}), (8.0, {"stable": 50, "canary": 50})],
                       rate=40.0, itl_ms=10.0)
    rec = RunRecord.load(run(sc, RunOptions(gateway="haproxy", out=tmp_path / "run")).path)
    clients = rec.load_clients()
    failed = [(c.correlation_id, c.error_class, c.error) for c in clients if c.error_class is not None]
    assert len(clients) > 350 and failed == [], failed[:5]
    streams = [c for c in clients if c.stream]
    assert streams and all(c.finished_cleanly for c in streams)
    changes = [e for e in rec.timeline if e.action == "set_weights"]
    assert [e.ok for e in changes] == [True, True], [e.detail for e in changes]
    assert [e.detail for e in changes] == ["set weight: stable=10, canary=90", "set weight: stable=50, canary=50"]
    for e in changes:
        assert e.mechanism == "HAProxy runtime API (set weight)"
        assert e.sent_s is not None and e.applied_s is not None and e.applied_s - e.sent_s < 0.5, e
        assert e.effective_s is not None, e.effective
        assert e.sent_s - 0.05 <= e.effective_s <= e.sent_s + 1.0, (e.sent_s, e.effective_s, e.effective)
    assert canary_share(rec, 0, 3.8)[0] < 0.2
    assert canary_share(rec, 4.5, 7.8)[0] > 0.8
    assert 0.35 < canary_share(rec, 8.5, 12)[0] < 0.65
    split = {v.check: v for v in judge(rec)}["canary_split"]
    periods = split.figures["periods"]
    assert len(periods) == 3 and all(r["result"] != "mismatch" for r in periods), periods
    assert [r.get("effective_wall") for r in periods[1:]] == [e.effective_wall for e in changes]


@needs_haproxy
def test_a_weight_haproxy_refuses_changes_nothing(tmp_path: Path) -> None:
    sc = scenario({"targets": [{"upstream": "stable", "model": "gpt-4o-mini", "weight": 75},
                               {"upstream": "canary", "model": "gpt-4o-mini", "weight": 25}]})
    with FakeServer(provider="openai", name="stable", models=MODELS) as stable, \
            FakeServer(provider="openai", name="canary", models=MODELS) as canary, Processes(tmp_path) as procs:
        gw = start(procs, sc, [stable, canary], tmp_path)
        assert gw.weights is not None
        refused = gw.weights.set_weights({"backup": 1}, {"stable": 75, "canary": 25, "backup": 1})
        assert refused.status == 0 and "not a server of the target group" in refused.detail
        address = gw.weights.address
        assert runtime_command(address, "get weight gd_targets/stable").startswith("75 ")
        ok = gw.weights.set_weights({"canary": 75}, {"stable": 75, "canary": 75})
        assert ok.status == 200 and runtime_command(address, "get weight gd_targets/canary").startswith("50 ")


@needs_haproxy
def test_a_short_drill_through_haproxy_fails_over_and_loses_nothing(tmp_path: Path) -> None:
    faults = [{"fault": {"kind": "http_error", "status": 500}}]
    sc = scenario(CANARY, timeline=[
        {"at_s": 2, "action": "set_faults", "upstream": "canary", "faults": faults},
        {"at_s": 4, "action": "clear_faults", "upstream": "canary"}],
        checks={"accounting": {}, "error_mapping": {}})
    out = run(sc, RunOptions(gateway="haproxy", out=tmp_path / "run")).path
    rec = RunRecord.load(out)
    assert rec.meta.gateway.kind == "haproxy"
    assert all(c.status == 200 for c in rec.clients), [c for c in rec.clients if c.status != 200][:3]
    assert any(e.status == 500 for e in rec.journals["canary"])
    verdicts = judge(rec)
    assert gate(verdicts), [v.summary for v in verdicts]
    assert (out / "logs" / "haproxy" / "haproxy.cfg").exists() and (out / "logs" / "haproxy.log").exists()


@needs_haproxy
def test_sticky_sessions_stay_on_one_upstream_and_sessions_spread_over_both(tmp_path: Path) -> None:
    sc = scenario({"targets": [{"upstream": "stable", "model": "gpt-4o-mini", "weight": 50},
                               {"upstream": "canary", "model": "gpt-4o-mini", "weight": 50}], "sticky": "session"})
    with FakeServer(provider="openai", name="stable", models=MODELS) as stable, \
            FakeServer(provider="openai", name="canary", models=MODELS) as canary, Processes(tmp_path) as procs:
        gw = start(procs, sc, [stable, canary], tmp_path)
        with httpx.Client(base_url=gw.url, headers=gw.client_headers(), timeout=10) as client:
            for _turn in range(3):
                for s in range(16):
                    r = client.post("/v1/chat/completions", json=BODY, headers={"x-gatedrill-session-id": f"s{s}"})
                    assert r.status_code == 200
        where: dict[str, set[str]] = {}
        for fake in (stable, canary):
            for e in fake.journal.records():
                where.setdefault(e["headers"]["x-gatedrill-session-id"], set()).add(fake.name)
    assert len(where) == 16 and all(len(v) == 1 for v in where.values())  # every session pinned
    assert {next(iter(v)) for v in where.values()} == {"stable", "canary"}  # and sessions spread over both


@needs_haproxy
def test_a_marked_down_server_stays_out_for_the_cooldown_then_comes_back(tmp_path: Path) -> None:
    import time

    sc = scenario({"targets": [{"upstream": "stable", "model": "gpt-4o-mini"}], "fallbacks": ["backup"],
                   "retry": {"attempts": 1, "retry_on": [429]},
                   "cooldown": {"failures": 1, "window_s": 5, "cooldown_s": 2}})
    with FakeServer(provider="openai", name="stable", models=MODELS) as stable, \
            FakeServer(provider="openai", name="backup", models=MODELS) as backup, Processes(tmp_path) as procs:
        stable.set_faults([{"fault": {"kind": "http_error", "status": 500}}])
        gw = start(procs, sc, [stable, backup], tmp_path)
        with httpx.Client(base_url=gw.url, headers=gw.client_headers(), timeout=10) as client:
            assert client.post("/v1/chat/completions", json=BODY).status_code == 500  # error-limit 1: down
            down_at = time.monotonic()
            stable.set_faults([])  # healthy again at once: only the cooldown keeps it out
            back_after = None
            while time.monotonic() - down_at < 6 and back_after is None:
                r = client.post("/v1/chat/completions", json=BODY)
                assert r.status_code == 200
                if r.headers["x-gatedrill-haproxy-server"] == "stable":
                    back_after = time.monotonic() - down_at
                time.sleep(0.05)
    assert back_after is not None and 1.9 <= back_after <= 3.5, back_after  # the cooldown, up to `inter` more
    assert len(backup.journal.records()) > 10


@needs_haproxy
def test_a_body_larger_than_the_buffer_is_refused_with_413_and_never_sent_half_rewritten(tmp_path: Path) -> None:
    sc = scenario({"targets": [{"upstream": "stable", "model": "gpt-4o-mini"}]})
    with FakeServer(provider="openai", name="stable", models=MODELS) as stable, Processes(tmp_path) as procs:
        gw = start(procs, sc, [stable], tmp_path)
        big = BODY | {"messages": [{"role": "user", "content": "word " * 250_000}]}  # 1.25 MB > tune.bufsize
        r = httpx.post(f"{gw.url}/v1/chat/completions", json=big, headers=gw.client_headers(), timeout=30)
        ok = httpx.post(f"{gw.url}/v1/chat/completions", json=BODY, headers=gw.client_headers(), timeout=10)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large", r.text
    assert ok.status_code == 200 and [e["model"] for e in stable.journal.records()] == ["gpt-4o-mini"]
