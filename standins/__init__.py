"""Local HTTP stand-ins for the platforms the bot talks to, used by the tests and the benches.

- `standins.telegram`: the Telegram Bot API (getUpdates, setWebhook, sendMessage, sendPhoto...,
  getFile and file downloads), with Telegram's send limits and refusals on demand, plus
  `Person`, which builds the updates a Telegram user's actions produce.
- `standins.twilio`: Twilio's Messages REST API (what the `twilio` client's
  `messages.create` calls) and the media URLs of inbound WhatsApp messages.

Each runs on 127.0.0.1 in its own thread, so the real client libraries (python-telegram-bot,
twilio) run against it unchanged. Nothing here is imported by the bot itself.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[BaseHTTPRequestHandler], None]


class Listener:
    """An HTTP server on 127.0.0.1 (a free port) in its own thread, answering GET and POST
    with the given functions. `keep_alive`: HTTP/1.1 with TCP_NODELAY, like a real API's
    servers (headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm and
    the client's delayed ACK hold the body ~40 ms)."""

    def __init__(self, name: str, get: Answer, post: Answer, *, keep_alive: bool = False) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"
            disable_nagle_algorithm = keep_alive

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                get(self)

            def do_POST(self) -> None:
                post(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name=name).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now, for a real server beside the stand-ins
    (`sijakon-bot run` in a test or a bench)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """What a stand-in has of its HTTP side: the `Listener` its `start` opens, and its URL."""

    _server: Listener | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        return self._server.url

    def _close(self) -> None:
        if self._server is not None:
            self._server.close()


def quiet_when_clients_die(listener: Listener) -> None:
    """No traceback on stderr when a client's connection is reset (a test killed the bot with
    kill -9 while it kept a connection open); other errors are printed as before."""
    server = listener.server
    loud = server.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            loud(request, client_address)

    server.handle_error = handle_error  # type: ignore[method-assign]
