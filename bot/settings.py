"""Configuration from the environment or `.env` (pydantic-settings).

A malformed value stops start-up with one line naming the setting; secrets are `SecretStr`
so they never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# a week at least (a message's receipts and retries are long over), ten years at most
OUTBOX_RETENTION_DAYS = (7, 3650)
# The other retention periods (storage/retention.py; docs/admin-guide.md "Retensi data"):
# setting -> (default, lowest, highest) in days. The lowest keep what the service needs: the
# dedupe window beyond Telegram's 24 hours, a conversation beyond the 3-day idle reset, a
# quarter's report for job photos, an objection period for decisions.
RETENTION_DAYS: dict[str, tuple[int, int, int]] = {
    "sijakon_dedupe_retention_days": (2, 2, 30),
    "sijakon_conversation_retention_days": (30, 7, 3650),
    "sijakon_job_media_retention_days": (180, 90, 3650),
    "sijakon_complaint_media_retention_days": (365, 90, 3650),
    "sijakon_tukang_media_retention_days": (365, 90, 3650),
}


def parse_waking_hours(value: str) -> tuple[time, time]:
    """(start, end) of "HH:MM-HH:MM"; ValueError unless start comes before end on one day."""
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    if m is None:
        raise ValueError("use HH:MM-HH:MM, e.g. 06:00-21:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if not (h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60):
        raise ValueError("hours are 00-23, minutes 00-59")
    start, end = time(h1, m1), time(h2, m2)
    if start >= end:
        raise ValueError("the start must come before the end on the same day")
    return start, end


def officer_address(value: str) -> tuple[str, str] | None:
    """(channel, address) for SIJAKON_OFFICER_CHAT: a Telegram chat id ("-100123",
    "telegram:123"), a WhatsApp number ("+62812...", "whatsapp:+62812..."), or a console name
    ("console:petugas", for trying it locally); None when it is none of these."""
    raw = value.strip()
    channel, _, rest = raw.partition(":") if ":" in raw else ("", "", raw)
    if channel in ("", "telegram") and re.fullmatch(r"-?\d{1,20}", rest):
        return "telegram", rest
    if channel in ("", "whatsapp") and re.fullmatch(r"\+\d{8,15}", rest):
        return "whatsapp", f"whatsapp:{rest}"
    if channel == "console" and re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", rest):
        return "console", rest
    return None


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and never holds a secret."""


class WhatsAppTemplate(BaseModel):
    """An approved Content API template for one message key (WHATSAPP_TEMPLATES).

    `variables` lists, in the order of the template's {{1}}, {{2}}, ..., the names of the
    message's variables; "choice:N" / "label:N" stand for the payload / label of the message's
    N-th button (a quick-reply button or list item whose id and title are variables), and
    "message:text" for the whole rendered message. `in_session` uses the template inside the
    24-hour window too (quick replies, list pickers) instead of numbered lines.
    """

    content_sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$")
    variables: list[str] = Field(default_factory=list, max_length=20)
    in_session: bool = False


