"""The requests a load sends: OpenAI chat bodies sized in tokens, and multi-turn sessions that resend history.

A `Session` is one client conversation. Each turn it sends the full history it holds (system prompt, every
user message, every assistant reply it received, tool calls and their results), as real clients do, so the
fakes' witness replies can prove whether a gateway kept it. Prompt text is built from one-token words, so a
text meant to be n tokens is exactly n under the fakes' default tokenizer (`fakes.tokenizer.count_approx`);
`prompt_tokens` on each request is the whole prompt counted with the fakes' recipe (3 per message, 3 to
prime the reply), the figure a fake compares with a model's context window.

Every request carries its correlation id, session id and turn twice: in `x-gatedrill-*` headers and as the
`gd:<id>:<session>:<turn>` marker in the OpenAI `user` field, because gateways often drop client headers.
Everything random is drawn from a per-session RNG seeded by (seed, session index), so a session's content
does not depend on when the generator got to it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import orjson

from gatedrill.fakes.conversation import Atom, digest, openai_atoms
from gatedrill.fakes.correlation import CORRELATION_HEADER, SESSION_HEADER, TURN_HEADER, make_marker
from gatedrill.fakes.tokenizer import REPLY_PRIMING, TOKENS_PER_MESSAGE, count_approx

from .spec import RequestMix

# Lowercase ASCII words of at most 8 letters: " word" is one piece of the fakes' pre-tokenizer, one token.
_WORDS = (
    "time year people way day man thing woman life child world school state family student group country "
    "problem hand part place case week company system program question work government number night point "
    "home water room mother area money story fact month lot right study book eye job word business issue "
    "side kind head house service friend father power hour game line end member law car city name team "
    "minute idea kid body back parent face others level office door health person art war history party "
    "result change morning reason research girl guy moment air teacher force order river garden signal "
    "north south east west cloud stone paper glass metal engine bridge harbor valley forest island winter "
    "summer autumn spring market window letter answer animal plant light sound music color table chair "
    "ask tell show try leave call keep begin seem help talk turn start hold bring write stand learn meet "
    "lead watch follow stop create speak read allow spend grow open walk offer build stay fall reach send "
    "quiet bright early happy simple strong clear green small large young local public social human real "
)
WORDS: tuple[str, ...] = tuple(w for w in _WORDS.split() if w.isascii() and w.isalpha() and len(w) <= 8)

# A fixed pseudo-random run of words; prompt texts are slices of it (wrapping), so building a 100k-token
# near-window prompt costs one join, not 100k RNG draws.
_CORPUS_SIZE = 1 << 15


def _corpus() -> list[str]:
    rng = random.Random(0x9D)
    return [WORDS[int(rng.random() * len(WORDS))] for _ in range(_CORPUS_SIZE)]


_CORPUS = _corpus()

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "the city"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "unit"],
            },
        },
    }
]

# The share of the window a near-window prompt may fall either side of it (uniform): about half fit.
NEAR_WINDOW_SPREAD = 0.05


def chat_path(url: str) -> str:
    """The chat-completions path for a gateway URL given as an origin, a `/v1` base URL or the full path."""
    path = urlsplit(url).path.rstrip("/")
    if path.endswith("/chat/completions"):
        return path
    if path.endswith("/v1"):
        return path + "/chat/completions"
    return path + "/v1/chat/completions"


def prompt_text(n_tokens: int, rng: random.Random) -> str:
    """Text of exactly n_tokens tokens under `count_approx`: n words from a random place in the corpus."""
    if n_tokens <= 0:
        return ""
    start = int(rng.random() * _CORPUS_SIZE)
    words: list[str] = []
    while len(words) < n_tokens:
        take = min(n_tokens - len(words), _CORPUS_SIZE - start)
        words.extend(_CORPUS[start : start + take])
        start = 0
    words[0] = words[0].capitalize()
    return " ".join(words)


def atom_tokens(atoms: list[Atom]) -> int:
    """Prompt tokens of atoms by the fakes' recipe (as `Fake.count_prompt`, without the reply priming)."""
    total = 0
    for _, kind, payload in atoms:
        if kind == "text":
            total += TOKENS_PER_MESSAGE + count_approx(payload)
        elif kind == "tool_call":
            args = orjson.dumps(payload[2]).decode()
            total += TOKENS_PER_MESSAGE + count_approx(payload[1] or "") + count_approx(args)
        elif kind == "tool_result":
            total += TOKENS_PER_MESSAGE + count_approx(payload[1])
        else:
            total += TOKENS_PER_MESSAGE + count_approx(str(payload))
    return total


@lru_cache(maxsize=256)
def _text_tokens(text: str) -> int:
    """A text message's tokens (system prompts repeat: counted once)."""
    return atom_tokens(openai_atoms([{"role": "system", "content": text}]))


