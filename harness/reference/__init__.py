"""The reference gateway: a small, correct OpenAI-compatible gateway that gatedrill ships as its default
system under test, with deliberate bugs (mutants) that prove the checks catch what they should."""

from .config import GatewayConfig
from .server import ReferenceGateway, build_app, serve

__all__ = ["GatewayConfig", "ReferenceGateway", "build_app", "serve"]
