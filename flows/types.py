"""The transport-free message types every channel converts to and from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Media:
    """A file a user sent, already saved under the data directory by the adapter."""

    path: str
    content_type: str
    size: int = 0

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


InboundEvent = Literal["edited", "group", "file_too_large", "file_failed", "file_unsupported"]
"""Something a person did that is no message for a step; the engine answers it with a notice
and leaves the step where it is: "edited" an earlier message; "group": a command in a group
chat (the bot serves private chats only); "file_too_large": a file over the size limit;
"file_failed": a file the platform would not give us; "file_unsupported": a file whose content
is not a JPEG, PNG or PDF (whatever it claimed to be), kept nowhere."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a person did: typed, pressed a button, sent a photo, shared a contact.

    `choice` is the raw payload of a pressed button (as the adapter got it back from the
    platform); `phone` is only set when the platform vouches for it (the WhatsApp sender, a
    Telegram contact whose user_id is the sender's own). `language` is the language the
    platform says the person uses (a tag such as "en" or "id"): it picks the language of a
    conversation this message starts. `event` marks an `InboundEvent`; `limit_bytes` goes
    with "file_too_large" (the limit the file broke).
    """

    channel: str
    address: str
    external_id: str
    text: str = ""
    choice: str | None = None
    media: tuple[Media, ...] = ()
    phone: str | None = None
    location: tuple[float, float] | None = None
    profile_name: str | None = None
    language: str | None = None
    event: InboundEvent | None = None
    limit_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Choice:
    """An option offered to the user; `id` is stable, `label` is what they read."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Message:
    """What a step receives: the inbound, with any chosen option already resolved."""

    text: str
    choice: Choice | None
    media: tuple[Media, ...]
    phone: str | None
    location: tuple[float, float] | None
    profile_name: str | None
    at: datetime


@dataclass(slots=True)
class Reply:
    """A rendered outgoing message, as stored in an outbox row's payload.

    `text` is Telegram-style HTML (only <b> and <i>, variables escaped); adapters turn it into
    what their platform reads. `choices` are (payload, label) pairs; `template` holds the key
    and variables for a WhatsApp template outside the 24-hour window.
    """

    text: str
    choices: list[tuple[str, str]] = field(default_factory=list)
    media: list[str] = field(default_factory=list)
    request_phone: bool = False
    template: dict[str, Any] | None = None

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text}
        if self.choices:
            out["choices"] = [list(c) for c in self.choices]
        if self.media:
            out["media"] = list(self.media)
        if self.request_phone:
            out["request_phone"] = True
        if self.template:
            out["template"] = self.template
        return out

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Reply:
        return cls(
            text=payload.get("text", ""),
            choices=[(str(a), str(b)) for a, b in payload.get("choices", [])],
            media=list(payload.get("media", [])),
            request_phone=bool(payload.get("request_phone", False)),
            template=payload.get("template"),
        )


class Reprompt(Exception):
    """Raised by a step on input it cannot use: say `key`, then ask the step's question again."""

    def __init__(self, key: str, **vars: Any) -> None:
        super().__init__(key)
        self.key = key
        self.vars = vars
