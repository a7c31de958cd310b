"""Hypothesis strategies for chat requests and conversations, in the OpenAI and the Anthropic dialect.

Every conversation is drawn once in the OpenAI shape (the unified shape gateways accept) and the Anthropic
shape is derived from it with `to_anthropic`, so one draw tests both sides of a translation. Requests are
built from small pieces (lists, builds, composites; no filters), so a failing example shrinks to a one-turn
conversation with one-character texts. Everything drawn is valid for the real APIs as the fakes enforce
them: non-blank texts, unique tool-call ids, tools defined for every tool call, results right after calls.

>>> from hypothesis import given
>>> @given(openai_chat_requests(tools=True))
... def test_gateway_accepts(body): ...
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

import orjson
from hypothesis import assume
from hypothesis import strategies as st

from gatedrill.fakes.conversation import canonical_args
from gatedrill.fakes.tokenizer import count_approx, count_atoms

Dialect = Literal["openai", "anthropic"]
Body = dict[str, Any]

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
DEFAULT_MAX_TOKENS = 1024

EMOJI = "😀🎉👍🏽🚀🔥🇫🇷👨‍👩‍👧❤️✨🤖"
_NON_BLANK = st.characters(codec="utf-8", categories=("L", "N", "P", "S"))
_ANY_CHAR = st.characters(codec="utf-8", exclude_categories=("Cs", "Co", "Cn"), exclude_characters="\x00")
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz_"
_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

# -- text ---------------------------------------------------------------------------------------------------


def _joined(parts: list[str]) -> str:
    return "".join(parts)


@lru_cache(maxsize=64)
def texts(max_size: int = 40, long: bool = True) -> st.SearchStrategy[str]:
    """Message text: never blank (the Anthropic API rejects whitespace-only blocks); ASCII words, any
    Unicode, emoji (with skin tones, flags and ZWJ sequences) and, with `long`, texts of thousands of
    characters. Shrinks to "0"."""
    plain = st.builds(str.__add__, _NON_BLANK.map(str), st.text(_ANY_CHAR, max_size=max_size))
    words = st.lists(st.sampled_from(["hello", "tokens", "gateway", "naïve", "日本語", "Ünïcödé", "x"]),
                     min_size=1, max_size=8).map(" ".join)
    emoji = st.lists(st.sampled_from([*EMOJI.replace("\u200d", "").replace("\ufe0f", ""), "👨‍👩‍👧", "❤️"]),
                     min_size=1, max_size=6).map(_joined)
    options = [plain, words, emoji]
    if long:
        options.append(st.builds(str.__mul__, st.sampled_from(["lorem ipsum ", "数据 ", "🙂 x "]),
                                 st.integers(200, 2000)))
    return st.one_of(*options)


@lru_cache(maxsize=1)
def tool_names() -> st.SearchStrategy[str]:
    """Function names valid for both providers (`^[a-zA-Z0-9_-]{1,64}$`)."""
    return st.text(_NAME_CHARS, min_size=1, max_size=16)


@lru_cache(maxsize=1)
def tool_arguments() -> st.SearchStrategy[dict[str, Any]]:
    """A tool call's arguments: a small JSON object."""
    scalar = st.one_of(st.integers(-1000, 1000), st.booleans(), st.text(_ANY_CHAR, max_size=12), st.none())
    return st.dictionaries(st.text(_NAME_CHARS, min_size=1, max_size=8), scalar, max_size=3)


# -- tools --------------------------------------------------------------------------------------------------


def _tool(name: str, description: str, props: list[str]) -> Body:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": {p: {"type": "string"} for p in props}}}}


@lru_cache(maxsize=8)
def openai_tools(min_size: int = 1, max_size: int = 3) -> st.SearchStrategy[list[Body]]:
    """OpenAI function tool definitions with distinct names."""
    one = st.builds(_tool, tool_names(), st.text(_ANY_CHAR, max_size=20),
                    st.lists(st.text(_NAME_CHARS, min_size=1, max_size=6), max_size=3, unique=True))
    return st.lists(one, min_size=min_size, max_size=max_size, unique_by=lambda t: t["function"]["name"])


# -- conversations (OpenAI shape) --------------------------------------------------------------------------


_ONE_TO_THREE = st.integers(1, 3)
_ONE_OR_TWO = st.integers(1, 2)
_ID_SUFFIX = st.text(_ID_CHARS, max_size=12)
_BOOL = st.booleans()
_SYSTEM_ROLE = st.sampled_from(["system", "developer"])


@lru_cache(maxsize=8)
def _lead(text: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.just(""), text)


