"""The one Starlette app: channel webhooks plus /healthz and /metrics (no secrets, no personal
data: bot/health.py, bot/metrics.py)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.health import check
from bot.runtime import Runtime


def build_app(rt: Runtime, routes: list[BaseRoute]) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        status, body = await check(rt)
        return JSONResponse(body, status_code=status)

    async def metrics(request: Request) -> Response:
        assert rt.metrics is not None
        return Response(await rt.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics), *routes])
