"""The process's heap after start-up."""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Take what start-up made (modules, the registry, templates, the ORM's mappings: ~90k
    objects that live as long as the process) out of the garbage collector's sight. Each full
    collection otherwise scanned all of it, stalling the event loop ~70 ms about once a second
    under load: most of the engine's p99 (docs/PERFORMANCE.md). CPython's `gc.freeze`."""
    gc.collect()
    gc.freeze()
