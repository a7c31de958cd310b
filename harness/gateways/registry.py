"""The gateways `--gateway NAME` can start, by name. Adapters are imported on first use, so one whose module or
third-party software is missing fails only when it is asked for."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from gatedrill.fakes.errors import ConfigError

from .base import GatewayAdapter, Limitation

if TYPE_CHECKING:
    from ..scenario import GatewaySpec, Scenario

# name -> "module:class" (modules relative to this package)
ADAPTERS: dict[str, str] = {
    "reference": "reference:ReferenceAdapter",
    "url": "url:UrlAdapter",
    "litellm": "litellm:LiteLLMAdapter",
    "portkey": "portkey:PortkeyAdapter",
    "nginx": "nginx:NginxAdapter",
    "haproxy": "haproxy:HaproxyAdapter",
    "container": "container:ContainerAdapter",
}
# gateways whose weights a timeline `set_weights` changes during a run, each by its own mechanism (the reference's
# control API, an nginx reload, HAProxy's runtime API, Portkey's per-request config, a LiteLLM reload); url and
# container gateways can when the scenario says how (`runtime_weights`)
RUNTIME_WEIGHTS = {"reference", "nginx", "haproxy", "portkey", "litellm"}


def runtime_weights(gateway: GatewaySpec) -> bool:
    """Can a timeline set_weights change this gateway's weights during the run?"""
    if gateway.kind in RUNTIME_WEIGHTS or gateway.set_weights is not None:
        return True
    opts = gateway.container
    return gateway.kind == "container" and opts is not None and opts.config == "nginx" and bool(opts.reload_command)


def adapter_names() -> list[str]:
    return list(ADAPTERS)


def get_adapter(spec: GatewaySpec | str) -> GatewayAdapter:
    kind = spec if isinstance(spec, str) else spec.kind
    if kind not in ADAPTERS:
        raise ConfigError(f"unknown gateway {kind!r}; choose one of: {', '.join(ADAPTERS)} or url:URL")
    module, _, cls = ADAPTERS[kind].partition(":")
    try:
        mod = importlib.import_module(f"{__package__}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__package__}.{module}":
            raise ConfigError(f"the {kind} gateway adapter is not available in this version of gatedrill") from None
        raise
    adapter: GatewayAdapter = getattr(mod, cls)()
    return adapter


def limitations(scenario: Scenario) -> list[Limitation]:
    """What the scenario's gateway cannot express of its intent (and timeline), to print before the run."""
    adapter = get_adapter(scenario.gateway)
    out = [*adapter.limitations(scenario), *scenario.gateway.limitations]  # the adapter's, then the owner's
    if not runtime_weights(scenario.gateway) and any(a.action == "set_weights" for a in scenario.timeline):
        how = ("give `gateway.set_weights` (a command or an HTTP call) to change them" if adapter.name == "url" else
               "give `gateway.set_weights`, or `config: nginx` with `container.reload_command`, to change them")
        out.append(Limitation(feature="set_weights", checks=["canary_split", "rollback"],
                              reason=f"the {adapter.name} gateway's weights cannot be changed during a run; "
                                     f"timeline set_weights actions are skipped ({how})"))
    return out
