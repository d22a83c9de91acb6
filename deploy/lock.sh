#!/usr/bin/env bash
# Regenerates requirements.lock: every runtime dependency of pyproject.toml plus
# deploy/requirements-deploy.in, pinned with the sha256 of every file PyPI has for that
# version, for Python 3.11+ on any platform (uv's universal resolution writes markers where a
# dependency applies only somewhere, e.g. colorama on Windows).
#
#   deploy/lock.sh                          # after editing dependencies: keeps every pin it can
#   deploy/lock.sh --upgrade                # every package to its newest allowed version
#   deploy/lock.sh --upgrade-package twilio # one package (and what it needs)
#
# Pins already in requirements.lock are kept unless they conflict with pyproject.toml (uv reads
# the output file as preferences), so adding a dependency moves nothing else. Needs PyPI. uv
# comes from PyPI into a tools venv outside the work tree (SIJAKON_TOOLS_VENV, default
# ~/.cache/sijakon-tools); nothing is installed into .venv. Review `git diff requirements.lock`,
# run the tests, commit pyproject.toml and the lock together.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"
TOOLS="${SIJAKON_TOOLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sijakon-tools}"
if [ ! -x "$TOOLS/bin/uv" ] || [ "$("$TOOLS/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet "uv==$UV_VERSION"
fi

# --python-version: the oldest Python pyproject.toml allows, so the lock installs on 3.11+.
# UV_DEFAULT_INDEX may point uv at a PyPI mirror (its files must be the same as PyPI's).
exec "$TOOLS/bin/uv" pip compile pyproject.toml deploy/requirements-deploy.in \
    --universal --python-version 3.11 --generate-hashes \
    --custom-compile-command "deploy/lock.sh" \
    --output-file requirements.lock --quiet "$@"