class Settings(BaseSettings):
    """Every setting of DESIGN.md, with the defaults of the embedded setup."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    sijakon_database_url: str = Field(default="", description="SQLAlchemy async URL")
    sijakon_data_dir: Path = Path("data")
    sijakon_locale: str = "id"
    # this process's name among the bot processes on one database (default: the host
    # name): a restart under the same name sends what its killed life held at once
    sijakon_instance: str = ""
    sijakon_offer_ttl_minutes: int = Field(default=180, ge=5, le=7 * 24 * 60)
    # a warga who asked several tukang and got a "yes" has this long (waking minutes) to
    # confirm one; then the first to say yes is chosen (flows/offers.py)
    sijakon_choose_minutes: int = Field(default=60, ge=5, le=24 * 60)
    sijakon_max_media_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # outbox rows older than this are pruned (flows.timers.prune_outbox); 120 days keeps a
    # quarter whole until its report is written in the month after it
    sijakon_outbox_retention_days: int = 120
    # retention of the rest, in days (RETENTION_DAYS; flows.timers)
    sijakon_dedupe_retention_days: int = RETENTION_DAYS["sijakon_dedupe_retention_days"][0]
    sijakon_conversation_retention_days: int = \
        RETENTION_DAYS["sijakon_conversation_retention_days"][0]
    sijakon_job_media_retention_days: int = RETENTION_DAYS["sijakon_job_media_retention_days"][0]
    sijakon_complaint_media_retention_days: int = \
        RETENTION_DAYS["sijakon_complaint_media_retention_days"][0]
    sijakon_tukang_media_retention_days: int = \
        RETENTION_DAYS["sijakon_tukang_media_retention_days"][0]
    sijakon_admin: str = ""
    # the data administrator named to residents while no `pdp` officer is active (flows/privacy
    # data_administrator): both or neither, so a notice never names someone without a contact
    sijakon_pdp_name: str = Field(default="", max_length=120)
    sijakon_pdp_contact: str = Field(default="", max_length=200)
    # Pasal 9 (flows/deadlines.py, flows/complaints.py; docs/admin-guide.md): the Dinas's own
    # holidays beside the national list, where officer notifications go (a Telegram chat id, a
    # WhatsApp number; empty: none), and the working days a removed tukang has to object
    sijakon_holidays_file: Path | None = None
    sijakon_officer_chat: str = ""
    sijakon_objection_days: int = Field(default=10, ge=1, le=60)
    # the Dinas's own contact, named in help and wherever the bot cannot help further (empty:
    # left out of the message)
    sijakon_dinas_address: str = Field(default="", max_length=200)
    sijakon_dinas_phone: str = Field(default="", max_length=40)
    sijakon_dinas_hours: str = Field(default="", max_length=120)
    # waking hours (local time, "HH:MM-HH:MM"): offer deadlines count only inside them, and
    # offers, reminders and surveys wait for them unless the person is talking to the bot
    sijakon_waking_hours: str = "06:00-21:00"

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_rate_per_second: float = Field(default=30.0, gt=0, le=1000)
    telegram_chat_rate_per_second: float = Field(default=1.0, gt=0, le=30)
    telegram_chat_burst: int = Field(default=3, ge=1, le=20)

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_base_url: str | None = None
    twilio_webhook_url: str | None = None
    whatsapp_rate_per_second: float = Field(default=20.0, gt=0, le=400)
    # where Twilio fetches our media and posts status callbacks; empty: the origin of
    # TWILIO_WEBHOOK_URL when that ends in /twilio/whatsapp
    whatsapp_public_base_url: str | None = None
    # JSON: message key -> {"content_sid": "HX...", "variables": ["name", "choice:1"]}
    whatsapp_templates: dict[str, WhatsAppTemplate] = Field(default_factory=dict)
    whatsapp_media_ttl_minutes: int = Field(default=360, ge=5, le=7 * 24 * 60)

    sijakon_http_host: str = "127.0.0.1"
    sijakon_http_port: int = Field(default=8080, ge=1, le=65535)
    # log lines as text (people) or one JSON object a line (a log collector); masked either way
    sijakon_log_format: str = "text"

    @field_validator("sijakon_locale")
    @classmethod
    def _locale(cls, v: str) -> str:
        if v not in ("id", "en"):
            raise ValueError("must be 'id' or 'en'")
        return v

    @field_validator("sijakon_log_format")
    @classmethod
    def _log_format(cls, v: str) -> str:
        if v.strip().lower() not in ("text", "json"):
            raise ValueError("harus 'text' atau 'json' (bawaan text)")
        return v.strip().lower()

    @field_validator("sijakon_outbox_retention_days")
    @classmethod
    def _retention(cls, v: int) -> int:
        if not OUTBOX_RETENTION_DAYS[0] <= v <= OUTBOX_RETENTION_DAYS[1]:
            low, high = OUTBOX_RETENTION_DAYS
            raise ValueError(f"must be a number of days from {low} to {high} (default 120)")
        return v

    @field_validator(*RETENTION_DAYS)
    @classmethod
    def _retention_days(cls, v: int, info: ValidationInfo) -> int:
        default, low, high = RETENTION_DAYS[str(info.field_name)]
        if not low <= v <= high:
            raise ValueError(f"harus jumlah hari dari {low} sampai {high} (bawaan {default})")
        return v

    @field_validator("sijakon_holidays_file")
    @classmethod
    def _holidays_file(cls, v: Path | None) -> Path | None:
        if v is None or str(v).strip() in ("", "."):
            return None
        from flows.deadlines import HolidayFileError, calendar

        try:
            calendar(v)
        except (HolidayFileError, OSError) as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("sijakon_waking_hours")
    @classmethod
    def _waking_hours(cls, v: str) -> str:
        parse_waking_hours(v)
        return v.strip()

    @field_validator("sijakon_officer_chat")
    @classmethod
    def _officer_chat(cls, v: str) -> str:
        if v.strip() and officer_address(v) is None:
            raise ValueError("harus ID chat Telegram (mis. -1001234567890 atau telegram:123) "
                             "atau nomor WhatsApp (mis. +6281234567890)")
        return v.strip()

    @field_validator("sijakon_database_url")
    @classmethod
    def _db_url(cls, v: str) -> str:
        if v and not v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        if v:
            # SQLAlchemy's parse errors quote parts of the URL (a password, perhaps): not shown.
            # Imported here: a settings error is reported before SQLAlchemy would load
            from sqlalchemy.engine import make_url

            try:
                url = make_url(v)
                port = url.port
            except Exception:
                raise ValueError("bukan URL yang bisa dibaca; bentuknya postgresql+asyncpg://"
                                 "pengguna:sandi@host:5432/nama") from None
            if port is not None and not 1 <= port <= 65535:
                raise ValueError("port harus 1 sampai 65535")
            if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
                raise ValueError("harus menyebut berkas, mis. sqlite+aiosqlite:///data/sijakon.db")
        return v

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _tg_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value():
            return None  # `TELEGRAM_WEBHOOK_SECRET=` as in .env.example: not set
        if v is not None and not _WEBHOOK_SECRET.match(v.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z a-z 0-9 _ -")
        return v

    @field_validator("telegram_webhook_url", "twilio_webhook_url", "telegram_base_url",
                     "twilio_api_base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and v != "" and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v or None

    @field_validator("whatsapp_public_base_url")
    @classmethod
    def _public_base(cls, v: str | None) -> str | None:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/") if v else None

    @field_validator("twilio_whatsapp_from")
    @classmethod
    def _wa_from(cls, v: str | None) -> str | None:
        if v and not re.fullmatch(r"(whatsapp:)?\+\d{6,15}", v):
            raise ValueError("must look like whatsapp:+14155238886")
        if v and not v.startswith("whatsapp:"):
            v = "whatsapp:" + v
        return v or None

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.telegram_webhook_url and not self.telegram_webhook_secret:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_WEBHOOK_URL is set")
        return self

    @model_validator(mode="after")
    def _pdp_both_or_neither(self) -> Settings:
        self.sijakon_pdp_name = self.sijakon_pdp_name.strip()
        self.sijakon_pdp_contact = self.sijakon_pdp_contact.strip()
        if bool(self.sijakon_pdp_name) != bool(self.sijakon_pdp_contact):
            raise ValueError("SIJAKON_PDP_NAME dan SIJAKON_PDP_CONTACT harus diisi keduanya "
                             "atau dikosongkan keduanya")
        return self

    @property
    def waking_hours(self) -> tuple[time, time]:
        """(start, end) of SIJAKON_WAKING_HOURS, local time."""
        return parse_waking_hours(self.sijakon_waking_hours)

    @property
    def officer_chat(self) -> tuple[str, str] | None:
        """(channel, address) of SIJAKON_OFFICER_CHAT, or None when it is not set."""
        return officer_address(self.sijakon_officer_chat)

    @property
    def database_url(self) -> str:
        """The configured URL, or a SQLite file inside the data directory."""
        if self.sijakon_database_url:
            return self.sijakon_database_url
        return f"sqlite+aiosqlite:///{(self.sijakon_data_dir / 'sijakon.db').as_posix()}"

    def retention_keep(self) -> dict[str, timedelta]:
        """The retention periods as `FlowConfig` fields, for the bot and `sijakon-admin privacy
        retention` alike (one mapping, so the two never disagree)."""
        days = {"outbox_keep": self.sijakon_outbox_retention_days,
                "dedupe_keep": self.sijakon_dedupe_retention_days,
                "conversation_keep": self.sijakon_conversation_retention_days,
                "job_media_keep": self.sijakon_job_media_retention_days,
                "complaint_media_keep": self.sijakon_complaint_media_retention_days,
                "tukang_media_keep": self.sijakon_tukang_media_retention_days}
        return {k: timedelta(days=v) for k, v in days.items()}

    @property
    def media_dir(self) -> Path:
        return self.sijakon_data_dir / "media"

    @property
    def telegram_enabled(self) -> bool:
        token = self.telegram_bot_token
        return token is not None and bool(token.get_secret_value())

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token
                    and self.twilio_whatsapp_from)


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation error into one line that names the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(validation_line(exc)) from None
    except SourceError as exc:
        # a JSON setting (WHATSAPP_TEMPLATES) that does not parse: pydantic-settings names the
        # field, never the value, and its traceback ran to 150 lines
        found = re.search(r'field "(\w+)"', str(exc))
        name = found.group(1).upper() if found else "settings"
        raise SettingsError(f"setting {name}: bukan JSON yang sah; lihat contohnya di "
                            ".env.example") from None


def validation_line(exc: ValidationError) -> str:
    """One line naming the first bad setting and what is wrong, never the value given (it may
    be a secret); bot/startup.py uses it too."""
    err = exc.errors()[0]
    name = ".".join(str(p) for p in err.get("loc", ())) or "settings"
    msg = err.get("msg", "invalid value").removeprefix("Value error, ")
    return f"setting {name.upper()}: {msg}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
