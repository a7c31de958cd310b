"""What a hand-configured gateway must be set up with for a drill, printed before any run
(`gatedrill scenarios routing FILE`): every target with its provider, model, window and base URL, the fallbacks,
retries, cooldown and timeout, each value marked when the scenario leaves it at gatedrill's default, and the times
`--scale` would change."""

from __future__ import annotations

from pydantic import BaseModel

from .scenario import Scenario

_HOST = "http://127.0.0.1"


def base_url(provider: str, port: int | None) -> str:
    """The base URL a gateway is configured with for a fake, as the provider's SDKs take it."""
    if not port:
        return "a free port each run (pin `port:` in the scenario for a gateway configured by hand)"
    origin = f"{_HOST}:{port}"
    return {"openai": f"{origin}/v1", "azure": f"{origin} (Azure: /openai/deployments/MODEL/...)",
            "anthropic": f"{origin} (the origin: requests go to /v1/messages)",
            "gemini": f"{origin} (requests go to /v1beta/models/MODEL:generateContent)",
            "bedrock": f"{origin} (the Bedrock runtime endpoint: /model/MODEL/converse)"}.get(provider, origin)


def _values(model: BaseModel, names: list[str]) -> str:
    """`name value` pairs, each marked `(default)` when the scenario did not set it."""
    return ", ".join(f"{n} {getattr(model, n)}" + ("" if n in model.model_fields_set else " (default)")
                     for n in names)


def routing_lines(scenario: Scenario, scale: float = 1.0) -> list[str]:
    gw = scenario.gateway
    routing = gw.routing
    lines = [f"drill {scenario.name}: clients send model {routing.public_model!r}; route it to these fakes:"]
    total = sum(t.weight for t in routing.targets) or 1.0
    for t in routing.targets:
        up = scenario.upstreams[t.upstream]
        window = next((m.context_window for m in up.models if m.id == t.model), None)
        lines.append(f"  {t.upstream}: {up.provider} at {base_url(up.provider, up.port)}, model {t.model!r}"
                     f" (window {window} tokens), weight {100 * t.weight / total:.0f}%")
    named = {t.upstream for t in routing.targets}
    for name in routing.upstreams() - named:
        up = scenario.upstreams[name]
        models = ", ".join(f"{m.id} (window {m.context_window})" for m in up.models)
        lines.append(f"  {name}: {up.provider} at {base_url(up.provider, up.port)}, models {models} (not a "
                     "weighted target)")
    lines.append(f"  fallbacks, in order: {', '.join(routing.fallbacks) or 'none'}"
                 + ("" if "fallbacks" in routing.model_fields_set else " (default)"))
    for src, dst in routing.context_window_fallbacks.items():
        lines.append(f"  context-window fallback: {src} -> {dst}")
    retry = _values(routing.retry, ["attempts", "backoff_ms", "honor_retry_after", "max_retry_after_s"])
    lines.append(f"  retries: {retry}; retried statuses {routing.retry.retry_on}")
    cd = routing.cooldown
    if cd.enabled:
        lines.append(f"  cooldown: {_values(cd, ['failures', 'window_s', 'cooldown_s'])}, then one probe")
        if scale != 1.0:
            if gw.kind == "url":
                lines.append(f"  --scale {scale:g} leaves the cooldown as configured (a url gateway keeps its own)")
            else:
                lines.append(f"  --scale {scale:g} makes the cooldown window {cd.window_s * scale:g} s and the "
                             f"cooldown {cd.cooldown_s * scale:g} s")
    else:
        lines.append("  cooldown: none")
    lines.append(f"  per-attempt timeout: {routing.timeout_s} s" + ("" if "timeout_s" in routing.model_fields_set
                                                                    else " (default)"))
    lines.append(f"  sticky sessions: {routing.sticky}" + ("" if "sticky" in routing.model_fields_set
                                                          else " (default)"))
    if gw.limitations:
        lines.append("  declared limitations (their checks are judged as expected to fail):")
        lines += [f"    {lim.line()}" for lim in gw.limitations]
    if scale != 1.0:
        lines.append(f"  --scale {scale:g}: the drill runs {scenario.duration_s * scale:g} s and its timeline "
                     "times scale with it")
    return lines
