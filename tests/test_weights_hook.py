"""`gateway.set_weights` for url and container gateways: a bad spec is one clear line naming the file and key; the
command and the HTTP call really run with the weights filled in (a real HTTP server on 127.0.0.1); a url gateway
with a hook can change weights, one without cannot (a limitation)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gatedrill.fakes.errors import ConfigError
from gatedrill.harness.checks.synthetic import scenario_with
from gatedrill.harness.gateways import limitations
from gatedrill.harness.gateways.weights import HookWeights
from gatedrill.harness.runner import RunOptions, resolve_scenario
from gatedrill.harness.scenario import Scenario, load_scenario
from gatedrill.harness.weights_hook import WeightsHook

SCENARIO = """\
name: hooked
duration_s: 10
upstreams:
  stable: {provider: openai, models: [{id: gpt-4o-mini}]}
  canary: {provider: openai, models: [{id: gpt-4o-mini}]}
gateway:
  kind: url
  url: http://127.0.0.1:4000
  routing:
    targets: [{upstream: stable, model: gpt-4o-mini, weight: 90}, {upstream: canary, model: gpt-4o-mini, weight: 10}]
  set_weights: HOOK
load: {arrivals: {profile: constant, rate: 5}}
timeline:
  - {at_s: 5, action: set_weights, weights: {canary: 50}}
