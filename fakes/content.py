"""Reply content, provider-neutral: seeded text, echo, scripted rules and witness replies.

Content is a pure function of the fake's seed, the request's `seed` and the conversation digest, so a
streamed and a non-streamed request with the same inputs get the same reply. Text is produced as pieces
(one stream chunk each) whose concatenation is the full text.
"""

from __future__ import annotations

import fnmatch
import hashlib
import random
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from .config import FakeConfig, ScriptRule
from .conversation import ChatRequest, digest
from .faults import Fault
from .tokenizer import PIECE, count_approx

_WORDS = (
    "the of and to in is was for on that with as by at from it this be are or an have not which but all "
    "were when we there can more if will one about up out many then them these so some her would make "
    "like him into time has look two go see way could people my than first water been call who oil its "
    "now find long down day did get come made may part over new sound take only little work know place "
    "year live me back give most very after thing our just name good sentence man think say great where "
    "help through much before line right too mean old any same tell boy follow came want show also "
    "around form three small set put end does another well large must big even such because turn here "
    "why ask went men read need land different home us move try kind hand picture again change off play "
    "spell air away animal house point page letter mother answer found study still learn should world "
    "high every near add food between own below country plant last school father keep tree never start "
    "city earth "
).split()
# Every corpus piece (" word", " Word" or ".") is exactly one token under the default tokenizer.
_WORDS = [w for w in _WORDS if len(w) <= 8]


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class Choice:
    pieces: list[str]
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish: str = "stop"  # neutral: stop | length | tool_calls | stop_sequence
    stop_sequence: str | None = None
    tokens: int = -1  # completion tokens when already known (corpus text under the default tokenizer)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


@dataclass(slots=True)
class Reply:
    choices: list[Choice]
    digest: str
    rule: str | None = None


def _corpus(size: int = 1 << 16) -> list[str]:
    """A fixed pseudo-random run of one-token pieces; replies are slices of it, so generation is O(1)."""
    rng = random.Random(0x6A7E)
    pieces: list[str] = []
    since_stop = 0
    for _ in range(size):
        if since_stop >= 6 and rng.random() < 0.18:
            pieces.append(".")
            since_stop = 0
            continue
        w = _WORDS[int(rng.random() * len(_WORDS))]
        pieces.append(" " + (w.capitalize() if pieces and pieces[-1] == "." else w))
        since_stop += 1
    return pieces


_CORPUS = _corpus()
_CORPUS_SPAN = len(_CORPUS) - 4096


def _key(cfg: FakeConfig, req: ChatRequest, conv_digest: str, index: int) -> int:
    key = f"{cfg.seed}|{req.seed}|{req.model}|{conv_digest}|{index}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "big")


def _seeded_pieces(key: int, n: int) -> list[str]:
    start = key % _CORPUS_SPAN
    while _CORPUS[start] == ".":
        start += 1
    pieces: list[str] = []
    while n > 0:
        take = min(n, len(_CORPUS) - start)
        pieces.extend(_CORPUS[start : start + take])
        n -= take
        start = 0
    first = pieces[0].lstrip()
    pieces[0] = first[:1].upper() + first[1:]
    return pieces


def split_pieces(text: str) -> list[str]:
    """Cut text into token-like pieces whose concatenation is the text."""
    return PIECE.findall(text)


def _schema_value(schema: Any, rng: random.Random, depth: int = 0) -> Any:
    """A small value that satisfies a JSON schema's basic shape (type, enum, properties, items)."""
    if not isinstance(schema, dict):
        return "value"
    if schema.get("enum"):
        return schema["enum"][int(rng.random() * len(schema["enum"]))]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return _schema_value(schema[key][0], rng, depth + 1)
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "null")
    if t == "object" or (t is None and "properties" in schema):
        if depth > 4:
            return {}
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {k: _schema_value(props.get(k, {}), rng, depth + 1) for k in required if k in props}
    if t == "array":
        return [_schema_value(schema.get("items", {}), rng, depth + 1) for _ in range(1 + int(rng.random() * 2))]
    if t == "integer":
        return int(rng.random() * 100)
    if t == "number":
        return round(rng.random() * 100, 2)
    if t == "boolean":
        return rng.random() < 0.5
    if t == "null":
        return None
    return _WORDS[int(rng.random() * len(_WORDS))]


def _apply_limits(pieces: list[str], req: ChatRequest, count: Any, one_token_pieces: bool = False) -> Choice:
    """Cut at the first stop sequence, then at max_tokens."""
    if req.stop:
        text = "".join(pieces)
        cut, which = -1, None
        for s in req.stop:
            if not s:
                continue
            i = text.find(s)
            if i != -1 and (cut == -1 or i < cut):
                cut, which = i, s
        if cut != -1:
            kept, total = [], 0
            for p in pieces:
                if total + len(p) <= cut:
                    kept.append(p)
                    total += len(p)
                else:
                    if cut - total > 0:
                        kept.append(p[: cut - total])
                    break
            pieces = kept
            choice = Choice(pieces, finish="stop_sequence", stop_sequence=which)
            return _cap(choice, req, count)
    return _cap(Choice(pieces, tokens=len(pieces) if one_token_pieces else -1), req, count)


