"""The one Starlette app: channel webhooks plus /healthz and /metrics (no secrets, no personal
data: bot/health.py, bot/metrics.py), and `read_body`, the one way a webhook reads its body."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.health import check
from bot.runtime import Runtime


class BadBody(Exception):
    """A request body a webhook will not read: `refuse` answers it, nothing of it is kept."""

    status = 400


class BodyTooLarge(BadBody):
    """Over the route's limit (413)."""

    status = 413


class BodyIncomplete(BadBody):
    """The client went away before the body ended (400, to nobody)."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read as it arrives and refused (`BodyTooLarge`) the moment it passes
    `limit` bytes, whether or not a Content-Length was sent: Starlette's `request.body()` reads
    all of it first, so a 200 MB chunked POST cost 400 MB of memory before any size check.
    A declared length over the limit is refused before anything is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
    except ClientDisconnect:
        raise BodyIncomplete from None
    return b"".join(chunks)


def refuse(exc: BadBody) -> Response:
    """The answer to a `BadBody`, with the connection closed, so the server stops receiving
    the rest (uvicorn would otherwise read and discard it to keep the connection)."""
    return PlainTextResponse("too large" if isinstance(exc, BodyTooLarge) else "bad request",
                             status_code=exc.status, headers={"Connection": "close"})


def build_app(rt: Runtime, routes: list[BaseRoute]) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        status, body = await check(rt)
        return JSONResponse(body, status_code=status)

    async def metrics(request: Request) -> Response:
        assert rt.metrics is not None
        return Response(await rt.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics), *routes])
