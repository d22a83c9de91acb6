"""Settings: defaults that run with nothing set; one clear line naming a bad setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_need_no_tokens(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With nothing configured the bot uses a SQLite file in the data dir and no channel."""
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.database_url == "sqlite+aiosqlite:///data/sijakon.db"
    assert not s.telegram_enabled and not s.whatsapp_enabled


@pytest.mark.parametrize(("env", "named"), [
    ({"SIJAKON_HTTP_PORT": "eighty"}, "SIJAKON_HTTP_PORT"),
    ({"SIJAKON_LOCALE": "fr"}, "SIJAKON_LOCALE"),
    ({"SIJAKON_DATABASE_URL": "mysql://x"}, "SIJAKON_DATABASE_URL"),
    ({"TELEGRAM_WEBHOOK_SECRET": "has spaces!"}, "TELEGRAM_WEBHOOK_SECRET"),
    ({"TWILIO_WHATSAPP_FROM": "12345"}, "TWILIO_WHATSAPP_FROM"),
])
def test_malformed_value_names_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           env: dict[str, str], named: str) -> None:
    """A wrong value stops start-up with one line that names the setting."""
    monkeypatch.chdir(tmp_path)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert named in str(err.value) and "\n" not in str(err.value)


def test_webhook_without_secret_is_refused(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """Webhook mode needs the secret the Bot API sends back on every request."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://bot.example.go.id/telegram/webhook")
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET"):
        load_settings()


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither the repr of the settings nor an error shows a token."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:SECRET-TOKEN-VALUE")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "twilio-secret-value")
    s = load_settings()
    assert "SECRET-TOKEN-VALUE" not in repr(s) and "twilio-secret-value" not in repr(s)
    monkeypatch.setenv("SIJAKON_HTTP_PORT", "0")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "SECRET" not in str(err.value)


def test_cli_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    """`sijakon-bot console` with a bad setting says what is wrong on one line."""
    env = {**os.environ, "SIJAKON_LOCALE": "fr", "SIJAKON_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "console"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, input="")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "SIJAKON_LOCALE" in proc.stderr
