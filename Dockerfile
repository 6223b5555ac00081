# breaking-push fan-out node. Configuration comes from BREAKING_* variables (docs/CONFIGURATION.md).

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY clients/python ./clients/python
COPY clients/js ./clients/js
RUN python -m venv /opt/venv && /opt/venv/bin/pip install .

FROM python:3.11-slim-bookworm
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
