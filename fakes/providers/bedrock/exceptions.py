"""Bedrock Runtime errors: the type in `x-amzn-ErrorType`, a `{"message"}` body, no Retry-After; and the same
errors as exception messages inside a 200 event stream (camelCase member names)."""

from __future__ import annotations

import orjson

from ...plan import ApiError

CORAL = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
# status -> (error type, default message)
ERRORS: dict[int, tuple[str, str]] = {
    400: ("ValidationException", "Malformed input request, please reformat your input and try again."),
    403: ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
    404: ("ResourceNotFoundException", "The requested resource could not be found."),
    408: ("ModelTimeoutException", "Model has timed out in processing the request. Try your request again."),
    424: ("ModelErrorException", "The model returned an error. Try your request again."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "The system encountered an unexpected error during processing. Try your "
                                     "request again."),
    503: ("ServiceUnavailableException", "Bedrock is unable to process your request."),
}
# status -> event-stream exception member of ConverseStreamOutput
STREAM_EXCEPTIONS = {400: "validationException", 429: "throttlingException", 500: "internalServerException",
                     503: "serviceUnavailableException"}
TOO_LONG = "Input is too long for requested model."
INVALID_MODEL = "The provided model identifier is invalid."


def error_type(status: int) -> str:
    return ERRORS.get(status, ("InternalServerException", ""))[0]


def default_message(status: int) -> str:
    return ERRORS.get(status, ("", f"Upstream error {status}."))[1]


def validation(message: str) -> ApiError:
    return ApiError(400, message, "ValidationException")


def body(err: ApiError) -> bytes:
    return orjson.dumps({"message": err.message})


def stream_exception(status: int, message: str | None) -> tuple[str, bytes]:
    """(exception member, payload) for an error inside a stream; unknown statuses are model stream errors."""
    member = STREAM_EXCEPTIONS.get(status)
    if member is not None:
        return member, orjson.dumps({"message": message or default_message(status)})
    original = message or {529: "Overloaded", 424: "Model stream error."}.get(status, "Internal server error")
    return "modelStreamErrorException", orjson.dumps({
        "message": f"Received error from the model with status code {status}: {original}",
        "originalStatusCode": status, "originalMessage": original})
