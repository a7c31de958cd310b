"""Azure OpenAI's errors: its own `{"error": {"code", "message"}}` for service errors (auth, deployment,
api-version, rate limits) and OpenAI's envelope for model errors, plus `innererror` for content filtering."""

from __future__ import annotations

import math
from typing import Any

import orjson

from ...plan import ApiError
from ..openai import exceptions as openai_exc

AZURE = "azure"  # ApiError.error_type for errors in the service's own shape
NO_KEY_MESSAGE = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                  "valid key for an active subscription and use a correct regional API endpoint for your resource.")
DEPLOYMENT_NOT_FOUND = ("The API deployment for this resource does not exist. If you created the deployment within "
                        "the last 5 minutes, please wait a moment and try again.")
PROMPT_FILTERED = ("The response was filtered due to the prompt triggering Azure OpenAI's content management "
                   "policy. Please modify your prompt and retry. To learn more about our content filtering "
                   "policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766")
SAFE = {"filtered": False, "severity": "safe"}


def filter_results(flagged: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {k: dict(SAFE) for k in ("hate", "self_harm", "sexual", "violence")}
    out["jailbreak"] = {"filtered": False, "detected": False}
    if flagged:
        out[flagged] = {"filtered": True, "severity": "medium"}
    return out


def rate_limited(wait: float, version: str = "2024-10-21") -> str:
    return (f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version {version} have "
            f"exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after "
            f"{max(1, math.ceil(wait))} seconds. Please go here: https://aka.ms/oai/quotaincrease if you would "
            "like to further increase the default rate limit.")


def content_filter_error() -> ApiError:
    return ApiError(400, PROMPT_FILTERED, None, "prompt", "content_filter", details=[
        {"code": "ResponsibleAIPolicyViolation", "content_filter_result": filter_results("violence")}])


def envelope(err: ApiError) -> bytes:
    if err.error_type == AZURE:
        return orjson.dumps({"error": {"code": err.code or str(err.status), "message": err.message}})
    if err.code == "content_filter":
        return orjson.dumps({"error": {"message": err.message, "type": None, "param": err.param,
                                       "code": err.code, "status": err.status, "innererror": err.details[0]}})
    return openai_exc.envelope(err)
