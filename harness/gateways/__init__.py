"""Gateway adapters: each turns a scenario's routing intent into one gateway's own configuration, says what it
cannot express (limitations, reported before the run and marked on the verdicts they affect), and starts the
gateway in front of the fakes as a child process on 127.0.0.1.

Built in: reference (embedded), url (yours, set up by hand), litellm (LiteLLM proxy), portkey (Portkey gateway),
nginx, haproxy, container.
"""

from .base import DEFAULT_API_KEY, GatewayAdapter, Limitation, RunningGateway, free_port, wait_ready
from .registry import ADAPTERS, adapter_names, get_adapter, limitations

__all__ = [
    "ADAPTERS", "DEFAULT_API_KEY", "GatewayAdapter", "Limitation", "RunningGateway", "adapter_names", "free_port",
    "get_adapter", "limitations", "wait_ready",
]
