"""The gunicorn worker class of the service: gunicorn's gthread worker that takes a new connection only when one of
its threads is free (`worker_class = "service.worker.ThreadWorker"` in service/gunicorn.conf.py).

gunicorn's gthread worker accepts every connection it can (up to worker_connections, 1,000) and queues their
requests for its threads. With keep-alive clients that decides, for as long as the connections live, which worker
serves them: the serving bench (wrk, 8 keep-alive connections, 2 workers x 2 threads) found all 8 held by one
worker in about half of its rounds when requests go through the article store (the other worker idle at 0% CPU,
one core serving everything: ~1,400 instead of ~2,000 req/s on the store-path floor). Here a worker whose threads
are all busy stops listening until one is free, so a new connection waits in the kernel's backlog for a worker
that can serve it now - the other one, when it is idle. Requests on connections a worker already holds are
served as before.
"""

from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker as _GthreadWorker


class ThreadWorker(_GthreadWorker):
    """gthread, accepting only while a thread is free."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.in_flight = 0  # requests queued or running on the thread pool (read and written on the main thread)

    def set_accept_enabled(self, enabled):
        super().set_accept_enabled(enabled and self.in_flight < self.cfg.threads)

    def accept(self, listener):
        if self._accepting:  # not when an earlier event of the same poll took the last free thread
            super().accept(listener)

    def enqueue_req(self, conn):
        self.in_flight += 1
        if self.in_flight >= self.cfg.threads:
            self.set_accept_enabled(False)
        super().enqueue_req(conn)

    def finish_request(self, conn, fs):
        self.in_flight -= 1  # the main loop listens again on its next turn (set_accept_enabled(True))
        super().finish_request(conn, fs)