def _cap(choice: Choice, req: ChatRequest, count: Any) -> Choice:
    if req.max_tokens is None:
        return choice
    if choice.tokens >= 0:  # one token per piece
        if len(choice.pieces) > req.max_tokens:
            choice.pieces = choice.pieces[: req.max_tokens]
            choice.tokens = req.max_tokens
            choice.finish, choice.stop_sequence = "length", None
        return choice
    if len(choice.pieces) <= req.max_tokens and count("".join(choice.pieces)) <= req.max_tokens:
        return choice
    total, kept = 0, []
    for p in choice.pieces:
        c = count(p)
        if total + c > req.max_tokens:
            choice.finish, choice.stop_sequence = "length", None
            break
        kept.append(p)
        total += c
    choice.pieces = kept
    return choice


def _matches(rule: ScriptRule, req: ChatRequest) -> bool:
    m = rule.match
    if m.model is not None and not fnmatch.fnmatchcase(req.model, m.model):
        return False
    if m.content is not None and not re.search(m.content, req.last_user_text):
        return False
    return not (m.turn is not None and req.turn != m.turn)


def script_fault(cfg: FakeConfig, req: ChatRequest) -> tuple[int, Fault] | None:
    """The first scripted rule that matches, if it says to fail: (rule index, fault)."""
    if cfg.reply.mode != "script":
        return None
    for i, rule in enumerate(cfg.reply.rules):
        if _matches(rule, req):
            return (i, rule.fail) if rule.fail is not None else None
    return None


def _wants_tool(cfg: FakeConfig, req: ChatRequest) -> str | None:
    """The name of the tool to call, or None to answer with text."""
    if not req.tools or not cfg.reply.tool_calls:
        return None
    choice = req.tool_choice
    if choice == "none" or (isinstance(choice, dict) and choice.get("type") == "none"):
        return None
    if isinstance(choice, dict):
        name = choice.get("name") or (choice.get("function") or {}).get("name")
        if name:
            return str(name)
    forced = choice in ("required", "any") or (isinstance(choice, dict) and choice.get("type") == "any")
    if req.ends_with_tool_result and not forced:
        return None
    return req.tools[0].name


def compose_reply(cfg: FakeConfig, req: ChatRequest, count: Any = None, tool_id_prefix: str = "call_") -> Reply:
    """Decide the reply text (or tool calls) for a request. `count` is the tokenizer, for max_tokens."""
    conv = digest(req.atoms)
    mode = cfg.reply.mode
    scripted: str | None = None
    rule_name = None
    if mode == "script":
        for i, rule in enumerate(cfg.reply.rules):
            if _matches(rule, req) and rule.reply is not None:
                scripted, rule_name = rule.reply, f"script[{i}]"
                break
    choices = []
    for index in range(max(1, req.n)):
        key = _key(cfg, req, conv, index)
        tool = _wants_tool(cfg, req)
        if tool is not None:
            rng = random.Random(key)
            spec = next((t for t in req.tools if t.name == tool), req.tools[0])
            args = orjson.dumps(_schema_value(spec.parameters, rng)).decode()
            call = ToolCall(id=tool_id_prefix + secrets.token_hex(12), name=spec.name, arguments=args)
            choices.append(Choice(pieces=[], tool_calls=[call], finish="tool_calls"))
            continue
        if scripted is not None:
            pieces = split_pieces(scripted)
        elif mode == "echo":
            pieces = split_pieces(req.last_user_text)
        elif mode == "witness":
            pieces = split_pieces(f"witness fake={cfg.name} turn={req.turn} digest={conv} atoms={len(req.atoms)}")
        elif req.response_format and req.response_format.get("type") in ("json_object", "json_schema"):
            schema = (req.response_format.get("json_schema") or {}).get("schema")
            rng = random.Random(key)
            value = _schema_value(schema, rng) if schema else {"answer": "".join(_seeded_pieces(key, 6))}
            pieces = split_pieces(orjson.dumps(value).decode())
        else:
            u = ((key >> 64) & 0xFFFFFFFFFFFF) / float(1 << 48)
            n = max(1, round(cfg.reply.output_tokens.quantile(u)))
            choices.append(_apply_limits(_seeded_pieces(key, n), req, count, count is count_approx))
            continue
        choices.append(_apply_limits(pieces, req, count))
    return Reply(choices=choices, digest=conv, rule=rule_name)
