"""Every flow module, registered in order into one checked registry (see `load_flows`)."""

from __future__ import annotations

from flows import (
    booking,
    broadcast,
    complaints,
    info,
    jobs,
    menu,
    offers,
    profile_view,
    rating,
    settings_menu,
    start,
    subscriptions,
    survey,
    timers,
    tukang_profile,
    tukang_reg,
)
from flows.table import Registry


def build_registry() -> Registry:
    """A fresh registry with every flow in it; raises RegistryError if the names do not fit."""
    registry = Registry()
    # in this order: it is the scheduler's order of timers
    timers.register(registry)
    menu.register(registry)
    start.register(registry)
    offers.register(registry)
    jobs.register(registry)
    booking.register(registry)
    broadcast.register(registry)
    complaints.register(registry)
    info.register(registry)
    survey.register(registry)
    rating.register(registry)
    settings_menu.register(registry)
    subscriptions.register(registry)
    tukang_reg.register(registry)
    tukang_profile.register(registry)
    profile_view.register(registry)
    registry.check()
    return registry
