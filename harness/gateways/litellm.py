"""The LiteLLM proxy as the gateway under test: the routing intent as a LiteLLM `config.yaml`, what LiteLLM cannot
express of it, and the proxy started as a child process on 127.0.0.1.

A drill whose timeline changes weights runs the proxy under gunicorn (`--run_gunicorn`), so a set_weights is a
graceful config reload (`LiteLLMReload`): without a database LiteLLM has no other way to change a deployment.

The translation (`litellm_config`) is a pure function, tested without a proxy. The limitations come from LiteLLM
1.106.2's router source (router.py `_time_to_sleep_before_retry`, utils.py `calculate_retry_after` and
`should_retry`, router_utils/cooldown_handlers.py) and were checked against the running proxy.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from gatedrill.fakes.errors import ConfigError

from ..scenario import LiteLLMOptions, SetWeights
from ..timeline import WeightsApplied
from .base import Limitation, RunningGateway, free_port, wait_ready

if TYPE_CHECKING:
    from ..intent import UpstreamEndpoint
    from ..processes import Processes
    from ..scenario import Scenario

MASTER_KEY = "sk-gatedrill-master"
LOG = "litellm.log"
AZURE_API_VERSION = "2024-10-21"
_NO_USER_FIELD = frozenset({"gemini", "bedrock"})
BEDROCK_ACCESS_KEY_ID = "AKIAGATEDRILLLITELLM"
CONFIG = "litellm-config.yaml"
# Response headers with the proxy's own account of a request (deployment id = upstream name, see litellm_config)
CLAIMS = {"upstream": "x-litellm-model-id", "retries": "x-litellm-attempted-retries",
          "fallbacks": "x-litellm-attempted-fallbacks", "overhead_ms": "x-litellm-overhead-duration-ms"}
# What LiteLLM 1.106.2 retries (utils.should_retry): 408, 409, 429 and every status >= 500.
RETRIED = frozenset({408, 409, 429})
RETRY_AFTER_CAP_S = 60.0  # utils.calculate_retry_after: a longer retry-after is ignored (exponential backoff instead)
# router RetryPolicy / AllowedFailsPolicy keys: one per exception class LiteLLM maps statuses to
_EXCEPTIONS = ("BadRequestError", "AuthenticationError", "TimeoutError", "RateLimitError",
               "ContentPolicyViolationError", "InternalServerError")


def _first_model(scenario: Scenario, upstream: str) -> str:
    return scenario.upstreams[upstream].models[0].id


def _largest_model(scenario: Scenario, upstream: str) -> str:
    models = scenario.upstreams[upstream].models
    return max(models, key=lambda m: m.context_window).id


def _deployment(ep: UpstreamEndpoint, group: str, model: str, ident: str,
                weight: float | None = None) -> dict[str, Any]:
    """One LiteLLM deployment: OpenAI-compatible fakes via `openai/` at BASE/v1, Anthropic via `anthropic/` at BASE,
    Gemini via `gemini/` at BASE/v1beta, Azure via `azure/` at BASE (deployment = model), Bedrock via
    `bedrock/converse/` with `aws_bedrock_runtime_endpoint` = BASE (LiteLLM signs SigV4 with the key as secret)."""
    params: dict[str, Any]
    if ep.provider == "openai":
        params = {"model": f"openai/{model}", "api_base": f"{ep.base_url}/v1", "api_key": ep.api_key}
    elif ep.provider == "gemini":
        params = {"model": f"gemini/{model}", "api_base": f"{ep.base_url}/v1beta", "api_key": ep.api_key}
    elif ep.provider == "azure":
        params = {"model": f"azure/{model}", "api_base": ep.base_url, "api_key": ep.api_key,
                  "api_version": AZURE_API_VERSION}
    elif ep.provider == "bedrock":
        params = {"model": f"bedrock/converse/{model}", "aws_bedrock_runtime_endpoint": ep.base_url,
                  "aws_access_key_id": BEDROCK_ACCESS_KEY_ID, "aws_secret_access_key": ep.api_key,
                  "aws_region_name": "us-east-1"}
    else:
        params = {"model": f"anthropic/{model}", "api_base": ep.base_url, "api_key": ep.api_key}
    if weight is not None:
        params["weight"] = weight
    return {"model_name": group, "litellm_params": params, "model_info": {"id": ident}}


def litellm_config(scenario: Scenario, endpoints: list[UpstreamEndpoint], master_key: str = MASTER_KEY,
                   weights: dict[str, float] | None = None) -> dict[str, Any]:
    """The LiteLLM proxy config for the scenario's routing intent (`weights` per upstream replace the routing's, as
    a timeline set_weights does).

    Targets are deployments of one model group (the public model name) with their weights; each fallback upstream
    is its own group (`fallback-NAME`), tried in order after the group's retries; each context-window fallback
    destination is a group (`context-NAME`). Deployment ids (`model_info.id`, echoed in `x-litellm-model-id`) are
    the upstream names, suffixed `@fallback` / `@context` outside the target group.
    """
    routing = scenario.gateway.routing
    eps = {e.name: e for e in endpoints}
    public = routing.public_model
    model_list = []
    ids: set[str] = set()
    for t in scenario.runtime_targets(weights):
        if t.weight <= 0:
            continue  # simple-shuffle would still pick a 0-weight deployment when it is the only one left
        ident = t.upstream if t.upstream not in ids else f"{t.upstream}/{t.model}"
        ids.add(ident)
        model_list.append(_deployment(eps[t.upstream], public, t.model, ident, weight=t.weight))
    fallback_groups = []
    for name in routing.fallbacks:
        group = f"fallback-{name}"
        fallback_groups.append(group)
        model_list.append(_deployment(eps[name], group, _first_model(scenario, name), f"{name}@fallback"))
    context_groups: list[str] = []
    for dst in routing.context_window_fallbacks.values():
        group = f"context-{dst}"
        if group not in context_groups:
            context_groups.append(group)
            model_list.append(_deployment(eps[dst], group, _largest_model(scenario, dst), f"{dst}@context"))
    retry, cooldown = routing.retry, routing.cooldown
    router: dict[str, Any] = {
        "routing_strategy": "simple-shuffle",
        "num_retries": retry.attempts - 1,
        "retry_after": retry.backoff_ms / 1000,  # the least wait before a retry (single-deployment groups only)
        "timeout": routing.timeout_s,
    }
    if cooldown.enabled:
        allowed = cooldown.failures - 1  # LiteLLM cools a deployment down when its fails exceed allowed_fails
        router["allowed_fails"] = allowed
        # a policy makes the count-based rule apply for every error class, including allowed_fails == 3
        router["allowed_fails_policy"] = {f"{e}AllowedFails": allowed for e in _EXCEPTIONS}
        router["cooldown_time"] = cooldown.cooldown_s
    else:
        router["disable_cooldowns"] = True
    if fallback_groups:
        router["fallbacks"] = [{public: fallback_groups}]
    if context_groups:
        router["context_window_fallbacks"] = [{public: context_groups}]
    router.update((scenario.gateway.litellm or LiteLLMOptions()).router_settings)
    settings: dict[str, Any] = {"drop_params": True}
    settings.update((scenario.gateway.litellm or LiteLLMOptions()).litellm_settings)
    # disable_model_info_refresh: else the proxy GETs /v1/models from every OpenAI deployment at start-up and
    # every 300 s, upstream traffic no client asked for (the accounting check counts it as orphaned)
    general: dict[str, Any] = {"master_key": master_key, "disable_model_info_refresh": True}
    if any(e.provider in _NO_USER_FIELD for e in endpoints):
        # Gemini and Bedrock bodies have no `user` field to carry the correlation marker: forward the client's
        # x- headers (x-gatedrill-correlation-id, -session-id, -turn) so the fakes' journals can be joined
        general["forward_client_headers_to_llm_api"] = True
    return {"model_list": model_list, "router_settings": router, "litellm_settings": settings,
            "general_settings": general}


def litellm_limitations(scenario: Scenario) -> list[Limitation]:
    """The parts of the intent LiteLLM's router cannot express, each with the checks it affects."""
    routing = scenario.gateway.routing
    retry, cooldown = routing.retry, routing.cooldown
    out: list[Limitation] = []
    if routing.sticky == "session":
        out.append(Limitation(
            feature="sticky", checks=["canary_split", "context_continuity"],
            reason="LiteLLM pins sessions only by its own session id (x-litellm-session-id / litellm_session_id, "
                   "with the session_affinity pre-call check); simple-shuffle picks per request"))
    multi = sum(1 for t in routing.targets if t.weight > 0) > 1
    if retry.attempts > 1 and multi:
        out.append(Limitation(
            feature="backoff", checks=[],
            reason="while another deployment of the group is healthy LiteLLM retries at once (no backoff, no "
                   "retry-after wait); it waits only when the group has a single deployment"))
    if retry.honor_retry_after and retry.max_retry_after_s != RETRY_AFTER_CAP_S:
        out.append(Limitation(
            feature="max_retry_after_s", checks=["retry_amplification"],
            reason=f"LiteLLM honours an integer retry-after of up to {RETRY_AFTER_CAP_S:g} s (a fixed cap, plus up to "
                   "0.75 s jitter; retry-after-ms and fractional values are ignored) and then retries the same "
                   f"group; it cannot move on to the next target after {retry.max_retry_after_s:g} s"))
    if not retry.honor_retry_after:
        out.append(Limitation(feature="honor_retry_after", checks=["retry_amplification"],
                              reason="LiteLLM always waits an upstream's retry-after (up to 60 s) before retrying "
                                     "a single-deployment group; it cannot be told to ignore it"))
    wanted = set(retry.retry_on)
    lit = {s for s in wanted if s in RETRIED or s >= 500}
    if wanted != lit or not {408, 429, 500, 502, 503, 504} <= wanted:
        out.append(Limitation(
            feature="retry_on", checks=["retry_amplification", "error_mapping"],
            reason="LiteLLM retries by error class, always 408, 409, 429 and every 5xx; it cannot retry on "
                   f"exactly {sorted(wanted)}"))
    if cooldown.enabled and cooldown.window_s != cooldown.cooldown_s:
        out.append(Limitation(
            feature="cooldown_window", checks=[],
            reason=f"LiteLLM counts a deployment's failures over cooldown_time ({cooldown.cooldown_s:g} s), not over "
                   f"a separate window ({cooldown.window_s:g} s); an upstream retry-after overrides cooldown_time"))
    if cooldown.enabled and cooldown.failures > 1:
        out.append(Limitation(
            feature="cooldown_probe", checks=["rollback"],
            reason="LiteLLM has no half-open probe: a cooled-down deployment gets full traffic again when "
                   f"cooldown_time ends, until {cooldown.failures} more failures cool it down again"))
    cw = routing.context_window_fallbacks
    if cw:
        uniform = all(cw.get(t.upstream) == next(iter(cw.values())) for t in routing.targets if t.weight > 0)
        if not uniform or len(set(cw.values())) > 1:
            out.append(Limitation(
                feature="context_window_fallbacks", checks=["context_window"],
                reason="LiteLLM sets context-window fallbacks per model group, not per upstream: every target "
                       f"falls back to {', '.join(dict.fromkeys(cw.values()))} in that order"))
    return out


