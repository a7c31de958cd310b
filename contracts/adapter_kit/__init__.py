"""The adapter contract kit: does an adapter (unified OpenAI-shape request -> provider X, and X's reply,
stream or error -> unified) keep the contract? Hypothesis draws the requests, fakes are the upstream and its
journal the ground truth; the result is a property x target matrix with shrunk counter-examples.

>>> from contracts.adapter_kit import LiteLLMTarget, run_kit
>>> print(run_kit([LiteLLMTarget("anthropic")]).render())
"""

from .gateway_target import HttpGatewayTarget, ProcessGatewayTarget, ReferenceGatewayTarget
from .kit import property_named, run_kit, run_property
from .litellm_target import LiteLLMTarget
from .matrix import Cell, Matrix
from .outcome import Outcome, reassemble
from .properties import PROPERTIES, Property, Violation, lost_pieces, reply_problems
from .python_adapter import AnthropicAdapter, PythonAdapterTarget
from .registry import ADAPTERS, targets_for, title_for
from .rules import anthropic_problems, openai_problems, request_problems
from .target import Target

__all__ = [
    "ADAPTERS",
    "PROPERTIES",
    "AnthropicAdapter",
    "Cell",
    "HttpGatewayTarget",
    "LiteLLMTarget",
    "Matrix",
    "Outcome",
    "ProcessGatewayTarget",
    "Property",
    "PythonAdapterTarget",
    "ReferenceGatewayTarget",
    "Target",
    "Violation",
    "anthropic_problems",
    "lost_pieces",
    "openai_problems",
    "property_named",
    "reassemble",
    "reply_problems",
    "request_problems",
    "run_kit",
    "run_property",
    "targets_for",
    "title_for",
]
