"""The Bedrock Runtime Converse wire format, as `boto3`'s `bedrock-runtime` client speaks it.

The dialect class lives in `dialect.py`; the wire format in `urls`, `requests`, `rendering`, `exceptions`,
`eventstream`."""

from .dialect import BedrockDialect

__all__ = ["BedrockDialect"]