def _executable(opts: LiteLLMOptions) -> str:
    """The `litellm` proxy command: on PATH or beside this Python; one clear error when the extra is missing."""
    exe = shutil.which(opts.executable) or shutil.which(opts.executable, path=str(Path(sys.executable).parent))
    if exe is None:
        raise ConfigError(f"the LiteLLM proxy ({opts.executable!r}) is not installed: "
                          "pip install 'gatedrill[litellm]'")
    return exe


class LiteLLMAdapter:
    name = "litellm"

    def limitations(self, scenario: Scenario) -> list[Limitation]:
        return litellm_limitations(scenario)

    def start(self, procs: Processes, scenario: Scenario, endpoints: list[UpstreamEndpoint],
              workdir: Path) -> RunningGateway:
        opts = scenario.gateway.litellm or LiteLLMOptions()
        exe = _executable(opts)
        path = workdir / CONFIG
        path.write_text(yaml.safe_dump(litellm_config(scenario, endpoints), sort_keys=False))
        port = free_port()
        env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR",
                   LITELLM_DONT_SHOW_FEEDBACK_BOX="true")
        reloads = any(isinstance(a, SetWeights) for a in scenario.timeline)
        proc = procs.start([exe, "--config", str(path), "--host", "127.0.0.1", "--port", str(port),
                            "--num_workers", "1", *(["--run_gunicorn"] if reloads else [])], LOG, env=env)
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/health/liveliness", proc, opts.start_timeout_s, "the LiteLLM proxy", workdir / LOG)
        weights = LiteLLMReload(scenario, endpoints, path, proc, url, opts.start_timeout_s) if reloads else None
        return RunningGateway(url=url, proc=proc, log=LOG, api_key=MASTER_KEY, claims=CLAIMS, weights=weights)


