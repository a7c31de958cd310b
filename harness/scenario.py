"""The scenario schema: upstream fakes, the gateway under test with its routing intent, load, a fault
timeline and the checks that judge the run. One pydantic model, used by YAML files, the CLI and Python.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gatedrill.fakes.config import FakeConfig, merge_patch
from gatedrill.fakes.errors import ConfigError
from gatedrill.fakes.faults import FaultRule

from .check_params import PARAMS, ChecksSpec
from .intent import Limitation, Mutant, RoutingIntent, Target
from .load.spec import LoadSpec
from .weights_hook import WeightsHook
from .yaml_lines import key_path, line_of, load_with_lines


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LiteLLMOptions(_Strict):
    """kind: litellm: the LiteLLM proxy, configured from the routing intent (these settings are merged over it)."""

    executable: str = Field(default="litellm", description="the proxy's command (pip install 'gatedrill[litellm]')")
    router_settings: dict[str, Any] = Field(default_factory=dict, description="merged over the generated ones")
    litellm_settings: dict[str, Any] = Field(default_factory=dict, description="merged over the generated ones")
    start_timeout_s: float = Field(default=90, gt=0, description="how long it may take to answer /health/liveliness")


class PortkeyOptions(_Strict):
    """kind: portkey: the Portkey gateway (npm), installed once into a cache folder and run with node."""

    version: str = Field(default="1.15.2", description="@portkey-ai/gateway version")
    hono_node_server: str = Field(default="1.14.1", description="@hono/node-server pin (newer ones break streaming)")
    install_dir: str | None = Field(default=None, description="default $GATEDRILL_HOME or ~/.cache/gatedrill")
    start_timeout_s: float = Field(default=60, gt=0)


class NginxOptions(_Strict):
    """kind: nginx: plain nginx with its njs module, configured from the routing intent (harness.gateways.nginx)."""

    executable: str = Field(default="nginx", description="the nginx binary (apt-get install -y nginx)")
    js_module: str | None = Field(default=None, description="ngx_http_js_module.so (libnginx-mod-http-js); "
                                  "default: the Debian path")
    start_timeout_s: float = Field(default=15, gt=0)


class HaproxyOptions(_Strict):
    """kind: haproxy: plain HAProxy (2.5 or newer, built with Lua), configured from the routing intent
    (harness.gateways.haproxy)."""

    executable: str = Field(default="haproxy", description="the haproxy binary (apt-get install -y haproxy)")
    start_timeout_s: float = Field(default=15, gt=0)


class ContainerOptions(_Strict):
    """kind: container: any gateway image, run with host networking (it reaches the fakes on 127.0.0.1).
    `{port}`, `{config_dir}` and `{config_file}` in `command` and `env` values are replaced before the start."""

    image: str = Field(description="a local image (no registry is contacted unless `pull: true`)")
    command: list[str] | None = Field(default=None, description="default: the image's own, or the generated "
                                      "config's server (nginx, python3 -m gatedrill.harness.reference)")
    env: dict[str, str] = Field(default_factory=dict)
    config: Literal["nginx", "reference", "none"] = Field(
        default="none", description="which adapter generates the config mounted at `mount_path`: nginx (the image "
        "needs nginx and its njs module), reference (the image needs gatedrill), none (the image brings its own)")
    volumes: dict[str, str] = Field(default_factory=dict, description="host path -> container path, read-only")
    mount_path: str = Field(default="/gatedrill", description="where the generated config folder is mounted")
    port: int | None = Field(default=None, ge=1, le=65535, description="the port the gateway listens on; default: "
                             "a free one, passed as {port} (config: nginx listens there)")
    ready_path: str = Field(default="/", description="polled until it answers HTTP (any status below 500)")
    api_key: str | None = Field(default=None, description="the Bearer key clients send")
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every client request")
    pull: bool = Field(default=False, description="pull the image when it is not present locally")
    nginx_js_module: str = Field(default="/usr/lib/nginx/modules/ngx_http_js_module.so",
                                 description="config: nginx: the njs module's path inside the image")
    reload_command: list[str] | None = Field(
        default=None, min_length=1, description="config: nginx: run inside the container (docker exec) after a "
        "timeline set_weights rewrote the mounted config, e.g. [nginx, -s, reload, -p, /gatedrill, -c, "
        "/gatedrill/nginx.conf]; {config_dir} and {config_file} are replaced")
    start_timeout_s: float = Field(default=60, gt=0)


GatewayKind = Literal["reference", "url", "litellm", "portkey", "nginx", "haproxy", "container"]


class GatewaySpec(_Strict):
    """The system under test and the routing it should perform."""

    kind: GatewayKind = "reference"
    url: str | None = Field(default=None, description="for kind: url, the gateway's base URL (…/v1 not included)")
    mutant: Mutant | None = Field(default=None, description="reference gateway only: a deliberate bug")
    litellm: LiteLLMOptions | None = Field(default=None, description="kind: litellm options")
    portkey: PortkeyOptions | None = Field(default=None, description="kind: portkey options")
    nginx: NginxOptions | None = Field(default=None, description="kind: nginx options")
    haproxy: HaproxyOptions | None = Field(default=None, description="kind: haproxy options")
    container: ContainerOptions | None = Field(default=None, description="kind: container options (image...)")
    routing: RoutingIntent
    set_weights: WeightsHook | None = Field(default=None, description=(
        "url and container gateways: how a timeline set_weights reaches your gateway, a command ({command: [...]}) "
        "or an HTTP call ({http: {method, url, body}}) with {weights_json} or {weights[NAME]} filled in"))
    limitations: list[Limitation] = Field(default_factory=list, description=(
        "intents your gateway cannot express, declared as adapters declare theirs (e.g. {feature: timeout, reason: "
        "no per-attempt timeout, checks: [rollback]}): the checks named are judged as expected to fail (XFAIL)"))

    @model_validator(mode="after")
    def _url(self) -> GatewaySpec:
        if self.kind == "url" and not self.url:
            raise ValueError("kind: url needs `url`, e.g. http://127.0.0.1:4000")
        if self.mutant and self.kind != "reference":
            raise ValueError("`mutant` applies to the reference gateway only")
        if self.set_weights is not None and self.kind not in ("url", "container"):
            raise ValueError(f"`set_weights` applies to url and container gateways; the {self.kind} gateway "
                             "changes its weights its own way")
        unknown = sorted({c for lim in self.limitations for c in lim.checks} - set(PARAMS))
        if unknown:
            raise ValueError(f"limitations name unknown checks {unknown}; known checks: {', '.join(sorted(PARAMS))}")
        return self


class _At(_Strict):
    at_s: float = Field(ge=0, description="seconds after load starts")
    note: str | None = None


class SetFaults(_At):
    """Replace an upstream's fault rules."""

    action: Literal["set_faults"]
    upstream: str
    faults: list[FaultRule]


