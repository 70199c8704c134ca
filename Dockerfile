# syntax=docker/dockerfile:1
# The moderation service. Two stages:
#   build   - installs the pinned dependencies into a virtualenv, downloads the public data sets (SHA-256
#             checked by training/sources.py) and trains the default model into /app/models;
#   runtime - the virtualenv, the code and the trained model only (no data, no compilers), run as a non-root
#             user by gunicorn, with a HEALTHCHECK on /readyz.
# Run it with keys (without any it binds loopback only, unreachable from outside the container), a PostgreSQL URL
# and optionally your own models/ mounted over the built one: see docs/operators/deployment.md.
#
# Build arguments: PYTHON_IMAGE, the base of both stages (an internal registry's copy of python:3.11-slim);
# DATA_MIRROR, a base URL serving the data downloads when the build host cannot reach their public homes
# (docs/operators/deployment.md, "Container"; the SHA-256 checks are the same).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ARG DATA_MIRROR=""
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY moderation/ moderation/
COPY service/ service/
COPY training/ training/
RUN MODERATION_DATA_MIRROR="${DATA_MIRROR}" python -m training fetch-data \
    && python -m training train \
    && python -m training evaluate > models/evaluation.json \
    && rm -rf data

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 PORT=8000 WEB_CONCURRENCY=2 GUNICORN_THREADS=2
WORKDIR /app
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin moderation
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app/moderation moderation/
COPY --from=build /app/service service/
COPY --from=build /app/training training/
COPY --from=build --chown=10001:10001 /app/models models/
RUN mkdir -p var && chown 10001:10001 var
USER 10001:10001
EXPOSE 8000
# /app/var holds the metrics files and the default SQLite store; mount a volume there or use PostgreSQL
# (MODERATION_DATABASE_URL) so accepted data outlives the container.
VOLUME ["/app/var"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/readyz', timeout=2)"]
CMD ["gunicorn", "-c", "service/gunicorn.conf.py", "service:create_app()"]
