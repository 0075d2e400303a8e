# syntax=docker/dockerfile:1
# kukey: Slack chat-ops for KuCoin sub-account API keys.
#   docker build -t kukey:0.2.0 .
#   docker run --env-file .env -v kukey-data:/data -v "$PWD/policy.toml:/etc/kukey/policy.toml:ro" kukey:0.2.0
# No secret is baked in: every token and key comes from the environment at run time (see .env.example).

# The base image is pinned by digest (python:3.11.12-slim-bookworm); refresh both together with
#   docker buildx imagetools inspect python:3.11.12-slim-bookworm
# Every third-party package comes from requirements/runtime.txt, pinned with hashes (make lock).

# --- build: the wheels of the locked dependencies (hashes checked), then kukey's own ------------------
FROM python:3.11.12-slim-bookworm@sha256:dbf1de478a55d6763afaa39c2f3d7b54b25230614980276de5cacdde79529d0c AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN python -m pip wheel --require-hashes --wheel-dir /wheels -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN python -m pip wheel --no-deps --wheel-dir /wheels .

# --- run: only the wheels, as a non-root user ---------------------------------------------------------
FROM python:3.11.12-slim-bookworm@sha256:dbf1de478a55d6763afaa39c2f3d7b54b25230614980276de5cacdde79529d0c
# MALLOC_ARENA_MAX=2: glibc gives the bot's threads up to 8 malloc arenas per CPU, and memory freed in one
# arena cannot serve another; with two, the RSS after a burst of Slack requests is about 2.3 MB lower
# (105.5 -> 103.2 MB; the same when idle), acks no slower: docs/benchmarks.md, "Growth: memory".
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    MALLOC_ARENA_MAX=2 \
    KUKEY_DATABASE_URL=sqlite:////data/kukey.db \
    KUKEY_POLICY=/etc/kukey/policy.toml \
    KUKEY_METRICS_PORT=9102
RUN groupadd --system --gid 10001 kukey \
    && useradd --system --uid 10001 --gid kukey --home-dir /data --no-create-home --shell /usr/sbin/nologin kukey \
    && mkdir -p /data /etc/kukey \
    && chown kukey:kukey /data
# --no-index: the runtime stage installs exactly the wheels the build stage made, nothing from the network;
# the locked ones are checked against their hashes again, kukey's own wheel was built from this context.
COPY requirements/runtime.txt /tmp/runtime.txt
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links=/wheels --require-hashes -r /tmp/runtime.txt \
    && python -m pip install --no-index --no-deps /wheels/kukey-*.whl \
    && rm /tmp/runtime.txt
COPY policy.example.toml /etc/kukey/policy.example.toml
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9102
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + (os.environ.get('KUKEY_METRICS_PORT') or '9102') + '/readyz', timeout=4)"]
ENTRYPOINT ["kukey"]
CMD ["run"]
