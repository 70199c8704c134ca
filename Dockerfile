# The moderation service: gunicorn serving the default model, trained at build time from the public data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HOST=0.0.0.0 PORT=8000
WORKDIR /app

RUN useradd --create-home --uid 10001 moderation

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY moderation/ moderation/
COPY service/ service/
COPY training/ training/

# Downloads the public data sets (checking their SHA-256) and trains the default model into /app/models.
RUN python -m training fetch-data && python -m training train && rm -rf data \
    && mkdir -p var && chown -R moderation:moderation models var

USER moderation
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/readyz', timeout=2)"
CMD ["gunicorn", "-c", "service/gunicorn.conf.py", "service:create_app()"]
