"""Parse Gemini `generateContent` and `countTokens` bodies into a neutral `ChatRequest`.

Roles are `user` and `model`; `systemInstruction` is a Content whose parts become system atoms;
`functionCall.args` is an object and a result returns as `functionResponse` in a user turn. A function
response's `{"content"|"output"|"result": "text"}` counts as that text, so a tool result that a gateway
translated from OpenAI's string content digests the same as the original.
"""

from __future__ import annotations

from typing import Any

import orjson

from ...conversation import Atom, ChatRequest, ToolSpec
from .exceptions import invalid

REQUEST_FIELDS = frozenset({
    "contents", "systemInstruction", "system_instruction", "tools", "toolConfig", "tool_config", "safetySettings",
    "safety_settings", "generationConfig", "generation_config", "cachedContent", "cached_content", "labels",
    "model",
})
GENERATION_FIELDS = frozenset({
    "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "stopSequences", "seed",
    "responseMimeType", "responseSchema", "responseJsonSchema", "presencePenalty", "frequencyPenalty",
    "responseLogprobs", "logprobs", "thinkingConfig", "responseModalities", "speechConfig", "mediaResolution",
    "enableEnhancedCivicAnswers", "imageConfig",
})
_RESULT_KEYS = ("content", "output", "result")


def _camel(body: dict[str, Any], key: str, snake: str) -> Any:
    return body.get(key, body.get(snake))


def camel_keys(obj: Any) -> Any:
    """One object's own field names in lowerCamelCase: the API's proto JSON accepts `max_output_tokens` as well
    as `maxOutputTokens` (LiteLLM sends the former). Values are left alone (args, schemas, responses are data)."""
    if not isinstance(obj, dict):
        return obj
    out = {}
    for k, v in obj.items():
        head, *rest = k.split("_")
        out[head + "".join(w[:1].upper() + w[1:] for w in rest) if rest else k] = v
    return out


def function_result_text(response: Any) -> str:
    if isinstance(response, dict) and len(response) == 1:
        key, value = next(iter(response.items()))
        if key in _RESULT_KEYS and isinstance(value, str):
            return value
    if isinstance(response, str):
        return response
    return orjson.dumps(response, option=orjson.OPT_SORT_KEYS).decode()


def gemini_atoms(system: Any, contents: list[dict[str, Any]]) -> list[Atom]:
    atoms: list[Atom] = []
    if isinstance(system, dict):
        for part in system.get("parts") or []:
            if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]:
                atoms.append(("system", "text", part["text"]))
    for content in contents:
        role = "assistant" if content.get("role") == "model" else "user"
        for part in content.get("parts") or []:
            if "text" in part:
                if part["text"] and not part.get("thought"):
                    atoms.append((role, "text", part["text"]))
            elif "functionCall" in part:
                call = part["functionCall"]
                atoms.append((role, "tool_call", (call.get("id"), call.get("name"), call.get("args") or {})))
            elif "functionResponse" in part:
                res = part["functionResponse"]
                atoms.append(("tool", "tool_result", (res.get("id") or res.get("name"),
                                                       function_result_text(res.get("response")))))
            else:
                atoms.append((role, next(iter(part), "unknown"),
                              orjson.dumps(part, option=orjson.OPT_SORT_KEYS).decode()))
    return atoms