@lru_cache(maxsize=8)
def _content(long: bool, empty: bool) -> st.SearchStrategy[str]:
    text = texts(long=long)
    return st.one_of(text, st.just("")) if empty else text


@st.composite
def _tool_round(draw: st.DrawFn, tools: list[Body], call_index: int, text: st.SearchStrategy[str]) -> list[Body]:
    """An assistant turn that calls 1-3 tools (maybe after some text), then one tool message per call."""
    names = [t["function"]["name"] for t in tools]
    k = draw(_ONE_TO_THREE)
    lead = draw(_lead(text))
    calls = []
    for j in range(k):
        suffix = draw(_ID_SUFFIX)
        name = names[draw(st.integers(0, len(names) - 1))] if len(names) > 1 else names[0]
        calls.append({"id": f"call_{suffix}{call_index + j}", "type": "function", "function": {
            "name": name, "arguments": orjson.dumps(draw(tool_arguments())).decode()}})
    out: list[Body] = [{"role": "assistant", "content": lead, "tool_calls": calls}]
    for call in calls:
        out.append({"role": "tool", "tool_call_id": call["id"], "content": draw(text)})
    return out


@st.composite
def openai_conversations(draw: st.DrawFn, max_turns: int = 4, tools: list[Body] | None = None,
                         system: bool | None = None, long: bool = True, empty: bool = False) -> list[Body]:
    """OpenAI chat messages: an optional system prompt, then turns of user text (one or two messages in a
    row) answered by assistant text or by tool calls with their results. It ends with a user message or with
    tool results. With `tools`, tool calls use those definitions. `empty` lets user and system messages be
    "" (valid for OpenAI only)."""
    text = texts(long=long)
    content = _content(long, empty)
    messages: list[Body] = []
    if system is True or (system is None and draw(_BOOL)):
        sys_text = draw(content)
        role = draw(_SYSTEM_ROLE)
        messages.append({"role": role, "content": sys_text})
    turns = draw(st.integers(1, max_turns))
    calls = 0
    for turn in range(turns):
        for _ in range(draw(_ONE_OR_TWO)):
            messages.append(_user(draw(content), draw(_BOOL)))
        if turn == turns - 1:
            break
        if tools and draw(_BOOL):
            round_ = draw(_tool_round(tools, calls, text))
            calls += len(round_[0]["tool_calls"])
            messages.extend(round_)
            if turn == turns - 2 and not draw(_BOOL):
                return messages  # end on tool results (what it shrinks to): the model continues from them
            messages.append({"role": "assistant", "content": draw(text)})
        else:
            messages.append({"role": "assistant", "content": draw(text)})
    return messages


def _user(text: str, as_parts: bool) -> Body:
    """A user message whose content is a string or a list with one text part."""
    return {"role": "user", "content": [{"type": "text", "text": text}] if as_parts and text else text}


# -- sampling parameters -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _unit() -> st.SearchStrategy[float]:
    return st.floats(0, 1, allow_nan=False)


@lru_cache(maxsize=8)
def stop_sequences(max_size: int = 4) -> st.SearchStrategy[list[str]]:
    """Stop sequences: 1-4 non-blank strings (both providers reject blank ones)."""
    return st.lists(st.builds(str.__add__, _NON_BLANK.map(str), st.text(_NON_BLANK, max_size=5)),
                    min_size=1, max_size=max_size)


@lru_cache(maxsize=8)
def sampling_params(dialect: Dialect = "openai", portable: bool = False) -> st.SearchStrategy[Body]:
    """Sampling parameters, each present or not. `portable` keeps to what both providers accept (the subset a
    gateway can translate without loss: temperature 0-1, top_p, max_tokens, stop lists)."""
    max_tokens = st.integers(1, 4096)
    if dialect == "anthropic":
        return st.fixed_dictionaries({"max_tokens": max_tokens}, optional={
            "temperature": _unit(), "top_p": _unit(), "top_k": st.integers(0, 500),
            "stop_sequences": stop_sequences()})
    optional: dict[str, st.SearchStrategy[Any]] = {
        "temperature": _unit() if portable else st.floats(0, 2, allow_nan=False),
        "top_p": _unit(), "max_tokens": max_tokens, "stop": stop_sequences()}
    if not portable:
        optional.update({
            "max_completion_tokens": max_tokens, "stop": st.one_of(stop_sequences().map(lambda s: s[0]),
                                                                   stop_sequences()),
            "seed": st.integers(-(2**31), 2**31), "n": st.integers(1, 3),
            "presence_penalty": st.floats(-2, 2, allow_nan=False),
            "frequency_penalty": st.floats(-2, 2, allow_nan=False),
            "user": st.text(_ID_CHARS, min_size=1, max_size=16)})
    return st.fixed_dictionaries({}, optional=optional)


