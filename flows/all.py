"""Imports every flow module so its steps register themselves (see `load_flows`)."""

from flows import menu, start  # noqa: F401
