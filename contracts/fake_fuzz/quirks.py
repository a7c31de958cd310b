"""Where the official document and the real API disagree: findings that are the spec's quirk, not the fake's bug.

Each quirk names the document, the operation, a pattern on the finding, and why the fake is right. Anything not
listed here is a spec violation the fuzz benchmark counts against the fake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Quirk:
    document: str
    operation: str  # an operation label, or "*"
    pattern: str  # regex searched in the finding
    why: str


QUIRKS: tuple[Quirk, ...] = (
    Quirk("*", "*", r"valid request rejected \(401\)",
          "not a quirk of the spec: the fuzzer sends a key; kept so a misconfigured run is named, not hidden"),
    Quirk("openai-official", "*", r"valid request rejected \(400\): stream_options: ",
          "the API refuses stream_options without stream: true, which the schema cannot say"),
    Quirk("openai-official", "*", r"valid request rejected \(400\): (messages|input): .*'json'",
          "json_object output needs the word 'json' in the messages (API rule, not in the schema)"),
    Quirk("openai-official", "*", r"valid request rejected \(400\): tool_choice: .*only allowed when 'tools'",
          "the API refuses tool_choice without tools, which the schema cannot say"),
    Quirk("openai-official", "*", r"valid request rejected \(400\): (messages|input): This model's maximum context",
          "a generated prompt over the model's context window gets the provider's 400, as it should"),
    Quirk("*", "*", r"valid request rejected \(400\): (max_tokens: max_tokens is too large|-: max_tokens: \d+ > \d+, "
          r"which is the maximum allowed number of output tokens)",
          "max_tokens above the model's output limit is refused by the API; the schema has no per-model bound"),
    Quirk("openai-official", "*", r"valid request rejected \(400\): tool_choice: Tool choice '.*' not found",
          "the API refuses a tool_choice naming a tool that is not in tools; the document cannot say so"),
    Quirk("openai-official", "*", r"valid request rejected \(404\): model: This is not a chat model",
          "the document allows any model id; an embedding model on chat is the API's 404"),
    Quirk("openai-official", "GET /models/{model}", r"valid request rejected \(404\)",
          "a generated model id the fake does not serve is the API's 404"),
    Quirk("*", "*", r"valid request rejected \(400\): .*(Unrecognized request argument supplied|Unknown parameter"
          r"|Extra inputs are not permitted)",
          "the document allows additional properties; the API refuses parameters it does not know"),
    Quirk("openai-official", "POST /responses", r"valid request rejected \(400\): (model|input): Missing required",
          "the document leaves model and input optional because a stored prompt or conversation can supply them; "
          "the fake stores neither, so it asks for both, as the API does without them"),
    Quirk("openai-official", "POST /responses", r"valid request rejected \(4\d\d\): previous_response_id: ",
          "the fake stores no responses, so a previous_response_id is never found, as for an unknown id"),
    Quirk("openai-official", "POST /embeddings", r"response breaks the schema",
          "with encoding_format base64 the API returns each embedding as a base64 string; the document types "
          "it as an array of numbers only"),
    Quirk("openai-official", "POST /embeddings", r"valid request rejected \(400\): dimensions: ",
          "the document gives dimensions no upper bound; the API refuses more than the model's size"),
    Quirk("openai-official", "*", r"valid request rejected \(400\): [\w.\[\]]*: Invalid '[\w.\[\]]+': integer "
          r"below minimum value",
          "the document gives no minimum (e.g. max_tokens, n); the API refuses values below 1"),
    Quirk("openai-official", "POST /embeddings", r"valid request rejected \(400\): input: '\$\.input' is invalid",
          "the document allows any integers as token ids and empty strings; the API refuses ids outside the "
          "vocabulary and empty inputs"),
    Quirk("openai-official", "POST /responses", r"valid request rejected \(404\): conversation: Conversation with id",
          "the fake stores no conversations, so a conversation id is never found, as for an unknown id"),
    Quirk("openai-official", "POST /responses", r"valid request rejected \(4\d\d\): input: Item with id '.*' not found",
          "the fake stores no items, so an item_reference is never found, as for an unknown id"),
    Quirk("openai-official", "POST /chat/completions",
          r"valid request rejected \(400\): messages\[\d+\]\.content: Missing required parameter",
          "the API wants content on a message unless an assistant message carries tool_calls; the document marks "
          "content optional or nullable for every role"),
    Quirk("*", "*", r"valid request rejected \(400\): .*(Input should be a valid integer|expected an integer, but got)",
          "integers beyond 64 bits (and non-integral numbers): the document sets no bound; the APIs refuse them"),
    Quirk("openai-official", "*",
          r"valid request rejected \(400\): tools\[\d+\]\.((function|custom)\.name: Missing required parameter|"
          r"name: Invalid 'tools\[\d+\]\.name': string too short)",
          "the API wants a tool name matching ^[a-zA-Z0-9_-]{1,64}$; the document allows any string, even empty"),
    Quirk("openai-official", "POST /chat/completions", r"response breaks the schema: Unknown discriminator value",
          "tool_calls' discriminator has no mapping, so validators expect component names as `type`; the API "
          "(and the fake) send `function`"),
    Quirk("openai-official", "POST /responses", r"response breaks the schema",
          "the API reference's own example response carries `user: null` (and null safety_identifier and "
          "prompt_cache_key when not given); the document types them as strings"),
    Quirk("anthropic-curated", "*", r"valid request rejected \(400\): .*(at least one message is required|"
          r"must have non-empty content|Input tag '|first message must use the \"user\" role|"
          r"system\.\d+\.\w+: Field required|content\.\d+\.(text|tool_use|tool_result|image|document)\.\w+: "
          r"Field required)",
          "our curated Anthropic document is looser than the API (empty message lists, empty content, unknown "
          "block types, a first message not from the user, system blocks without type, a known block type without "
          "its fields: the API answers `messages.1.content.0.tool_use.id: Field required`): anthropic.yaml should "
          "say so; the fake answers as the API does"),
)


def documented_quirk(document: str, operation: str, finding: str, body: Any = None) -> str | None:
    """The quirk's `why` when a documented quirk explains `finding`, else None."""
    for q in QUIRKS:
        if q.document not in ("*", document) or q.operation not in ("*", operation):
            continue
        if re.search(q.pattern, finding, re.S):
            return f"quirk: {q.why}"
    return None