# -- whole requests ----------------------------------------------------------------------------------------


_TOOL_CHOICE = st.sampled_from(["omit", "auto", "required", "none", "named"])


@st.composite
def openai_chat_requests(draw: st.DrawFn, model: str = OPENAI_MODEL, tools: bool | None = None,
                         max_turns: int = 4, portable: bool = False, long: bool = True,
                         stream: bool | None = False, empty: bool = False) -> Body:
    """A whole `POST /v1/chat/completions` body. `tools=None` draws whether tools are defined; `portable`
    keeps to requests `to_anthropic` translates without loss; `stream=None` draws it."""
    defs = draw(openai_tools()) if (tools is None and draw(_BOOL)) or tools else []
    body: Body = {"model": model, "messages": draw(openai_conversations(max_turns=max_turns, tools=defs,
                                                                         long=long, empty=empty))}
    if defs:
        body["tools"] = defs
        choice = draw(_TOOL_CHOICE)
        if choice == "named":
            body["tool_choice"] = {"type": "function", "function": {"name": defs[0]["function"]["name"]}}
        elif choice != "omit":
            body["tool_choice"] = choice
    body.update(draw(sampling_params("openai", portable)))
    if stream is None:
        stream = draw(_BOOL)
    if stream:
        body["stream"] = True
        if draw(_BOOL):
            body["stream_options"] = {"include_usage": True}
    return body


def anthropic_messages_requests(model: str = ANTHROPIC_MODEL, tools: bool | None = None, max_turns: int = 4,
                                long: bool = True, stream: bool | None = False) -> st.SearchStrategy[Body]:
    """A whole `POST /v1/messages` body: an OpenAI request drawn portable and translated, with the Anthropic-only
    sampling parameters (top_k) sometimes added."""
    base = openai_chat_requests(model=model, tools=tools, max_turns=max_turns, portable=True, long=long,
                                stream=stream)
    extra = st.fixed_dictionaries({}, optional={"top_k": st.integers(0, 500)})
    return st.builds(lambda b, e: {**to_anthropic(b), **e}, base, extra)


def anthropic_conversations(max_turns: int = 4, tools: list[Body] | None = None, system: bool | None = None,
                            long: bool = True) -> st.SearchStrategy[Body]:
    """An Anthropic conversation: `{"messages": [...]}` plus `system` when there is one (the OpenAI
    conversation translated by `to_anthropic`: alternating turns, tool_use answered by tool_result). With `tools`
    (OpenAI definitions), send them along as Anthropic `tools`: the API wants every tool_use's tool defined."""

    def translate(messages: list[Body]) -> Body:
        out = to_anthropic({"model": "", "messages": messages})
        return {k: out[k] for k in ("system", "messages") if k in out}

    return openai_conversations(max_turns=max_turns, tools=tools, system=system, long=long).map(translate)


def chat_requests(dialect: Dialect = "openai", **kwargs: Any) -> st.SearchStrategy[Body]:
    """`openai_chat_requests` or `anthropic_messages_requests` by dialect name."""
    if dialect == "anthropic":
        return anthropic_messages_requests(**kwargs)
    return openai_chat_requests(**kwargs)


# -- the converter -----------------------------------------------------------------------------------------


def _text_blocks(content: Any) -> list[Body]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [{"type": "text", "text": p["text"]} for p in content or ()
            if isinstance(p, dict) and p.get("type") == "text" and p.get("text")]


def _tool_choice(choice: Any, parallel: Any) -> Body | None:
    if choice is None and parallel is not False:
        return None
    if choice is None or choice == "auto":
        out: Body = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    else:
        out = {"type": "tool", "name": choice["function"]["name"]}
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


