"""The user manuals (docs/panduan-*.md) are the conversations the bot holds today."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "docs" / "manual" / "generate.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sijakon_manual", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, list[Path]]:
    """The generator, and the manuals it writes now (one run, a few seconds)."""
    manual = _generator()
    return manual, manual.generate(tmp_path_factory.mktemp("manual"))


def test_committed_manuals_match_a_fresh_run(fresh: tuple[ModuleType, list[Path]]) -> None:
    """Regenerating the manuals from the real engine gives the committed files, byte for
    byte; a change to a message or a flow shows up here until the manuals are rewritten."""
    manual, written = fresh
    assert sorted(p.name for p in written) == ["panduan-tukang.md", "panduan-warga.md"]
    stale = manual.stale(written, ROOT / "docs")
    assert not stale, (f"{', '.join(stale)} out of date: run python docs/manual/generate.py "
                       "(.venv/bin/python docs/manual/generate.py) and commit the result")


def test_every_conversation_is_rendered_cleanly(fresh: tuple[ModuleType, list[Path]]) -> None:
    """Every marker became a conversation with the bot's answers in it, and no temporary
    path or unrendered markup leaks into the text."""
    manual, written = fresh
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert manual.MARK not in text, path.name
        blocks = text.split("```text\n")[1:]
        assert len(blocks) >= 10, path.name
        for block in blocks:
            assert "SIJAKON ›" in block.split("\n```", 1)[0], block[:200]
        for leak in ("/tmp/", "<b>", "</b>", "<i>", "{{", "{%"):
            assert leak not in text, (path.name, leak)
