"""A local stand-in of Twilio's Messages API on 127.0.0.1, for the real `twilio` client.

It records every request, answers `POST .../Messages.json` like Twilio (201 and a message
SID), can be told to refuse the next sends (429 with Retry-After, 500, 63016, 21610...), and
serves inbound media behind HTTP Basic auth like Twilio's media URLs.

A WhatsApp message (`To` starting with `whatsapp:`) with more than one `MediaUrl` is refused
(400, kept in `refused`): WhatsApp keeps one attachment per message, so a test sees the loss.

With `rate` it enforces a sender's throughput (80 messages a second by default at Twilio):
at most `rate` accepted messages per `From` in any one-second window, measured when they
arrive; one more is refused with 429, error 20429 and a Retry-After, so a bench counts every
message that went too fast. (Twilio itself queues such messages, for up to 4 hours: a reply
stuck behind them is as late as a refused one, so the stand-in refuses.) For a bench in
another process: `serve_in_process`, and `GET /_standin/stats` (counts, arrival times).

Twilio also posts the inbound webhooks: `inbound(url, ...)` builds the form of an incoming
WhatsApp message and its `X-Twilio-Signature` (Twilio's own `RequestValidator`, keyed by the
auth token), which a test posts, and posts again unchanged (same `MessageSid`) to redeliver.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from standins import Listener, Served, quiet_when_clients_die


@dataclass
class Sent:
    """One `messages.create` call as Twilio would have received it."""

    sid: str
    path: str
    form: dict[str, list[str]]
    authorized: bool
    at: float = field(default_factory=time.monotonic)  # when it arrived

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

    def __init__(self, account_sid: str, auth_token: str, *, rate: float | None = None,
                 window: float = 1.0, latency: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.rate = rate  # accepted messages per `window` seconds and sender; None: no limit
        self.window = window
        self.latency = latency  # seconds before answering a send, as a distant API
        self.clock = clock  # arrival times (time.monotonic: system-wide, so a bench can compare)
        self._connections: set[tuple[str, int]] = set()  # the clients' (host, port) seen
        self.throttled = 0  # 429s given for going over `rate` (not for `fail_next`)
        self.arrivals: list[float] = []  # time.monotonic() of every accepted message
        self._recent: dict[str, deque[float]] = defaultdict(deque)  # per From, in the window
        self.sent: list[Sent] = []
        self.refused: list[Sent] = []  # WhatsApp messages with several files (see above)
        self.media_requests: list[tuple[str, bool]] = []
        self.failures: list[Failure] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._read = 0

    # --- control -----------------------------------------------------------------------------
    def start(self) -> TwilioStandIn:
        # keep-alive (HTTP/1.1, TCP_NODELAY) as Twilio's API: the client reuses connections
        self._server = Listener("twilio-standin", self._get, self._post, keep_alive=True)
        quiet_when_clients_die(self._server)
        return self

    def stop(self) -> None:
        self._close()

    def fail_next(self, status: int, code: int | None = None, *, retry_after: str | None = None,
                  delay: float = 0.0, after: int = 0) -> None:
        """The next send (after `after` that go through) is refused like Twilio would."""
        headers = {"Retry-After": retry_after} if retry_after else {}
        with self._lock:
            self.failures.extend(Failure(0, None) for _ in range(after))  # 0: answered as usual
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

    def texts(self, address: str) -> list[str]:
        """The bodies of the messages accepted for `address`, oldest first."""
        with self._lock:
            return [s.body for s in self.sent if s.to == address]

    def arrivals_to(self, address: str) -> list[float]:
        """When each message to `address` arrived (`clock`), in the order of `texts`."""
        with self._lock:
            return [s.at for s in self.sent if s.to == address]

    def sign(self, url: str, params: dict[str, str]) -> str:
        """`X-Twilio-Signature` of a form posted to `url` (the public URL Twilio signs)."""
        from twilio.request_validator import RequestValidator

        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    def inbound(self, url: str, sender: str, body: str, *, to: str, sid: str | None = None,
                profile_name: str | None = None,
                **extra: str) -> tuple[dict[str, str], dict[str, str]]:
        """The form and headers of the webhook Twilio posts to `url` when `sender`
        (`whatsapp:+62...`) writes `body` to `to`: a new `MessageSid` unless given."""
        params = {"MessageSid": sid or "SM" + uuid.uuid4().hex,
                  "AccountSid": self.account_sid, "From": sender, "To": to, "Body": body,
                  "NumMedia": "0", **extra}
        if profile_name is not None:
            params["ProfileName"] = profile_name
        return params, {"X-Twilio-Signature": self.sign(url, params)}

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
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                handler.send_header(k, v)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test)

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
            self._connections.add(handler.client_address[:2])
            failure = self.failures.pop(0) if self.failures else None
            if failure is not None and failure.status == 0:
                failure = None
            wait = self._over_rate(form.get("From", [""])[0]) if failure is None else 0.0
        if wait:
            self._json(handler, 429, {
                "code": 20429, "status": 429, "message": "Too Many Requests",
                "more_info": "https://www.twilio.com/docs/errors/20429"},
                {"Retry-After": str(max(1, math.ceil(wait)))})
            return
        if failure is not None:
            if failure.delay:
                time.sleep(failure.delay)
            self._json(handler, failure.status,
                       {"code": failure.code, "status": failure.status,
                        "message": f"refused for {form.get('To', ['?'])[0]}",
                        "more_info": f"https://www.twilio.com/docs/errors/{failure.code}"},
                       failure.headers)
            return
        if form.get("To", [""])[0].startswith("whatsapp:") and len(form.get("MediaUrl", [])) > 1:
            with self._lock:
                self.refused.append(Sent("", path, form, authorized))
            self._json(handler, 400, {
                "code": 21623, "status": 400,
                "message": "WhatsApp messages carry one media file; send one per message",
                "more_info": "https://www.twilio.com/docs/whatsapp/guidance-whatsapp-media-messages"})
            return
        if self.latency:
            time.sleep(self.latency)
        sid = "SM" + uuid.uuid4().hex
        with self._arrived:
            self.sent.append(Sent(sid, path, form, authorized, self.clock()))
            self._arrived.notify_all()
        self._json(handler, 201, {
            "sid": sid, "account_sid": self.account_sid, "status": "queued",
            "to": form.get("To", [""])[0], "from": form.get("From", [""])[0],
            "body": form.get("Body", [""])[0], "num_media": str(len(form.get("MediaUrl", []))),
            "date_created": "Mon, 23 Nov 2026 02:00:00 +0000", "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"})

    def _over_rate(self, sender: str) -> float:
        """Under the lock: 0 and the message counted if `sender` may send one more now, else
        the seconds until the oldest message in its window leaves it."""
        now = self.clock()
        if self.rate is None:
            self.arrivals.append(now)
            return 0.0
        recent = self._recent[sender]
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) >= self.rate:
            self.throttled += 1
            return max(1e-3, recent[0] + self.window - now)
        recent.append(now)
        self.arrivals.append(now)
        return 0.0

    def stats(self, *, arrivals: bool = False) -> dict[str, Any]:
        """What a bench reads: messages accepted (and when, with `arrivals`), 429s given, TCP
        connections the client opened."""
        with self._lock:
            out: dict[str, Any] = {"sent": len(self.arrivals), "throttled": self.throttled,
                                   "last_at": self.arrivals[-1] if self.arrivals else None,
                                   "connections": len(self._connections)}
            if arrivals:
                out["arrivals"] = list(self.arrivals)
        return out

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlparse(handler.path)
        if url.path == "/_standin/stats":  # for a bench in another process
            self._json(handler, 200, self.stats(arrivals="arrivals=1" in url.query))
            return
        name = url.path.rsplit("/", 1)[-1]
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


def serve_in_process(conn: Any, account_sid: str, auth_token: str, **options: Any) -> None:
    """Run a stand-in in this (child) process until told to stop (as
    `standins.telegram.serve_in_process`: no GIL shared with the bench, so arrival times are
    the platform's, not the bot's; a higher CPU priority when allowed)."""
    with contextlib.suppress(OSError):
        os.nice(-10)
    server = TwilioStandIn(account_sid, auth_token, **options).start()
    conn.send(server.url)
    conn.recv()
    server.stop()

