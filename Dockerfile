# breaking-push fan-out node. Configuration comes from BREAKING_* variables (docs/CONFIGURATION.md).

# The base image by digest, so two builds of one commit start from the same bytes. This is the
# digest Docker Hub published for python:3.11-slim-bookworm (linux/amd64 and linux/arm64 index);
# to move to a newer patch release, run
#   docker buildx imagetools inspect python:3.11-slim-bookworm
# and paste the "Digest:" line here. tests/integration/test_compose.py checks the form.
FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b AS base

FROM base AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, from the lock file (every hash checked, nothing resolved): this layer
# is rebuilt only when requirements/runtime.txt changes, not when the code does.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements/runtime.txt
# Then this repository's two distributions, without their dependencies (already locked above).
COPY pyproject.toml README.md ./
COPY clients/js/package.json ./clients/js/package.json
COPY clients/js/src ./clients/js/src
COPY clients/python ./clients/python
COPY service ./service
RUN /opt/venv/bin/pip install --no-deps ./clients/python . \
    && /opt/venv/bin/pip check

FROM base
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 breaking \
    && useradd --system --uid 10001 --gid breaking --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin breaking
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8000
# 503 from /readyz (Redis unreachable or not yet subscribed) makes urlopen raise: unhealthy.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
# uvicorn handles SIGTERM: SSE clients get `retry: 500`, WebSockets close 1012, within 10 s.
STOPSIGNAL SIGTERM
CMD ["breaking-push", "serve", "--host", "0.0.0.0", "--port", "8000"]
