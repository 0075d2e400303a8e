# syntax=docker/dockerfile:1
# kukey: Slack chat-ops for KuCoin sub-account API keys.
#   docker build -t kukey .
#   docker run --env-file .env -v kukey-data:/data -v "$PWD/policy.toml:/etc/kukey/policy.toml:ro" kukey
# No secret is baked in: every token and key comes from the environment at run time (see .env.example).

# --- build: the kukey wheel and the wheels of its dependencies ---------------------------------------
FROM python:3.11.12-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN python -m pip wheel --wheel-dir /wheels .

# --- run: only the wheels, as a non-root user ---------------------------------------------------------
FROM python:3.11.12-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    KUKEY_DATABASE_URL=sqlite:////data/kukey.db \
    KUKEY_POLICY=/etc/kukey/policy.toml \
    KUKEY_METRICS_PORT=9102
RUN groupadd --system --gid 10001 kukey \
    && useradd --system --uid 10001 --gid kukey --home-dir /data --no-create-home --shell /usr/sbin/nologin kukey \
    && mkdir -p /data /etc/kukey \
    && chown kukey:kukey /data
# --no-index: the runtime stage installs exactly the wheels the build stage made, nothing from the network.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links=/wheels /wheels/kukey-*.whl
COPY policy.example.toml /etc/kukey/policy.example.toml
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9102
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + (os.environ.get('KUKEY_METRICS_PORT') or '9102') + '/readyz', timeout=4)"]
ENTRYPOINT ["kukey"]
CMD ["run"]
