"""The Portkey gateway (npm `@portkey-ai/gateway`) as the gateway under test: the routing intent as the
`x-portkey-config` every request carries, what Portkey cannot express of it, and the gateway run with node.

The gateway is installed once per version into a cache folder with `@hono/node-server` pinned through npm
`overrides` (newer ones make streaming answer 500). It has no host option and listens on all interfaces, so it
is started with a `--require` preload that binds its listening sockets to 127.0.0.1.

A timeline set_weights is a new config: the load generator sends it with every request intended from the planned
time on (`header_switches`), so the change happens exactly on the schedule.

The translation (`portkey_config`) is a pure function. The limitations come from the 1.15.2 build
(build/start-server.js: the retry loop over async-retry, the config schema) and were checked against it running.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gatedrill.fakes.correlation import CORRELATION_HEADER, SESSION_HEADER, TURN_HEADER

from ..scenario import PortkeyOptions, SetWeights
from .base import Limitation, RunningGateway, free_port, wait_ready
from .npm import cache_root, npm_install
from .weights import LoadSwitchWeights

if TYPE_CHECKING:
    from ..intent import Target, UpstreamEndpoint
    from ..processes import Processes
    from ..scenario import Scenario

LOG = "portkey.log"
CONFIG = "portkey-config.json"
CONFIG_HEADER = "x-portkey-config"
ENTRY = Path("node_modules/@portkey-ai/gateway/build/start-server.js")
AZURE_API_VERSION = "2024-10-21"
BEDROCK_ACCESS_KEY_ID = "AKIAGATEDRILLPORTKEY"
# Response headers with the gateway's own account ("upstream" is a target path: see option_upstreams)
CLAIMS = {"upstream": "x-portkey-last-used-option-index", "retries": "x-portkey-retry-attempt-count"}
SWITCH_WAIT_S = 10.0  # a set_weights counts as not applied when no request carries it within this time
RETRY_AFTER_CAP_S = 60.0  # Portkey gives up on a retry-after of 60 s or more (and on 60 s of waits in total)
# Preloaded with `node --require`: listening sockets without a host bind to GATEDRILL_BIND_HOST (127.0.0.1).
LOOPBACK_PRELOAD = """\
'use strict';
// gatedrill: the Portkey gateway has no host option; bind its listening sockets to loopback.
const net = require('node:net');
const listen = net.Server.prototype.listen;
const host = process.env.GATEDRILL_BIND_HOST || '127.0.0.1';
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    if (first.path === undefined && !first.host) args[0] = { ...first, host };
  } else if (typeof first === 'number' || (typeof first === 'string' && /^[0-9]+$/.test(first))) {
    if (args.length < 2 || typeof args[1] === 'function') args.splice(1, 0, host);
    else if (args[1] === undefined || args[1] === null) args[1] = host;
  }
  return listen.apply(this, args);
};
"""


def _leaf(ep: UpstreamEndpoint, model: str, weight: float | None = None) -> dict[str, Any]:
    """One Portkey target: the provider's wire format at the fake, the model forced. `custom_host` replaces the
    provider's base URL: BASE/v1 for OpenAI and Anthropic, BASE for Google (Portkey adds /v1beta) and Bedrock,
    BASE/openai for Azure (deployment = model). Google and Bedrock bodies have no `user` field for the correlation
    marker, so the gatedrill headers are forwarded to them."""
    out: dict[str, Any] = {"provider": ep.provider, "api_key": ep.api_key, "custom_host": f"{ep.base_url}/v1",
                           "override_params": {"model": model}}
    if ep.provider == "gemini":
        out.update(provider="google", custom_host=ep.base_url)
    elif ep.provider == "azure":
        out.update(provider="azure-openai", custom_host=f"{ep.base_url}/openai", resource_name="gatedrill",
                   deployment_id=model, api_version=AZURE_API_VERSION)
    elif ep.provider == "bedrock":
        del out["api_key"]
        out.update(custom_host=ep.base_url, aws_access_key_id=BEDROCK_ACCESS_KEY_ID,
                   aws_secret_access_key=ep.api_key, aws_region="us-east-1")
    if ep.provider in ("gemini", "bedrock"):
        out["forward_headers"] = [CORRELATION_HEADER, SESSION_HEADER, TURN_HEADER]
    if weight is not None:
        out["weight"] = weight
    return out


def _first_model(scenario: Scenario, upstream: str) -> str:
    return scenario.upstreams[upstream].models[0].id


def _largest_model(scenario: Scenario, upstream: str) -> str:
    return max(scenario.upstreams[upstream].models, key=lambda m: m.context_window).id


def _target(scenario: Scenario, eps: dict[str, UpstreamEndpoint], t: Target) -> dict[str, Any]:
    """A weighted target; with a context-window fallback, a fallback pair on 400 (Portkey cannot tell a
    context-length 400 from any other)."""
    cw = scenario.gateway.routing.context_window_fallbacks.get(t.upstream)
    if cw is None:
        return _leaf(eps[t.upstream], t.model, t.weight)
    return {"strategy": {"mode": "fallback", "on_status_codes": [400]}, "weight": t.weight,
            "targets": [_leaf(eps[t.upstream], t.model), _leaf(eps[cw], _largest_model(scenario, cw))]}


def portkey_config(scenario: Scenario, endpoints: list[UpstreamEndpoint],
                   weights: dict[str, float] | None = None) -> dict[str, Any]:
    """The `x-portkey-config` for the scenario's routing intent: a loadbalance over the weighted targets, inside a
    fallback chain over the fallback upstreams (on the retried statuses, 408 timeouts and 5xx), with retries.
    `weights` (per upstream) replace the routing's, as a timeline set_weights does; every config of a run lists
    the same targets in the same order (weight 0 where they have none), so a target's option index keeps its
    meaning across switches."""
    routing = scenario.gateway.routing
    eps = {e.name: e for e in endpoints}
    targets = [_target(scenario, eps, t) for t in scenario.runtime_targets(weights)]
    node: dict[str, Any] = {"strategy": {"mode": "loadbalance"}, "targets": targets}
    if routing.fallbacks:
        fallback_on = sorted(set(routing.retry.retry_on) | {408, 500, 502, 503, 504})
        chain = [node] + [_leaf(eps[n], _first_model(scenario, n)) for n in routing.fallbacks]
        node = {"strategy": {"mode": "fallback", "on_status_codes": fallback_on}, "targets": chain}
    retry = routing.retry
    if retry.attempts > 1:
        node["retry"] = {"attempts": retry.attempts - 1, "on_status_codes": sorted(retry.retry_on),
                         "use_retry_after_header": retry.honor_retry_after}
    node["request_timeout"] = int(routing.timeout_s * 1000)
    return node


def option_upstreams(config: dict[str, Any], fake_urls: dict[str, str]) -> dict[str, str]:
    """`x-portkey-last-used-option-index` value (e.g. `config.targets[0].targets[1]`) -> the upstream it names, so
    the gateway's own claim can be read next to the journals (run record: logs/portkey-config.json, meta.fakes)."""
    by_host = {f"{url.rstrip('/')}/v1": name for name, url in fake_urls.items()}
    out: dict[str, str] = {}

    def walk(node: dict[str, Any], path: str) -> None:
        if "targets" in node:
            for i, child in enumerate(node["targets"]):
                walk(child, f"{path}.targets[{i}]")
        else:
            out[path] = by_host.get(node.get("custom_host", ""), "?")

    walk(config, "config")
    return out


