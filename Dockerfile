# SIJAKON Bot image: `sijakon-bot run` as a non-root user, dependencies from requirements.lock
# (every file checked against its sha256). The alternative to the systemd setup of
# docs/deploy.md; compose.yaml runs it beside PostgreSQL 15.
#
#   docker build -t sijakon-bot .
#   docker compose up -d
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/sijakon/venv \
    PATH=/opt/sijakon/venv/bin:$PATH

# pg_dump/pg_restore for `sijakon-admin db backup|restore` on PostgreSQL: bookworm's client is
# version 15, like the server in compose.yaml (pg_dump must not be older than the server).
# Versions are not pinned: a rebuild takes Debian's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 sijakon \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/sijakon \
       --shell /usr/sbin/nologin sijakon \
    && install -d -o sijakon -g sijakon -m 0750 /var/lib/sijakon /var/backups/sijakon

# The locked dependencies first (a layer that changes only with the lock), then the source.
# The project is a normal install into the venv (the message templates, migrations and report
# template are package data: tests/test_packaging.py), compiled by pip as it installs; the
# build backend, setuptools, comes from the lock (--no-build-isolation).
WORKDIR /opt/sijakon/src
COPY requirements.lock ./
RUN python -m venv "$VIRTUAL_ENV" \
    && pip install --no-deps --require-hashes -r requirements.lock
COPY . .
RUN pip install --no-deps --no-build-isolation . \
    && sijakon-bot --help >/dev/null

# numeric, so that runtimes checking "runAsNonRoot" can tell it is not root
USER 10001:10001
WORKDIR /var/lib/sijakon
ENV SIJAKON_DATA_DIR=/var/lib/sijakon \
    SIJAKON_HTTP_HOST=0.0.0.0 \
    SIJAKON_HTTP_PORT=8080
EXPOSE 8080
VOLUME ["/var/lib/sijakon"]

# 200 while the database answers and the delivery worker makes progress, else 503 (or no
# answer): `docker ps` shows "unhealthy". `sijakon-bot run` always serves it, polling or not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SIJAKON_HTTP_PORT', '8080'), timeout=4)"]

# SIGTERM (docker stop): no new updates, the one in hand finishes, unsent messages stay queued.
STOPSIGNAL SIGTERM
CMD ["sijakon-bot", "run"]
