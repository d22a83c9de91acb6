""".env.example is what people copy to .env (README, docs/deploy.md's Docker section): as it
stands it must start the bot, and it must name every setting the bot reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_a_copy_of_env_example_starts_with_the_defaults(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """Every line as shipped is accepted; empty values mean "not set", so no channel, no
    webhook secret and no data administrator are configured until someone fills them in."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = load_settings(_env_file=ROOT / ".env.example")
    assert settings.telegram_webhook_secret is None and not settings.telegram_enabled
    assert not settings.whatsapp_enabled
    assert (settings.sijakon_pdp_name, settings.sijakon_pdp_contact) == ("", "")
    assert settings.sijakon_log_format == "text" and settings.sijakon_http_port == 8080


def test_env_example_names_every_setting() -> None:
    """A setting missing from .env.example is a setting nobody finds."""
    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.M))
    assert sorted({name.upper() for name in Settings.model_fields} - named) == []


@pytest.mark.parametrize("path", [".env.example", "deploy/sijakon.env.example"])
def test_no_setting_is_set_twice(path: str) -> None:
    """A key set twice lets the later line win silently: an empty one undoes the first."""
    keys = re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / path).read_text(), re.M)
    assert sorted({k for k in keys if keys.count(k) > 1}) == []
