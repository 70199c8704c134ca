"""gunicorn settings for the moderation service: `gunicorn -c service/gunicorn.conf.py 'service:create_app()'`."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Scoring is CPU-bound: one worker per core; a second thread lets a worker answer probes while it scores.
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = 30
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so a slow leak can never take the service down; jitter avoids all at once.
max_requests = 20000
max_requests_jitter = 2000
accesslog = "-"
errorlog = "-"
