"""The AWS event-stream binary framing (`application/vnd.amazon.eventstream`), encode side.

A message is a prelude (total length, headers length, CRC32 of those 8 bytes), headers (name length,
name, type 7 = string, value length, value), the payload and a CRC32 of everything before it. botocore
checks both CRCs, so an SDK that decodes our streams proves the framing.
"""

from __future__ import annotations

import struct
import zlib

_STRING = 7


def encode_headers(headers: list[tuple[str, str]]) -> bytes:
    out = bytearray()
    for name, value in headers:
        n, v = name.encode(), value.encode()
        out += struct.pack(">B", len(n)) + n + struct.pack(">BH", _STRING, len(v)) + v
    return bytes(out)


def encode_message(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    raw_headers = encode_headers(headers)
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(event_type: str, payload: bytes) -> bytes:
    return encode_message([(":event-type", event_type), (":content-type", "application/json"),
                           (":message-type", "event")], payload)


def exception(exception_type: str, payload: bytes) -> bytes:
    """An exception message inside a 200 stream; botocore raises EventStreamError with this type as code."""
    return encode_message([(":exception-type", exception_type), (":content-type", "application/json"),
                           (":message-type", "exception")], payload)


def corrupt(message: bytes) -> bytes:
    """The same message with its trailing CRC flipped: a decoder must reject it."""
    return message[:-4] + bytes(b ^ 0xFF for b in message[-4:])
