# optout-proxy container image.
#
# Two stages so the runtime image carries no build tooling: the builder turns
# the project and every dependency into wheels, the final stage installs only
# those wheels (no index, no compiler) and runs as an unprivileged user.
# tests/test_wheel.py builds and installs the wheel the same way and runs it.
#
# Build:  docker build -t optout-proxy .
# Run:    docker run -p 8080:8080 -e OPTOUT_UPSTREAM=http://label-site:8000 optout-proxy
#
# Configured entirely by OPTOUT_* environment variables (README.md lists them).
# OPTOUT_UPSTREAM is required and has no default: the proxy must be told which
# origin (the label's website) it fronts.
# Needs BuildKit (default since Docker 23) for the RUN --mount below.

FROM python:3.13-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build

# Only what the wheel is built from; rules/ is not in the wheel (see below).
# constraints.txt is the lock `make install` and CI use too.
COPY pyproject.toml README.md constraints.txt ./
COPY proxy/ proxy/
COPY addons/ addons/

# The project wheel first, then wheels for everything it depends on, resolved
# from that wheel's own metadata so both agree on the dependency list, at the
# versions constraints.txt pins.
RUN pip wheel --no-cache-dir --no-deps -w /wheels . \
 && pip wheel --no-cache-dir -c constraints.txt -w /wheels /wheels/optout_proxy-*.whl


FROM python:3.13-slim

LABEL org.opencontainers.image.title="optout-proxy" \
      org.opencontainers.image.description="Reverse proxy that reserves TDM rights, blocks AI training crawlers and logs every request." \
      org.opencontainers.image.licenses="MIT"

# OPTOUT_ADMIN: the admin server (/healthz, /readyz, /metrics) must be reachable
# from outside the container for the platform's probes; publish 9090 only to
# the platform, never to the internet. Whoever reaches it can read /metrics:
# mount a secret and set OPTOUT_METRICS_TOKEN_FILE to make /metrics require
# "Authorization: Bearer <token>" (the probes stay open), or bind OPTOUT_ADMIN
# to an address only the platform reaches.
# OPTOUT_WORKERS: worker processes serving 8080, one per core (default 1; "auto"
# counts the CPUs the container may use). Each writes access-<i>.jsonl in
# /var/log/optout; the supervisor answers on 9090 for all of them.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OPTOUT_LISTEN=0.0.0.0:8080 \
    OPTOUT_ADMIN=0.0.0.0:9090 \
    OPTOUT_RULES=/srv/optout/rules \
    OPTOUT_LOG=/var/log/optout/access.jsonl \
    OPTOUT_STATE=/var/lib/optout \
    OPTOUT_CACHE=/var/lib/optout/cache

# Fixed uid/gid so volume ownership is predictable on the host.
RUN groupadd --system --gid 10001 optout \
 && useradd --system --uid 10001 --gid optout --no-create-home \
        --home-dir /srv/optout --shell /usr/sbin/nologin optout \
 && mkdir -p /srv/optout/rules /var/log/optout /var/lib/optout \
 && chown optout:optout /var/log/optout /var/lib/optout

# The wheels are bind-mounted rather than copied, so they never become a layer.
# Versions are pinned by constraints.txt (-c), the same lock the builder used,
# so a per-package == pin here would only duplicate it.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/build/constraints.txt,target=/constraints.txt \
    pip install --no-cache-dir --no-index --find-links=/wheels -c /constraints.txt optout-proxy

WORKDIR /srv/optout

# The shipped rules: agents/, ipranges/ and policy.yaml. Mount a directory over
# /srv/optout/rules (or a single file over policy.yaml) to use your own.
# They stay root-owned: the proxy reads them, it never writes them.
COPY rules/ /srv/optout/rules/

VOLUME ["/srv/optout/rules", "/var/log/optout", "/var/lib/optout"]

# 8080: the proxy; 9090: the admin server (health, readiness, metrics).
EXPOSE 8080 9090

USER 10001:10001

# Liveness from the admin server; the image has python but no curl. If you move
# OPTOUT_ADMIN to another port, override this (docker run --health-cmd ...).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=3)"]

ENTRYPOINT ["optout"]
CMD ["run"]
