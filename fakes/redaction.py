"""The one list of credentials gatedrill never writes down, and the functions that apply it.

Everything that writes data a client or gateway sent (the fakes' journals and control API, the client records,
the run record, logs and reports) passes it through here. A credential is a header or body key named in the
lists below, or any name that says it holds one (`...api-key`, `...token`, `...secret`, ...), or a string that
looks like a key (`sk-...`, `Bearer ...`, AWS access key ids and SigV4 signatures, Google API keys).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

REDACTED = "[redacted]"

CREDENTIAL_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie",
    "x-api-key", "api-key", "openai-api-key", "anthropic-api-key", "x-goog-api-key",
    "x-portkey-api-key", "x-litellm-api-key", "x-amz-security-token", "x-gatedrill-control-token",
})
CREDENTIAL_KEYS = frozenset({
    "api_key", "apikey", "api_keys", "master_key", "access_token", "refresh_token", "id_token", "password",
    "secret", "client_secret", "aws_secret_access_key", "aws_session_token", "private_key", "control_token",
})
# any other name that says it holds a credential, e.g. x-foo-api-key, virtual_key, x-bar-token (not max_tokens)
_CREDENTIAL_NAME = re.compile(r"(?:api[-_]?key|secret|password|passwd|credential|virtual[-_]?key)s?$|(?:^|[-_])token$",
                              re.I)
KEY_LIKE = re.compile(
    r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{8,}"
    r"|Bearer\s+[A-Za-z0-9._~+/=\-]{8,}"
    r"|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_\-]{30,}"
    r"|Credential=[^\s,]+|Signature=[0-9a-f]{16,})"
)


def _is_credential(name: str) -> bool:
    low = name.lower()
    if low in CREDENTIAL_HEADERS or low in CREDENTIAL_KEYS:
        return True
    return _CREDENTIAL_NAME.search(low) is not None


# Verdicts by name: a request's keys and header names repeat, and the regex cost a tenth of a request's CPU.
# Bounded, because clients choose the names: past the bound a name is checked afresh (and not stored).
_VERDICTS: dict[str, bool] = {}
_VERDICTS_MAX = 4096


def is_credential(name: str) -> bool:
    """Does a header name or body key hold a credential?"""
    verdict = _VERDICTS.get(name)
    if verdict is None:
        verdict = _is_credential(name)
        if len(_VERDICTS) < _VERDICTS_MAX:
            _VERDICTS[name] = verdict
    return verdict


def redact_text(text: str) -> str:
    """A string with key-looking runs replaced."""
    return KEY_LIKE.sub(REDACTED, text)


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Header values of credentials replaced; a JSON header value (e.g. `x-portkey-config`) redacted inside."""
    out = headers
    verdicts = _VERDICTS
    for k, v in headers.items():
        cred = verdicts.get(k)
        if cred is None:
            cred = is_credential(k)
        if cred:
            new = REDACTED
        elif v[:1] == "{":
            new = _redact_json_text(v)
        elif "sk-" not in v and "Bearer" not in v and "AKIA" not in v:
            continue
        else:
            new = redact_text(v)
        if new is not v:
            if out is headers:
                out = dict(headers)
            out[k] = new
    return out


def _redact_json_text(text: str) -> str:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return redact_text(text)
    clean = redact_body(data)
    return text if clean is data else orjson.dumps(clean).decode()


def _hidden(value: Any) -> Any:
    """A credential's value replaced, keeping its shape (a list of keys stays a list), so a redacted config or
    scenario still loads."""
    if isinstance(value, list | tuple):
        return [REDACTED] * len(value)
    if isinstance(value, dict):
        return dict.fromkeys(value, REDACTED)
    return REDACTED


def redact_body(value: Any) -> Any:
    """JSON-like data with credential keys' values replaced. Returns `value` itself when nothing changes, so the
    common case (a chat body with no credentials) costs a walk and no copy."""
    if isinstance(value, dict):
        out = value
        verdicts = _VERDICTS
        for k, v in value.items():
            cred = verdicts.get(k)
            if cred is None:
                cred = isinstance(k, str) and is_credential(k)
            if cred and v:
                new = _hidden(v)
            elif isinstance(v, dict | list):
                new = redact_body(v)
            else:
                continue  # a scalar under an ordinary key: kept as it is
            if new is not v:
                if out is value:
                    out = dict(value)
                out[k] = new
        return out
    if isinstance(value, list):
        changed = None
        for i, v in enumerate(value):
            if isinstance(v, dict | list):
                new = redact_body(v)
                if new is not v:
                    if changed is None:
                        changed = list(value)
                    changed[i] = new
        return value if changed is None else changed
    return value


def redact(value: Any) -> Any:
    """For reports and logs: credential keys and key-looking strings, at any depth, replaced."""
    if isinstance(value, dict):
        return {k: (_hidden(v) if isinstance(k, str) and v and is_credential(k) else redact(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
