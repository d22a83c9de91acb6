"""The registry the engine runs: every flow registered once, checked, then shared.

The table itself (`Registry`, `MenuEntry`) lives in flows/table.py, which flow modules import;
this module only builds it from flows/all.py on first use, so no flow module ever imports the
module that imports all of them.
"""

from __future__ import annotations

from functools import cache

from flows.steps import HOME, START
from flows.table import Registry

__all__ = ["HOME", "START", "Registry", "load_flows"]


@cache
def load_flows() -> Registry:
    """Every flow's steps, actions, start payloads, menu entries and timers, checked; built on
    the first call, the same object afterwards."""
    from flows.all import build_registry

    return build_registry()