def group_weights(config: dict[str, Any], group: str) -> dict[str, float]:
    """Deployment id -> weight of the model group `group`, from a config or from /model/info's `data`."""
    rows = config.get("model_list") or config.get("data") or []
    return {str((d.get("model_info") or {}).get("id")): float((d.get("litellm_params") or {}).get("weight") or 0)
            for d in rows if d.get("model_name") == group}


class LiteLLMReload:
    """New weights for a running LiteLLM proxy without a database: rewrite its config.yaml and SIGHUP the gunicorn
    master, which starts a worker that reads the file again and retires the old one gracefully (its requests in
    flight finish; new ones wait in the listen queue while the new worker starts). LiteLLM's own model API
    (/model/new, /model/update, /model/delete, /config/update) answers "No DB Connected" without one. Applied once
    /model/info shows the new weights. The new worker starts with fresh router state (no cooldowns)."""

    mechanism = "LiteLLM config reload (gunicorn SIGHUP; its model API needs a database)"

    def __init__(self, scenario: Scenario, endpoints: list[UpstreamEndpoint], path: Path,
                 proc: subprocess.Popen[bytes], url: str, timeout_s: float) -> None:
        self.scenario, self.endpoints, self.path, self.proc, self.url = scenario, endpoints, path, proc, url
        self.timeout_s = timeout_s

    def set_weights(self, update: dict[str, float], weights: dict[str, float]) -> WeightsApplied:
        config = litellm_config(self.scenario, self.endpoints, weights=weights)
        group = self.scenario.gateway.routing.public_model
        want = group_weights(config, group)
        if not want:
            return WeightsApplied(0, "LiteLLM needs at least one deployment with a weight above 0")
        if self.proc.poll() is not None:
            return WeightsApplied(0, f"the LiteLLM proxy is not running (exit code {self.proc.returncode})")
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        tmp.replace(self.path)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + self.timeout_s
        seen: Any = "no answer"
        headers = {"authorization": f"Bearer {MASTER_KEY}"}
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"{self.url}/model/info", headers=headers, timeout=5.0)
                seen = group_weights(r.json(), group) if r.is_success else f"HTTP {r.status_code}"
                if seen == want:
                    return WeightsApplied(200, "reloaded: " + ", ".join(f"{k}={v:g}" for k, v in want.items()))
            except (httpx.HTTPError, ValueError) as exc:
                seen = type(exc).__name__
            time.sleep(0.1)
        return WeightsApplied(0, f"LiteLLM did not serve the new weights within {self.timeout_s:g} s (it shows "
                                 f"{seen}, want {want})")