def portkey_limitations(scenario: Scenario) -> list[Limitation]:
    """The parts of the intent Portkey cannot express, each with the checks it affects."""
    routing = scenario.gateway.routing
    retry = routing.retry
    out: list[Limitation] = []
    if routing.cooldown.enabled:
        out.append(Limitation(
            feature="cooldown", checks=["rollback", "retry_amplification"],
            reason="Portkey has no cooldown or circuit breaker: a failing target keeps its share of first attempts "
                   "(and their retries) on every request"))
    if routing.sticky == "session":
        out.append(Limitation(feature="sticky", checks=["canary_split", "context_continuity"],
                              reason="Portkey's loadbalance picks a target per request; it has no session affinity"))
    if retry.attempts > 1:
        out.append(Limitation(
            feature="backoff", checks=[],
            reason=f"Portkey backs off 1 s, 2 s, 4 s... between retries (async-retry defaults), not "
                   f"{retry.backoff_ms:g} ms; connection errors are retried whatever on_status_codes says"))
        if retry.honor_retry_after:
            out.append(Limitation(
                feature="honor_retry_after", checks=["retry_amplification"],
                reason="Portkey waits a retry-after only on 429 (retry-after-ms, x-ms-retry-after-ms or whole "
                       "seconds of retry-after); other statuses that carry one are retried after its own backoff"))
        if retry.honor_retry_after and retry.max_retry_after_s != RETRY_AFTER_CAP_S:
            out.append(Limitation(
                feature="max_retry_after_s", checks=["retry_amplification"],
                reason=f"Portkey gives up on waits of {RETRY_AFTER_CAP_S:g} s or more (a fixed cap); it cannot move "
                       f"on after {retry.max_retry_after_s:g} s"))
    if routing.context_window_fallbacks:
        out.append(Limitation(
            feature="context_window_fallbacks", checks=["error_mapping"],
            reason="Portkey falls back on a status code, so every 400 of a target (not only context-length ones) "
                   "is re-sent to its context-window fallback"))
    return out