def to_anthropic(body: Body, default_max_tokens: int = DEFAULT_MAX_TOKENS) -> Body:
    """Translate an OpenAI chat request into the Anthropic Messages request a correct gateway would send:
    system and developer messages hoisted into `system`, tool calls as `tool_use` blocks, tool messages as
    `tool_result` blocks leading the next user turn, consecutive same-role turns merged, `max_tokens` always
    set, temperature capped at Anthropic's 1, `stop` as `stop_sequences`, `user` as
    `metadata.user_id`. Parameters Anthropic lacks (n, seed,
    penalties, response_format, stream_options) are dropped."""
    system: list[str] = []
    turns: list[Body] = []
    for m in body["messages"]:
        role = m["role"]
        if role in ("system", "developer"):
            system.extend(b["text"] for b in _text_blocks(m.get("content")))
            continue
        if role == "tool":
            role, blocks = "user", [{"type": "tool_result", "tool_use_id": m["tool_call_id"],
                                     "content": _flat_text(m.get("content"))}]
        else:
            blocks = _text_blocks(m.get("content"))
            for call in m.get("tool_calls") or ():
                fn = call["function"]
                args = canonical_args(fn.get("arguments") or "{}")
                blocks.append({"type": "tool_use", "id": call["id"], "name": fn["name"],
                               "input": args if isinstance(args, dict) else {}})
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for t in turns:  # results lead their user turn, as the API requires
        t["content"].sort(key=lambda b: b["type"] != "tool_result")
    out: Body = {"model": body["model"], "messages": [t for t in turns if t["content"]]}
    if system:
        out["system"] = system[0] if len(system) == 1 else [{"type": "text", "text": s} for s in system]
    out["max_tokens"] = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    for key in ("temperature", "top_p", "stream"):
        if body.get(key) is not None:
            out[key] = body[key]
    if isinstance(out.get("temperature"), int | float) and out["temperature"] > 1:
        out["temperature"] = 1.0  # OpenAI allows up to 2, Anthropic up to 1
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        out["tools"] = [{"name": t["function"]["name"], "description": t["function"].get("description") or "",
                         "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}}}
                        for t in body["tools"]]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None and body.get("tools"):
        out["tool_choice"] = choice
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    return out


def _flat_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b["text"] for b in _text_blocks(content))


# -- requests near a context window ------------------------------------------------------------------------


def prompt_tokens(body: Body, dialect: Dialect = "openai") -> int:
    """Prompt tokens a fake (default `approx` tokenizer) counts for a request body, tools included."""
    chat = _parse(body, dialect)
    return chat.extra_prompt_tokens + count_atoms(chat.atoms, count_approx)


def _parse(body: Body, dialect: Dialect) -> Any:
    if dialect == "anthropic":
        from gatedrill.fakes.providers.anthropic.requests import parse_messages

        return parse_messages(body)
    from gatedrill.fakes.providers.openai.requests import parse_chat

    return parse_chat(body)


def _filler(tokens: int) -> str:
    """Text of exactly `tokens` tokens under the approx tokenizer (one per " a" piece)."""
    return "a" + " a" * (tokens - 1)


@st.composite
def requests_near_window(draw: st.DrawFn, window: int, dialect: Dialect = "openai", slack: int = 8,
                         model: str | None = None, max_tokens: st.SearchStrategy[int] | None = None) -> Body:
    """A request whose prompt tokens plus `max_tokens` land within `slack` of `window`, on either side, as
    the fakes count them (`prompt_tokens`): `window_overshoot(body, window, dialect)` > 0 means a fake with
    that window answers a context error. The padding is one extra text atom ahead of the first user text."""
    model = model or (ANTHROPIC_MODEL if dialect == "anthropic" else OPENAI_MODEL)
    base = draw(openai_chat_requests(model=model, tools=False, max_turns=2, portable=True, long=False))
    base.pop("max_completion_tokens", None)
    base["max_tokens"] = draw(max_tokens if max_tokens is not None else st.integers(1, 256))
    offset = draw(st.integers(-slack, slack))
    first_user = next(i for i, m in enumerate(base["messages"]) if m["role"] == "user")
    body = to_anthropic(base) if dialect == "anthropic" else base
    current = prompt_tokens(body, dialect) + body["max_tokens"]
    need = window + offset - current - 3  # 3: the per-atom overhead of the padding text
    assume(need >= 1)
    if dialect == "anthropic":
        body["messages"][0]["content"].insert(0, {"type": "text", "text": _filler(need)})
    else:
        body["messages"].insert(first_user, {"role": "user", "content": _filler(need)})
    return body


def window_overshoot(body: Body, window: int, dialect: Dialect = "openai") -> int:
    """Prompt tokens + max_tokens - window: positive when a fake with that window refuses the request."""
    return prompt_tokens(body, dialect) + int(body.get("max_completion_tokens") or body.get("max_tokens") or 0) - window


__all__ = [
    "ANTHROPIC_MODEL",
    "DEFAULT_MAX_TOKENS",
    "OPENAI_MODEL",
    "anthropic_conversations",
    "anthropic_messages_requests",
    "chat_requests",
    "openai_chat_requests",
    "openai_conversations",
    "openai_tools",
    "prompt_tokens",
    "requests_near_window",
    "sampling_params",
    "stop_sequences",
    "texts",
    "to_anthropic",
    "tool_arguments",
    "tool_names",
    "window_overshoot",
]
