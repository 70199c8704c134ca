"""gunicorn settings for the moderation service: `gunicorn -c service/gunicorn.conf.py 'service:create_app()'`.

Tuned for a 2-core machine (see docs/operators/deployment.md, "gunicorn"):
- 2 workers (one per core; scoring is CPU-bound and holds the GIL), 2 threads each so a worker still answers
  probes and keep-alive connections while one thread scores. WEB_CONCURRENCY / GUNICORN_THREADS override.
- preload_app: the model is loaded and verified once in the master, before forking, so a worker that dies (OOM
  kill, max-requests recycle) is replaced in milliseconds by a fork that is ready at once, and a bad model stops
  the start instead of crash-looping workers. After the fork each worker drops the SQLAlchemy connection pool it
  inherited (a pooled connection must never be shared between processes) and reloads the model if
  `models/current` moved on since the master loaded it (a live switch must survive worker replacement).
- No thread starts in the master before the fork (the polling threads of service/watch.py start in each worker;
  a thread holding a lock at the fork would leave it held in the child). A store the master could not reach at
  start is forked without its schema; each worker sets it up, at most once, on its first connection that works.
- max_requests with jitter recycles workers now and then, never all at once; graceful_timeout lets in-flight
  requests (a 1,000-comment batch takes seconds) finish on SIGTERM.
- Metrics: prometheus-client multiprocess mode, its files in var/prometheus/<port>/ inside the project (emptied at
  start, not on a HUP reload; a dead worker's gauges dropped in child_exit).
- Malformed HTTP that gunicorn refuses itself (request line or headers too long, bad Content-Length, unknown
  Transfer-Encoding) is answered in the API's JSON error shape, never HTML and never a 5xx (service/http_errors.py).
- Without any key configured (MODERATION_API_KEYS, MODERATION_ADMIN_KEYS) the service is open, so it binds the
  loopback interface only, whatever HOST says, and logs a warning saying so.
"""

import ipaddress
import os
import shutil
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # the JSON log formatter is imported from service/ before the app is
    sys.path.insert(0, str(PROJECT_ROOT))


def _keys_configured() -> bool:
    return any(k.strip() for name in ("MODERATION_API_KEYS", "MODERATION_ADMIN_KEYS")
               for k in os.environ.get(name, "").strip('"').split(","))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_host = os.environ.get("HOST", "127.0.0.1")
_port = os.environ.get("PORT", "8000")
KEYS_CONFIGURED = _keys_configured()
FORCED_LOOPBACK = not KEYS_CONFIGURED and not _is_loopback(_host)
if not KEYS_CONFIGURED:
    _host = "127.0.0.1" if FORCED_LOOPBACK else _host
bind = f"[{_host}]:{_port}" if ":" in _host and not _host.startswith("[") else f"{_host}:{_port}"

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
worker_class = "gthread"
preload_app = True
timeout = 30
graceful_timeout = 25
keepalive = 5
# A recycle stalls that worker's share of traffic for ~0.3 s (it stops accepting, finishes, the master forks a new
# one): at 50,000 a busy 2-worker server (1,600 req/s) recycled a worker every ~60 s, and the serving bench caught
# one in its steady-load window (p99 66 ms instead of 4 ms). Memory is bounded (LRU caches), so recycling is a
# safety net: about every 10 minutes per worker at full load.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "500000"))
max_requests_jitter = max_requests // 10
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn's control socket (for `gunicornc`) defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), shared
# by every gunicorn that user starts: a second instance (another port, a bench, a test server) takes it over. One
# per port instead, in the project's var/ (GUNICORN_CONTROL_SOCKET overrides; a Unix socket path is limited to 107
# bytes, so a deeper checkout keeps gunicorn's default).
_control = os.environ.get("GUNICORN_CONTROL_SOCKET", str(PROJECT_ROOT / "var" / f"gunicorn-{_port}.ctl"))
if len(os.fsencode(_control)) <= 107:
    control_socket = _control

# The app is built in this process (preload_app) and forked: no polling thread may start here (service/watch.py).
os.environ["_MODERATION_GUNICORN_MASTER"] = str(os.getpid())

# gunicorn's own refusals (malformed HTTP) in the API's JSON error shape; set here, in the master, before the fork.
from service.http_errors import install as _json_errors  # noqa: E402

_json_errors()

# The app writes one JSON access line per request itself (with the request id); gunicorn logs the rest as JSON.
accesslog = None
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "service.observability.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        # gunicorn logs access lines whenever logconfig_dict is set; the app's own line replaces them.
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}

# Must be in the environment, and exist empty, before prometheus_client is first imported (by the log formatter
# below or the app). The master reads this file at start and again on every HUP (reload): it is emptied at start
# only, so a reload keeps the counts of the workers it replaces (a counter that fell back to zero would read as a
# restart to Prometheus, and the old workers' requests would vanish from the totals).
METRICS_DIR = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR",
                                         str(PROJECT_ROOT / "var" / "prometheus" / str(_port))))
if os.environ.get("_MODERATION_METRICS_MASTER") != str(os.getpid()):
    shutil.rmtree(METRICS_DIR, ignore_errors=True)
    os.environ["_MODERATION_METRICS_MASTER"] = str(os.getpid())
METRICS_DIR.mkdir(parents=True, exist_ok=True)


def on_starting(server):
    if not KEYS_CONFIGURED:
        where = f"HOST={os.environ.get('HOST')} was overridden: " if FORCED_LOOPBACK else ""
        server.log.warning(
            "no API key configured (MODERATION_API_KEYS, MODERATION_ADMIN_KEYS): the service is open to anyone "
            "who can reach it, so %sit binds the loopback interface only (%s). Set keys to serve other hosts.",
            where, bind)


def post_fork(server, worker):
    from service.lifecycle import after_fork

    after_fork(worker.app.wsgi(), worker.log)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
