"""Gemini API errors as google.rpc.Status (`{"error": {"code", "message", "status", "details"}}`) and the
API's own messages."""

from __future__ import annotations

import math
from typing import Any

import orjson

from ...plan import ApiError

# HTTP status -> (google.rpc code name, default message)
STATUS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    408: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
    409: ("ABORTED", "The operation was aborted."),
    413: ("INVALID_ARGUMENT", "Request payload size exceeds the limit."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report in "
                      "https://developers.generativeai.google/guide/troubleshooting"),
    501: ("UNIMPLEMENTED", "Operation is not implemented, or supported, or enabled."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}
NO_KEY_MESSAGE = ("Method doesn't allow unregistered callers (callers without established identity). Please use "
                  "API Key or other form of API consumer identity to call this API.")
QUOTA_MESSAGE = ("You exceeded your current quota, please check your plan and billing details. For more "
                 "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.")
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def status_name(status: int) -> str:
    return STATUS.get(status, ("UNKNOWN", ""))[0]


def default_message(status: int) -> str:
    return STATUS.get(status, ("UNKNOWN", f"Upstream error {status}."))[1]


def invalid(message: str) -> ApiError:
    return ApiError(400, message, "INVALID_ARGUMENT")


def retry_info(seconds: float) -> dict[str, Any]:
    """A RetryInfo detail: the only retry hint Gemini sends (no Retry-After header)."""
    return {"@type": RETRY_INFO, "retryDelay": f"{max(1, math.ceil(seconds))}s"}


def quota_failure(model: str, metric: str, quota_id: str, value: int) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
        "quotaMetric": f"generativelanguage.googleapis.com/{metric}", "quotaId": quota_id,
        "quotaDimensions": {"location": "global", "model": model}, "quotaValue": str(value)}]}


def help_link() -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.Help", "links": [
        {"description": "Learn more about Gemini API quotas",
         "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}


def envelope(err: ApiError) -> bytes:
    status = err.error_type or status_name(err.status)
    body: dict[str, Any] = {"code": err.status, "message": err.message, "status": status}
    if err.details:
        body["details"] = err.details
    return orjson.dumps({"error": body})
