"""Azure OpenAI routes: the deployment path with a required `api-version`, and the newer `/openai/v1/` path
(OpenAI's own routes under a prefix, api-version optional)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote

from ...plan import ApiError

DEPLOYMENT = re.compile(r"^/openai/deployments/([^/]+)/(chat/completions|embeddings|completions)$")
V1 = {("POST", "/openai/v1/chat/completions"): "chat", ("POST", "/openai/v1/responses"): "responses",
      ("POST", "/openai/v1/embeddings"): "embeddings", ("GET", "/openai/v1/models"): "models"}
CHAT_ENDPOINTS = frozenset({"chat", "responses"})
# GA and preview versions the fake serves; RETIRED ones answer 400 "API version not supported"; any other
# value is "Resource not found", as the service answers for a version it does not know.
SUPPORTED_VERSIONS = frozenset({
    "2023-05-15", "2024-02-01", "2024-06-01", "2024-10-21", "2025-04-14",
    "2024-02-15-preview", "2024-05-01-preview", "2024-08-01-preview", "2024-09-01-preview", "2024-10-01-preview",
    "2024-12-01-preview", "2025-01-01-preview", "2025-03-01-preview", "2025-04-01-preview",
})
RETIRED_VERSIONS = frozenset({"2022-12-01", "2023-03-15-preview", "2023-06-01-preview", "2023-07-01-preview"})
NOT_FOUND = ApiError(404, "Resource not found", "azure", None, "404")


def route(method: str, path: str, query: str) -> tuple[str, dict[str, str]]:
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    ep = V1.get((method, path))
    if ep is not None:
        return ep, params
    m = DEPLOYMENT.match(path)
    if m is None or method != "POST":
        raise NOT_FOUND
    version = params.get("api-version")
    if version in RETIRED_VERSIONS:
        raise ApiError(400, "API version not supported", "azure", None, "BadRequest")
    if version not in SUPPORTED_VERSIONS:
        raise NOT_FOUND
    kind = m.group(2)
    return ("chat" if kind == "chat/completions" else kind), {**params, "deployment": unquote(m.group(1))}
