"""Messages between a fake's workers and the process that started them: JSON objects, each framed by its length, over
a socket pair. Each direction of use is one request and its reply at a time (`call`)."""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any

import orjson

_LEN = struct.Struct("!I")


class ChannelClosed(Exception):
    """The other side is gone (it exited or was killed)."""


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        data = orjson.dumps(message)
        try:
            self.sock.sendall(_LEN.pack(len(data)) + data)
        except OSError as exc:
            raise ChannelClosed(str(exc)) from None

    def recv(self) -> Any:
        """The next message; raises ChannelClosed at end of file."""
        (size,) = _LEN.unpack(self._exactly(_LEN.size))
        return orjson.loads(self._exactly(size))

    def call(self, message: Any) -> Any:
        """Send a request and wait for its reply (one caller at a time)."""
        with self._lock:
            self.send(message)
            return self.recv()

    def close(self) -> None:
        self.sock.close()

    def _exactly(self, n: int) -> bytes:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            try:
                k = self.sock.recv_into(view[got:])
            except OSError as exc:
                raise ChannelClosed(str(exc)) from None
            if not k:
                raise ChannelClosed("end of file")
            got += k
        return bytes(buf)
