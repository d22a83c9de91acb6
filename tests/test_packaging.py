"""A normal (non-editable) install carries every file the bot and the tool read at run time.

The server and the Docker image install a wheel of the project (docs/deploy.md). Files that
are not Python modules - the message templates under `messages/`, Alembic's migrations, the
quarterly report's template - reach the wheel only through `[tool.setuptools]` in
pyproject.toml; a missing one fails only when a person first needs it. Here the wheel is built
from a copy of the source tree (a build writes `build/` and `*.egg-info` beside the sources)
and its file list compared with the tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import flows.render

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "bot", "flows", "storage", "admin_cli", "standins",
           "messages")
# pip's words when the build backend (setuptools) cannot be fetched: no index answers
OFFLINE = ("No matching distribution found", "Could not find a version",
           "Failed to establish a new connection", "Temporary failure in name resolution")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources, as pip builds it."""
    base = tmp_path_factory.mktemp("wheel")
    src, out = base / "src", base / "dist"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(path, src / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
         "--disable-pip-version-check", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        if any(words in result.stdout + result.stderr for words in OFFLINE):
            pytest.skip("the wheel cannot be built here: pip could not fetch the build backend "
                        "(setuptools) from any index")
        pytest.fail(f"pip wheel failed:\n{result.stdout}\n{result.stderr}")
    (built,) = out.glob("sijakon_bot-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def tree(folder: str, pattern: str) -> set[str]:
    """Files under `folder` of the source tree matching `pattern`, as wheel paths."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).glob(pattern)}


def test_the_wheel_holds_every_message_template(wheel_files: set[str]) -> None:
    """Every template of both languages is in the wheel, at messages/ beside flows/, which
    is where flows/render.py looks for them in an installed copy as in the source tree."""
    templates = tree("messages", "*/*.j2")
    assert len(templates) > 100 and {p.split("/")[1] for p in templates} == {"id", "en"}
    assert templates - wheel_files == set()
    beside_flows = Path(flows.render.__file__).parent.parent / "messages"
    assert beside_flows == flows.render.MESSAGES_DIR


def test_the_wheel_holds_the_migrations_and_the_admin_templates(
        wheel_files: set[str]) -> None:
    """Alembic's environment and every revision (the bot and the tool migrate on start), and
    the quarterly report's HTML template."""
    migrations = tree("storage/migrations", "*.py") | tree("storage/migrations", "versions/*.py")
    assert "storage/migrations/env.py" in migrations and len(migrations) >= 6
    assert migrations - wheel_files == set()
    assert "admin_cli/templates/report_quarterly.html.j2" in wheel_files
    assert tree("admin_cli/templates", "*.j2") - wheel_files == set()


def test_the_wheel_holds_the_service_only(wheel: Path, wheel_files: set[str]) -> None:
    """Tests, benches and docs stay in the repository; both commands are declared."""
    tops = {name.split("/")[0] for name in wheel_files}
    meta = {t for t in tops if t.endswith(".dist-info")}
    assert tops - meta == {"admin_cli", "bot", "flows", "messages", "standins", "storage"}
    with zipfile.ZipFile(wheel) as zf:
        scripts = zf.read(f"{meta.pop()}/entry_points.txt").decode()
    assert "sijakon-bot = bot.cli:main" in scripts
    assert "sijakon-admin = admin_cli.app:main" in scripts
