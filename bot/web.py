"""The one Starlette app: channel webhooks plus /healthz (no secrets, no personal data)."""

from __future__ import annotations

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bot.delivery import queue_depth
from bot.runtime import Runtime


def build_app(rt: Runtime, routes: list[BaseRoute]) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        try:
            async with rt.db.read() as s:
                await s.execute(text("SELECT 1"))
            depth = await queue_depth(rt.db)
        except Exception as exc:
            return JSONResponse({"ok": False, "database": type(exc).__name__}, status_code=503)
        return JSONResponse({"ok": True, "database": rt.db.dialect, "queue": depth})

    return Starlette(routes=[Route("/healthz", healthz), *routes])
