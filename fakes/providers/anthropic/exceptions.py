"""Anthropic's error envelope, its status-to-type map and the exact messages the API uses.

Validation messages follow the API's pydantic style, `<field path>: <problem>`, with list indexes as path
segments (`messages.0.content: Input should be a valid list`), because that is what clients and gateways
see and sometimes match on.
"""

from __future__ import annotations

import math

import orjson

from ...plan import ApiError

ORGANIZATION_ID = "6f1c7a4e-0d3b-4c5e-9a8f-2b7d1e6c0a91"
RATE_LIMIT_TAIL = (
    "For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for "
    "current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You "
    "may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate "
    "limit increase."
)

# The documented status -> error type map; other 4xx are invalid requests and other 5xx api errors.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# Messages used when a fault names only a status.
DEFAULT_MESSAGES: dict[int, str] = {
    400: "Invalid request",
    401: "invalid x-api-key",
    402: "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade "
         "or purchase credits.",
    403: "Your API key does not have permission to use the specified resource.",
    404: "Not Found",
    413: "Request exceeds the maximum size",
    429: "This request would exceed your account's rate limit. Please try again later.",
    500: "Internal server error",
    504: "Request timed out",
    529: "Overloaded",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def default_message(status: int) -> str:
    return DEFAULT_MESSAGES.get(status) or ("Internal server error" if status >= 500 else "Invalid request")


def error_obj(err: ApiError) -> dict[str, str]:
    return {"type": err.error_type or error_type(err.status), "message": err.message}


def envelope(err: ApiError, request_id: str) -> bytes:
    return orjson.dumps({"type": "error", "error": error_obj(err), "request_id": request_id})


def retry_after(seconds: float, with_ms: bool) -> list[tuple[str, str]]:
    """`retry-after` in whole seconds (rounded up, as the API does); `retry-after-ms` only when asked."""
    out = [("retry-after", str(max(1, math.ceil(seconds))))]
    if with_ms:
        out.append(("retry-after-ms", str(max(1, round(seconds * 1000)))))
    return out


def invalid(message: str) -> ApiError:
    return ApiError(400, message, "invalid_request_error")


def required(loc: str) -> ApiError:
    return invalid(f"{loc}: Field required")


def extra(loc: str) -> ApiError:
    return invalid(f"{loc}: Extra inputs are not permitted")


def wrong_type(loc: str, expected: str) -> ApiError:
    """`expected` is pydantic's noun: string, integer, number, boolean, list, dictionary."""
    return invalid(f"{loc}: Input should be a valid {expected}")
