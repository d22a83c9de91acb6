"""What an adapter module offers `sijakon-bot run`: its sender, and a loop or web routes.

Its own module so the adapters and `bot.server` both import it and neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute

from bot.delivery import Sender
from bot.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Channel:
    sender: Sender
    # runs until cancelled (e.g. polling); sets up and tears down its own client
    run: Callable[[Runtime], Coroutine[Any, Any, None]] | None = None
    # web routes, made once the runtime exists
    routes: Callable[[Runtime], list[BaseRoute]] | None = None
