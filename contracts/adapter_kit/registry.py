"""Adapters the kit knows by name (`gatedrill contract --adapter NAME`), each as one target per provider."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gatedrill.fakes.errors import ConfigError

from .gateway_target import ProcessGatewayTarget, ReferenceGatewayTarget
from .litellm_target import LiteLLMTarget
from .python_adapter import PythonAdapterTarget
from .target import Target

PROVIDERS = ("openai", "anthropic")
ADAPTERS: dict[str, tuple[Callable[[str], Target], tuple[str, ...]]] = {
    "litellm": (LiteLLMTarget, PROVIDERS),  # LiteLLM as a library (litellm.completion), intercepted
    "litellm-async": (lambda provider: LiteLLMTarget(provider, use_async=True), PROVIDERS),  # litellm.acompletion
    "reference": (ReferenceGatewayTarget, PROVIDERS),  # the reference gateway over HTTP, routing to one fake
    "python": (lambda provider: PythonAdapterTarget(), ("anthropic",)),  # the kit's own baseline adapter
}


def targets_for(adapter: str, providers: Sequence[str] = (), mutant: str | None = None) -> list[Target]:
    """Targets for a named adapter and the providers asked for (default: every provider it supports).
    `gateway:NAME` starts a gateway gatedrill knows (`gateway:litellm` is the LiteLLM proxy) over HTTP; `mutant`
    gives the reference gateway a deliberate bug."""
    if mutant is not None and adapter != "reference":
        raise ConfigError("--mutant applies to the reference gateway only (--adapter reference)")
    if adapter.startswith("gateway:"):
        from gatedrill.harness.gateways import ADAPTERS as GATEWAYS

        name = adapter.split(":", 1)[1]
        if name not in GATEWAYS or name == "url":
            raise ConfigError(f"unknown gateway {name!r} in {adapter!r}: use one of "
                              f"{', '.join(n for n in GATEWAYS if n != 'url')}")
        return [ProcessGatewayTarget(name, p) for p in (tuple(providers) or PROVIDERS)]
    if adapter not in ADAPTERS:
        raise ConfigError(f"unknown adapter {adapter!r}: use one of {', '.join(ADAPTERS)}, or gateway:NAME")
    if mutant is not None:
        return [ReferenceGatewayTarget(p, mutant) for p in (tuple(providers) or PROVIDERS)]
    make, supported = ADAPTERS[adapter]
    chosen = tuple(providers) or supported
    unsupported = [p for p in chosen if p not in supported]
    if unsupported:
        raise ConfigError(f"adapter {adapter!r} has no {', '.join(unsupported)} target; it supports "
                          f"{', '.join(supported)}")
    return [make(p) for p in chosen]


def title_for(adapter: str, mutant: str | None = None) -> str:
    if mutant:
        return f"adapter contract: {adapter} (mutant {mutant})"
    if adapter.startswith("litellm"):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"adapter contract: {adapter} {version('litellm')}"
        except PackageNotFoundError:
            return "adapter contract: litellm (not installed)"
    return f"adapter contract: {adapter}"