"""


def load_with(tmp_path: Path, hook: str, kind: str = "url") -> Any:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("HOOK", hook).replace("kind: url", f"kind: {kind}"))
    return load_scenario(path)


@pytest.mark.parametrize(("hook", "says"), [
    ("{command: [./set.sh], http: {url: 'http://127.0.0.1:9/w'}}", "needs exactly one of `command: [...]` or `http:"),
    ("{}", "needs exactly one of"),
    ("{command: ['./set.sh', '{weight}']}", "command[1]: unknown placeholder {weight}; use {weights_json}"),
    ("{command: ['./set.sh', '{weights[nope]}']}", "names unknown upstream 'nope' in {weights[nope]}"),
    ("{http: {url: 'http://127.0.0.1:9/{env[HOME]}'}}", "{env[...]} is allowed in http.headers only"),
    ("{http: {method: FETCH, url: 'http://127.0.0.1:9/w'}}", "gateway.set_weights.http.method"),
    ("{command: ['./set.sh', '{weights_json']}", "bad template"),
])
def test_a_bad_set_weights_spec_is_one_clear_line(tmp_path: Path, hook: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_with(tmp_path, hook)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{tmp_path / 's.yaml'}:"), msg
    assert says in msg, msg


def test_set_weights_on_a_gateway_gatedrill_configures_is_refused_and_dropped_by_gateway_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="`set_weights` applies to url and container gateways; the nginx gateway"):
        load_with(tmp_path, "{command: [./set.sh]}", kind="nginx")
    sc = load_with(tmp_path, "{command: [./set.sh]}")
    assert resolve_scenario(sc, RunOptions(gateway="nginx")).gateway.set_weights is None  # --gateway nginx


def test_a_url_gateway_changes_weights_only_with_a_hook(tmp_path: Path) -> None:
    sc = load_with(tmp_path, "{command: [./set.sh, '{weights_json}']}")
    assert limitations(sc) == []
    bare = scenario_with({"stable": 90, "canary": 10},
                         timeline=[{"at_s": 5, "action": "set_weights", "weights": {"canary": 50}}])
    (lim,) = limitations(resolve_scenario(bare, RunOptions(gateway="url:http://127.0.0.1:9")))
    assert lim.feature == "set_weights" and "gateway.set_weights" in lim.reason


def test_the_command_runs_with_the_weights_filled_in(tmp_path: Path) -> None:
    out = tmp_path / "weights.json"
    script = "import sys; open(sys.argv[1], 'w').write(sys.argv[2] + ' ' + sys.argv[3])"
    hook = WeightsHook(command=[sys.executable, "-c", script, str(out), "{weights_json}", "{weights[canary]}"])
    applied = HookWeights(hook).set_weights({"canary": 50}, {"stable": 90.0, "canary": 50.0})
    assert applied.status == 200, applied
    text = out.read_text()
    assert json.loads(text.rsplit(" ", 1)[0]) == {"stable": 90.0, "canary": 50.0} and text.endswith(" 50.0")
    failing = WeightsHook(command=[sys.executable, "-c", "import sys; print('refused'); sys.exit(3)"])
    applied = HookWeights(failing).set_weights({}, {"a": 1.0})
    assert applied.status == 0 and "exit 3: refused" in applied.detail
    missing = HookWeights(WeightsHook(command=[str(tmp_path / "nope")])).set_weights({}, {"a": 1.0})
    assert missing.status == 0 and "could not run" in missing.detail
    hung = WeightsHook(command=["sh", "-c", "sleep 30 & sleep 30"], timeout_s=0.3)
    t = time.monotonic()
    applied = HookWeights(hung).set_weights({}, {"a": 1.0})
    assert applied.status == 0 and "took over 0.3 s; killed" in applied.detail and time.monotonic() - t < 3


@pytest.fixture
def admin() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on 127.0.0.1 that records what it is sent (a gateway's admin API)."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            seen.append({"path": self.path, "auth": self.headers.get("authorization"), "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_http_call_sends_numbers_where_a_placeholder_is_the_whole_value(
        admin: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, seen = admin
    monkeypatch.setenv("GD_TEST_ADMIN_KEY", "sk-admin")
    hook = WeightsHook.model_validate({"http": {
        "method": "PUT", "url": url + "/routes/{weights[canary]}",
        "headers": {"authorization": "Bearer {env[GD_TEST_ADMIN_KEY]}"},
        "body": {"all": "{weights_json}", "canary": "{weights[canary]}", "label": "canary at {weights[canary]}%",
                 "targets": [{"name": "stable", "weight": "{weights[stable]}"}]}}})
    applied = HookWeights(hook).set_weights({"canary": 25}, {"stable": 75.0, "canary": 25.0})
    assert applied.status == 204, applied
    (got,) = seen
    assert got["path"] == "/routes/25.0" and got["auth"] == "Bearer sk-admin"
    assert got["body"] == {"all": {"stable": 75.0, "canary": 25.0}, "canary": 25.0, "label": "canary at 25.0%",
                           "targets": [{"name": "stable", "weight": 75.0}]}
    monkeypatch.delenv("GD_TEST_ADMIN_KEY")
    with pytest.raises(ValueError, match="environment variable GD_TEST_ADMIN_KEY is not set"):
        HookWeights(hook).set_weights({}, {"stable": 1.0, "canary": 1.0})


def test_a_url_gateway_changes_weights_through_its_http_hook_during_a_drill(tmp_path: Path) -> None:
    """A gateway gatedrill did not start (the reference gateway run by the test, at its own URL) whose admin API takes
    weights: the scenario's set_weights hook PUTs them at 3 s, 90/10 becomes 10/90, and the journals show it."""
    from gateway_drills import canary_share, weights_drill

    from gatedrill.harness.gateways.base import free_port
    from gatedrill.harness.gateways.reference import start_reference
    from gatedrill.harness.intent import RoutingIntent, UpstreamEndpoint
    from gatedrill.harness.processes import Processes
    from gatedrill.harness.record import RunRecord
    from gatedrill.harness.runner import run

    ports = {"stable": free_port(), "canary": free_port()}
    data = weights_drill("reference", [(3.0, {"stable": 10, "canary": 90})], rate=30.0, duration_s=6.0).model_dump(
        mode="json")
    for name, port in ports.items():
        data["upstreams"][name]["port"] = port
    endpoints = [UpstreamEndpoint(name=n, provider="openai", base_url=f"http://127.0.0.1:{p}")
                 for n, p in ports.items()]
    (tmp_path / "gw").mkdir()
    with Processes(tmp_path / "gw") as procs:
        routing = RoutingIntent.model_validate(data["gateway"]["routing"])
        gw = start_reference(procs, routing, None, 1, endpoints, tmp_path / "gw")
        data["gateway"] |= {"kind": "url", "url": gw.url, "set_weights": {"http": {
            "method": "PUT", "url": gw.url + "/_gatedrill/weights", "body": "{weights_json}"}}}
        rec = RunRecord.load(run(Scenario.model_validate(data), RunOptions(gateway=f"url:{gw.url}",
                                                                           out=tmp_path / "run")).path)
    assert rec.meta.gateway.limitations == []
    (e,) = [e for e in rec.timeline if e.action == "set_weights"]
    assert e.ok and e.mechanism == "http", e.detail
    assert e.effective_s is not None and e.sent_s is not None and e.sent_s <= e.effective_s <= e.sent_s + 1.0
    assert canary_share(rec, 0, 2.9)[0] < 0.25 and canary_share(rec, 3.3, 6)[0] > 0.75
    assert all(c.error_class is None for c in rec.load_clients())