@dataclass(slots=True)
class Request:
    """One HTTP request a session sends, and what the client knows about it."""

    correlation_id: str
    session_id: str
    turn: int
    model: str
    body: bytes
    headers: dict[str, str]
    stream: bool
    tools: bool
    near_window: bool
    prompt_tokens: int
    max_tokens: int | None
    sent_digest: str
    messages: int


class Session:
    """A conversation: builds turn after turn, appending each reply it received before the next turn."""

    def __init__(self, mix: RequestMix, index: int, seed: int, run_id: str,
                 headers: dict[str, str] | None = None) -> None:
        self.mix = mix
        self.index = index
        self.run_id = run_id
        self.session_id = f"{run_id}-s{index}"
        self.rng = random.Random(f"gatedrill-session:{seed}:{index}")
        self.extra_headers = dict(headers or {})
        self.messages: list[dict[str, Any]] = []
        self._tokens = 0  # prompt tokens of `messages`, fakes' recipe, without the priming
        self.turn = 0
        self.tools = mix.tools_share > 0 and self.rng.random() < mix.tools_share
        self._pending_tool_calls: list[dict[str, Any]] = []
        self.finished = False
        if mix.system_prompt:
            self._append({"role": "system", "content": mix.system_prompt}, _text_tokens(mix.system_prompt))

    def _append(self, message: dict[str, Any], tokens: int | None = None) -> None:
        """Add a message; `tokens` is its count when already known (text built to size, the system prompt)."""
        self.messages.append(message)
        self._tokens += atom_tokens(openai_atoms([message])) if tokens is None else tokens

    @property
    def prompt_tokens(self) -> int:
        return self._tokens + REPLY_PRIMING

    def next_request(self) -> Request | None:
        """The next turn's request (history + a new user message or tool results), or None when done."""
        if self.finished or self.turn >= self.mix.turns:
            self.finished = True
            return None
        mix, rng = self.mix, self.rng
        self.turn += 1
        near = False
        if self._pending_tool_calls:
            for call in self._pending_tool_calls:
                result = orjson.dumps({"city": "Paris", "temperature": 18, "call": call.get("id")}).decode()
                self._append({"role": "tool", "tool_call_id": call.get("id") or "", "content": result})
            self._pending_tool_calls = []
        else:
            if mix.near_window_share > 0 and self.turn == 1 and rng.random() < mix.near_window_share:
                near = True
                n = self._near_window_size()
            else:
                n = max(1, round(mix.prompt_tokens.sample(rng)))
            self._append({"role": "user", "content": prompt_text(n, rng)}, TOKENS_PER_MESSAGE + n)
        stream = mix.stream_share > 0 and rng.random() < mix.stream_share
        return self._request(stream, near)

    def _near_window_size(self) -> int:
        """User text tokens so that prompt + max_tokens lands within +-5% of the window (about half over)."""
        window = self.mix.near_window_tokens or 0
        spread = max(1, round(window * NEAR_WINDOW_SPREAD))
        target = window + self.rng.randint(-spread, spread) - (self.mix.max_tokens or 0)
        return max(1, target - self.prompt_tokens - TOKENS_PER_MESSAGE)

    def _request(self, stream: bool, near: bool) -> Request:
        mix = self.mix
        corr = f"{self.session_id}-t{self.turn}"
        body: dict[str, Any] = {"model": mix.model, "messages": self.messages}
        if mix.max_tokens is not None:
            body["max_tokens"] = mix.max_tokens
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if self.tools:
            body["tools"] = TOOLS
        body["user"] = make_marker(corr, self.session_id, self.turn)
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            CORRELATION_HEADER: corr,
            SESSION_HEADER: self.session_id,
            TURN_HEADER: str(self.turn),
            **self.extra_headers,
        }
        return Request(
            correlation_id=corr, session_id=self.session_id, turn=self.turn, model=mix.model,
            body=orjson.dumps(body), headers=headers, stream=stream, tools=self.tools, near_window=near,
            prompt_tokens=self.prompt_tokens, max_tokens=mix.max_tokens,
            sent_digest=digest(openai_atoms(self.messages)), messages=len(self.messages),
        )

    def record_reply(self, text: str, tool_calls: list[dict[str, Any]] | None = None) -> None:
        """Append the assistant's reply as received; tool calls get results on the next turn."""
        msg: dict[str, Any] = {"role": "assistant", "content": text or None}
        if tool_calls:
            msg["tool_calls"] = [
                {"id": c.get("id") or f"call_{i}", "type": "function",
                 "function": {"name": c.get("name") or "", "arguments": c.get("arguments") or "{}"}}
                for i, c in enumerate(tool_calls)
            ]
            self._pending_tool_calls = msg["tool_calls"]
        elif not text:
            msg["content"] = ""
        self._append(msg)

    def end(self) -> None:
        """Stop the session (after an error, or when the run stops): no more turns."""
        self.finished = True