def install_root(opts: PortkeyOptions) -> Path:
    return cache_root(opts.install_dir) / f"portkey-{opts.version}-hono-{opts.hono_node_server}"


def ensure_installed(opts: PortkeyOptions) -> Path:
    """The gateway's folder, installing it with npm on first use; one clear error when npm is missing or fails."""
    pkg = {"name": "gatedrill-portkey", "version": "0.0.0", "private": True,
           "dependencies": {"@portkey-ai/gateway": opts.version, "@hono/node-server": opts.hono_node_server},
           "overrides": {"@hono/node-server": opts.hono_node_server}}
    return npm_install(install_root(opts), pkg, ENTRY, f"@portkey-ai/gateway {opts.version}")


class PortkeyAdapter:
    name = "portkey"

    def limitations(self, scenario: Scenario) -> list[Limitation]:
        return portkey_limitations(scenario)

    def start(self, procs: Processes, scenario: Scenario, endpoints: list[UpstreamEndpoint],
              workdir: Path) -> RunningGateway:
        opts = scenario.gateway.portkey or PortkeyOptions()
        root = ensure_installed(opts)
        config = portkey_config(scenario, endpoints)
        (workdir / CONFIG).write_text(json.dumps(config, indent=2))
        switches = header_switches(scenario, endpoints)
        preload = workdir / "portkey-loopback.cjs"
        preload.write_text(LOOPBACK_PRELOAD)
        port = free_port()
        node = shutil.which("node")
        assert node is not None  # ensure_installed checked
        env = dict(os.environ, GATEDRILL_BIND_HOST="127.0.0.1", NODE_ENV="production")
        proc = procs.start([node, "--require", str(preload), str(root / ENTRY), f"--port={port}", "--headless"],
                           LOG, env=env)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url + "/", proc, opts.start_timeout_s, "the Portkey gateway", workdir / LOG)
        return RunningGateway(url=url, proc=proc, log=LOG, claims=CLAIMS,
                              headers={CONFIG_HEADER: json.dumps(config, separators=(",", ":"))},
                              header_switches=switches, weights=LoadSwitchWeights(CONFIG_HEADER, SWITCH_WAIT_S))


def header_switches(scenario: Scenario, endpoints: list[UpstreamEndpoint]) -> list[tuple[float, dict[str, str]]]:
    """One `x-portkey-config` per timeline set_weights, at its planned time, with the weights accumulated so far:
    Portkey takes its routing with each request, so the load generator changes weights by sending the next one."""
    weights = scenario.gateway.routing.upstream_weights()
    out = []
    for act in sorted(scenario.timeline, key=lambda a: a.at_s):
        if isinstance(act, SetWeights):
            weights = {**weights, **act.weights}
            config = portkey_config(scenario, endpoints, weights)
            out.append((act.at_s, {CONFIG_HEADER: json.dumps(config, separators=(",", ":"))}))
    return out
