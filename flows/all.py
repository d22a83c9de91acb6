"""Imports every flow module so its steps register themselves (see `load_flows`)."""

from flows import (  # noqa: F401  (one per line: add yours in order)
    booking,
    broadcast,
    complaints,
    info,
    jobs,
    menu,
    offers,
    rating,
    settings_menu,
    start,
    subscriptions,
    survey,
    tukang_profile,
    tukang_reg,
)