def _contents(value: Any) -> list[dict[str, Any]]:
    if value is None or value == []:
        raise invalid("* GenerateContentRequest.contents: contents is not specified\n")
    if not isinstance(value, list):
        raise invalid('Invalid value at \'contents\' (type.googleapis.com/google.ai.generativelanguage.v1beta.'
                      'Content), "' + str(value)[:40] + '"')
    normalized = []
    for i, content in enumerate(value):
        if not isinstance(content, dict):
            raise invalid(f"Invalid value at 'contents[{i}]': expected a Content object")
        role = content.get("role")
        if role not in (None, "", "user", "model"):
            raise invalid("Please use a valid role: user, model.")
        parts = content.get("parts")
        if isinstance(parts, list):
            parts = [camel_keys(p) for p in parts]
            normalized.append({**content, "parts": parts})
        if not isinstance(parts, list) or not parts:
            raise invalid(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n")
        for j, part in enumerate(parts):
            if not isinstance(part, dict) or not part:
                raise invalid(f"* GenerateContentRequest.contents[{i}].parts[{j}].data: required oneof field "
                              "'data' must have one initialized field\n")
            call = part.get("functionCall")
            if call is not None and (not isinstance(call, dict) or not isinstance(call.get("name"), str)):
                raise invalid(f"* GenerateContentRequest.contents[{i}].parts[{j}].function_call.name: "
                              "Name cannot be empty.\n")
            if call is not None and not isinstance(call.get("args", {}), dict):
                raise invalid(f"Invalid value at 'contents[{i}].parts[{j}].function_call.args' "
                              "(type.googleapis.com/google.protobuf.Struct)")
    return normalized


def _tools(value: Any) -> tuple[list[ToolSpec], int]:
    if value is None:
        return [], 0
    if not isinstance(value, list):
        raise invalid("Invalid value at 'tools': expected a list of Tool objects")
    specs, chars = [], 0
    for i, tool in enumerate(value):
        if not isinstance(tool, dict):
            raise invalid(f"Invalid value at 'tools[{i}]': expected a Tool object")
        for k, decl in enumerate(_camel(tool, "functionDeclarations", "function_declarations") or []):
            decl = camel_keys(decl)
            name = decl.get("name") if isinstance(decl, dict) else None
            if not isinstance(name, str) or not name:
                raise invalid(f"* GenerateContentRequest.tools[{i}].function_declarations[{k}].name: "
                              "Name cannot be empty.\n")
            schema = decl.get("parametersJsonSchema") or decl.get("parameters") or {"type": "object", "properties": {}}
            specs.append(ToolSpec(name, decl.get("description") or "", _lower_types(schema)))
            chars += len(orjson.dumps(decl))
    return specs, chars // 4


def _lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI subset spells types in capitals (`OBJECT`); JSON Schema in lower case."""
    if isinstance(schema, dict):
        return {k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema


def _tool_choice(config: Any) -> Any:
    if not isinstance(config, dict):
        return None
    fcc = camel_keys(_camel(config, "functionCallingConfig", "function_calling_config") or {})
    mode = str(fcc.get("mode") or "AUTO").upper()
    if mode == "NONE":
        return "none"
    if mode in ("ANY", "VALIDATED"):
        names = _camel(fcc, "allowedFunctionNames", "allowed_function_names") or []
        return {"name": names[0]} if len(names) == 1 else "any"
    return None


def _generation(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid value at 'generation_config' (type.googleapis.com/google.ai.generativelanguage."
                      "v1beta.GenerationConfig)")
    value = camel_keys(value)
    for key in value:
        if key not in GENERATION_FIELDS:
            raise invalid(f'Invalid JSON payload received. Unknown name "{key}" at \'generation_config\': '
                          "Cannot find field.")
    n = value.get("candidateCount", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 8:
        raise invalid("Invalid value for candidateCount: the supported range is from 1 to 8.")
    mx = value.get("maxOutputTokens")
    if mx is not None and (not isinstance(mx, int) or isinstance(mx, bool) or mx < 1):
        raise invalid("Invalid value for maxOutputTokens: it must be a positive integer.")
    return value


def parse_generate(body: Any, model: str, stream: bool) -> ChatRequest:
    """A `generateContent` / `streamGenerateContent` body; the model comes from the path."""
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    for key in body:
        if key not in REQUEST_FIELDS:
            raise invalid(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
    contents = _contents(body.get("contents"))
    system = _camel(body, "systemInstruction", "system_instruction")
    if system is not None and not isinstance(system, dict):
        raise invalid("Invalid value at 'system_instruction' (type.googleapis.com/google.ai.generativelanguage."
                      "v1beta.Content)")
    gen = _generation(_camel(body, "generationConfig", "generation_config"))
    tools, tool_tokens = _tools(body.get("tools"))
    atoms = gemini_atoms(system, contents)
    schema = gen.get("responseJsonSchema") or gen.get("responseSchema")
    response_format = None
    if gen.get("responseMimeType") == "application/json":
        response_format = {"type": "json_schema", "json_schema": {"schema": _lower_types(schema)}} if schema else {
            "type": "json_object"}
    stops = gen.get("stopSequences") or []
    return ChatRequest(
        model=model, atoms=atoms, max_tokens=gen.get("maxOutputTokens"), stream=stream, include_usage=True,
        n=gen.get("candidateCount", 1), stop=[s for s in stops if isinstance(s, str)], seed=gen.get("seed"),
        tools=tools, tool_choice=_tool_choice(_camel(body, "toolConfig", "tool_config")),
        response_format=response_format, extra_prompt_tokens=tool_tokens, marker=_marker_in(atoms),
    )


def parse_count_tokens(body: Any, model: str) -> ChatRequest:
    """`countTokens`: `contents`, or a whole `generateContentRequest`."""
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    inner = _camel(body, "generateContentRequest", "generate_content_request")
    if isinstance(inner, dict):
        return parse_generate({k: v for k, v in inner.items() if k != "model"}, model, False)
    for key in body:
        if key not in ("contents",):
            raise invalid(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
    return parse_generate(body, model, False)


def _marker_in(atoms: list[Atom]) -> str | None:
    for _, kind, payload in atoms:
        if kind == "text" and "gd:" in payload:
            return str(payload)
    return None
