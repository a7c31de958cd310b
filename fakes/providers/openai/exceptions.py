"""OpenAI's error envelope and the exact messages the API uses, as neutral `ApiError`s."""

from __future__ import annotations

import math

import orjson

from ...plan import ApiError

ORG = "org-gatedrill"
RATE_LIMIT_DOCS = "Visit https://platform.openai.com/account/rate-limits to learn more."
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more information on "
    "this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
)
INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you "
    "have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"
)
INVALID_PROMPT_MESSAGE = (
    "Invalid prompt: your prompt was flagged as potentially violating our usage policy. Please try again with a "
    "different prompt: https://platform.openai.com/docs/guides/reasoning#advice-on-prompting"
)
NO_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
    "auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're "
    "accessing the API from your browser and are prompted for a username. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)

# status -> (type, code, message) used when a fault names only a status.
_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-****. You can find your API "
          "key at https://platform.openai.com/account/api-keys."),
    403: ("invalid_request_error", "unsupported_country_region_territory",
          "Country, region, or territory not supported"),
    404: ("invalid_request_error", "model_not_found", "The model `{model}` does not exist or you do not have "
          "access to it."),
    408: ("server_error", None, "Request timed out."),
    409: ("invalid_request_error", None, "Conflict."),
    413: ("invalid_request_error", None, "Request too large."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: ("requests", "rate_limit_exceeded", ""),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("cf_bad_gateway", None, "Bad gateway."),
    503: ("server_error", None, "The server is overloaded or not ready yet."),
    504: ("server_error", None, "Gateway timeout."),
    529: ("server_error", None, "The server is overloaded or not ready yet."),
}


def envelope(err: ApiError) -> bytes:
    return orjson.dumps(
        {"error": {"message": err.message, "type": err.error_type or _DEFAULTS.get(err.status, ("api_error",))[0],
                   "param": err.param, "code": err.code}}
    )


def retry_headers(seconds: float) -> list[tuple[str, str]]:
    return [("retry-after", str(max(1, math.ceil(seconds)))), ("retry-after-ms", str(max(1, round(seconds * 1000))))]


def invalid(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, "invalid_request_error", param, code)


def missing(param: str) -> ApiError:
    return invalid(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def bad_type(param: str, expected: str, got: object) -> ApiError:
    return invalid(f"Invalid type for '{param}': expected {expected}, but got {json_type(got)} instead.", param,
                   "invalid_type")


def json_type(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a decimal"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


def default_error(status: int, model: str | None) -> tuple[str, str | None, str]:
    etype, code, message = _DEFAULTS.get(status, ("api_error", None, f"Upstream error {status}."))
    return etype, code, message.replace("{model}", model or "unknown")