class ClearFaults(_At):
    action: Literal["clear_faults"]
    upstream: str


class PatchUpstream(_At):
    """Change an upstream's behaviour (latency, reply, models...) with a JSON merge patch."""

    action: Literal["patch"]
    upstream: str
    patch: dict[str, Any]


class SetWeights(_At):
    """Change the gateway's weights per upstream (where the gateway can be reconfigured at runtime)."""

    action: Literal["set_weights"]
    weights: dict[str, float]


MarkName = Literal["incident_declared", "rollback_started", "resolved"]
MARKS: tuple[MarkName, ...] = ("incident_declared", "rollback_started", "resolved")


class Mark(_At):
    """A point in the incident's story (a game day's human marks, replayed): changes nothing, only recorded, so
    reports can measure time to detect and to mitigate against the gateway's own reaction."""

    action: Literal["mark"]
    mark: MarkName


TimelineAction = Annotated[SetFaults | ClearFaults | PatchUpstream | SetWeights | Mark,
                           Field(discriminator="action")]


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    seed: int = 0
    duration_s: float = Field(gt=0)
    upstreams: dict[str, FakeConfig] = Field(min_length=1)
    gateway: GatewaySpec
    load: LoadSpec
    timeline: list[TimelineAction] = Field(default_factory=list)
    checks: ChecksSpec = Field(default_factory=ChecksSpec, description="the checks that judge the run, each with "
                               "its parameters ({} for the defaults)")

    @field_validator("upstreams", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        if isinstance(v, dict):
            out = {}
            for name, cfg in v.items():
                if isinstance(cfg, dict):
                    if cfg.get("name", name) != name:
                        raise ValueError(f"upstream {name!r} sets name {cfg['name']!r}; the key is its name")
                    cfg = {**cfg, "name": name}
                out[name] = cfg
            return out
        return v

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        known = set(self.upstreams)
        missing = self.gateway.routing.upstreams() - known
        if missing:
            raise ValueError(f"gateway.routing names upstreams not declared under `upstreams`: {sorted(missing)}")
        for i, act in enumerate(self.timeline):
            names = [act.upstream] if hasattr(act, "upstream") else list(getattr(act, "weights", {}))
            for n in names:
                if n not in known:
                    raise ValueError(f"timeline[{i}] names unknown upstream {n!r}; declared: {sorted(known)}")
            if act.at_s > self.duration_s:
                raise ValueError(f"timeline[{i}] at_s={act.at_s} is after the end of the run ({self.duration_s} s)")
            if isinstance(act, PatchUpstream):
                base = self.upstreams[act.upstream].model_dump(mode="json")
                try:
                    FakeConfig.model_validate(merge_patch(base, act.patch))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    raise ValueError(f"timeline[{i}].patch would make upstream {act.upstream!r} invalid: "
                                     f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
        hook = self.gateway.set_weights
        unknown_hook = sorted(hook.upstreams_named() - known) if hook is not None else []
        if unknown_hook:
            raise ValueError(f"gateway.set_weights names unknown upstream {unknown_hook[0]!r} in "
                             f"{{weights[{unknown_hook[0]}]}}; declared: {sorted(known)}")
        notes = {a.note for a in self.timeline if a.note}
        for lim in self.gateway.limitations:
            unknown = [p for p in lim.phases if p not in notes]
            if unknown:
                raise ValueError(f"limitation {lim.feature!r} names phases no timeline action has as its note: "
                                 f"{unknown}; notes: {sorted(notes)}")
        for t in self.gateway.routing.targets:
            cfg = self.upstreams[t.upstream]
            if cfg.model(t.model) is None:
                raise ValueError(f"gateway target {t.upstream}/{t.model}: upstream {t.upstream!r} serves "
                                 f"{[m.id for m in cfg.models]}")
        return self

    def runtime_targets(self, weights: dict[str, float] | None = None) -> list[Target]:
        """The targets a gateway configuration holds when the timeline may change weights: those with weight, and
        those a `set_weights` gives weight later (an upstream that is no target yet joins with its first model), at
        the weights `weights` gives per upstream (default: the routing's own)."""
        raised = {u for a in self.timeline if isinstance(a, SetWeights) for u, w in a.weights.items() if w > 0}
        targets = list(self.gateway.routing.targets)
        named = {t.upstream for t in targets}
        targets += [Target(upstream=u, model=self.upstreams[u].models[0].id, weight=0.0)
                    for u in sorted(raised - named)]
        out = []
        for t in targets:
            if t.weight > 0 or t.upstream in raised:
                w = (weights or {}).get(t.upstream, t.weight)
                out.append(t if w == t.weight else t.model_copy(update={"weight": w}))
        return out

    def scaled(self, factor: float) -> Scenario:
        """The same drill compressed (or stretched) in time: the run, the timeline, load phases, fault windows and
        the circuit breaker's window and cooldown, all times `factor`. Rates and per-request times stay, and so does
        a url gateway's cooldown: its owner configured it by hand and cannot follow `--scale`."""
        if factor <= 0:
            raise ConfigError("--scale must be above 0")
        data = self.model_dump(mode="json")
        data["duration_s"] = self.duration_s * factor
        for act in data["timeline"]:
            act["at_s"] = act["at_s"] * factor
        arr = data["load"].get("arrivals") or {}
        if arr.get("profile") == "steps":
            for step in arr["steps"]:
                step["duration_s"] *= factor
        if arr.get("profile") == "spike":
            arr["at_s"] *= factor
            arr["duration_s"] *= factor
        if data["gateway"]["kind"] != "url":  # a gateway configured by hand keeps its own cooldown: judge by it
            cooldown = data["gateway"]["routing"]["cooldown"]  # the breaker's clock runs at the drill's pace
            cooldown["window_s"] *= factor
            cooldown["cooldown_s"] *= factor
        for cfg in data["upstreams"].values():
            for rule in cfg.get("faults", []):
                when = rule.get("when") or {}
                for k in ("start_s", "end_s"):
                    if when.get(k) is not None:
                        when[k] *= factor
        return Scenario.model_validate(data)



def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario file; errors name the file, line, key path and what is expected."""
    p = Path(path)
    data, lines = load_with_lines(p)
    if not isinstance(data, dict):
        raise ConfigError(f"{p}:1: a scenario is a mapping with name, duration_s, upstreams, gateway, load")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, p, lines)) from None


def format_errors(exc: ValidationError, path: Path, lines: dict[Any, int]) -> str:
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        line = line_of(lines, loc)
        where = f"{path}:{line}" if line else str(path)
        msg = err["msg"]
        if err["type"] == "extra_forbidden" and len(loc) == 2 and loc[0] == "checks":
            msg = f"unknown check {loc[1]!r}; known checks: {', '.join(PARAMS)}"
        elif err["type"] == "extra_forbidden" and len(loc) == 3 and loc[0] == "checks" and loc[1] in PARAMS:
            known = ", ".join(PARAMS[str(loc[1])].model_fields)
            msg = f"unknown parameter {loc[2]!r} of check {loc[1]}; its parameters: {known}"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; unknown keys are errors, not ignored)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        out.append(f"{where}: {key_path(loc, lines)}: {msg}")
    return "\n".join(out)
