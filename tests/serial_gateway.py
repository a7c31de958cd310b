"""A deliberately saturating "gateway" for tests: one thread answers one request at a time, each after a fixed
service time, with a canned OpenAI completion. Its capacity is 1 / service_s requests per second, so an offered rate
above that builds a queue (the listen backlog holds the waiting connections)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

REPLY = {"id": "chatcmpl-serial", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


class _Handler(BaseHTTPRequestHandler):
    service_s = 0.05

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(self.service_s)
        body = json.dumps(REPLY).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(HTTPServer):
    request_queue_size = 1024


@contextmanager
def serial_gateway(service_s: float) -> Iterator[str]:
    """Yields the base URL of a one-at-a-time server on 127.0.0.1; stops it when the block ends."""
    handler = type("Handler", (_Handler,), {"service_s": service_s})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
