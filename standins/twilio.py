"""A local stand-in of Twilio's Messages API on 127.0.0.1, for the real `twilio` client.

It records every request, answers `POST .../Messages.json` like Twilio (201 and a message
SID), can be told to refuse the next sends (429 with Retry-After, 500, 63016, 21610...), and
serves inbound media behind HTTP Basic auth like Twilio's media URLs.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from standins import Listener, Served


@dataclass
class Sent:
    """One `messages.create` call as Twilio would have received it."""

    sid: str
    path: str
    form: dict[str, list[str]]
    authorized: bool

    def get(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0] if values else default

    @property
    def to(self) -> str:
        return self.get("To")

    @property
    def body(self) -> str:
        return self.get("Body")

    @property
    def media(self) -> list[str]:
        return self.form.get("MediaUrl", [])

    @property
    def content_variables(self) -> dict[str, str]:
        raw = self.get("ContentVariables")
        return json.loads(raw) if raw else {}


@dataclass
class Failure:
    status: int
    code: int | None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class TwilioStandIn(Served):
    """Start with `start()`, stop with `stop()`; `url` is the base for `client.api.base_url`."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sent: list[Sent] = []
        self.media_requests: list[tuple[str, bool]] = []
        self.failures: list[Failure] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._read = 0

    # --- control -----------------------------------------------------------------------------
    def start(self) -> TwilioStandIn:
        self._server = Listener("twilio-standin", self._get, self._post)
        return self

    def stop(self) -> None:
        self._close()

    def fail_next(self, status: int, code: int | None = None, *, retry_after: str | None = None,
                  delay: float = 0.0) -> None:
        """The next send is refused like Twilio would refuse it."""
        headers = {"Retry-After": retry_after} if retry_after else {}
        with self._lock:
            self.failures.append(Failure(status, code, headers, delay))

    def add_media(self, content: bytes, content_type: str) -> str:
        """A file Twilio holds for an inbound message; returns its MediaUrl."""
        name = "ME" + uuid.uuid4().hex
        self.media[name] = (content, content_type)
        return (f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Messages/"
                f"MM{uuid.uuid4().hex}/Media/{name}")

    def new(self) -> list[Sent]:
        """Sends since the last call."""
        with self._lock:
            out = self.sent[self._read:]
            self._read = len(self.sent)
        return out

    def to(self, address: str) -> list[Sent]:
        return [s for s in self.sent if s.to == address]

    def wait_sent(self, n: int = 1, timeout: float = 10.0) -> bool:
        """Block until `n` messages arrived (for a bot running in the background)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.sent) >= n, timeout)

    # --- serving -----------------------------------------------------------------------------
    def _authorized(self, handler: BaseHTTPRequestHandler) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return handler.headers.get("Authorization", "") == f"Basic {expected}"

    def _json(self, handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(data)

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlparse(handler.path).path
        length = int(handler.headers.get("Content-Length") or 0)
        form = parse_qs(handler.rfile.read(length).decode(), keep_blank_values=True)
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            self._json(handler, 404, {"code": 20404, "message": "not found", "status": 404})
            return
        authorized = self._authorized(handler)
        if not authorized:
            self._json(handler, 401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        with self._lock:
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            if failure.delay:
                time.sleep(failure.delay)
            self._json(handler, failure.status,
                       {"code": failure.code, "status": failure.status,
                        "message": f"refused for {form.get('To', ['?'])[0]}",
                        "more_info": f"https://www.twilio.com/docs/errors/{failure.code}"},
                       failure.headers)
            return
        sid = "SM" + uuid.uuid4().hex
        with self._arrived:
            self.sent.append(Sent(sid, path, form, authorized))
            self._arrived.notify_all()
        self._json(handler, 201, {
            "sid": sid, "account_sid": self.account_sid, "status": "queued",
            "to": form.get("To", [""])[0], "from": form.get("From", [""])[0],
            "body": form.get("Body", [""])[0], "num_media": str(len(form.get("MediaUrl", []))),
            "date_created": "Mon, 23 Nov 2026 02:00:00 +0000", "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"})

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        name = urlparse(handler.path).path.rsplit("/", 1)[-1]
        authorized = self._authorized(handler)
        with self._lock:
            self.media_requests.append((name, authorized))
        if not authorized:
            self._json(handler, 401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        if name not in self.media:
            self._json(handler, 404, {"code": 20404, "message": "not found", "status": 404})
            return
        content, ctype = self.media[name]
        handler.send_response(200)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)
