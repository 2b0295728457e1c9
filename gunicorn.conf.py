"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py config.wsgi` (README).

Every value can be changed from the environment, so one file serves every app server.
"""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Pages are CPU-bound Python: about two processes per core; WEB_CONCURRENCY overrides it.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
# Threads keep each client's connection open between requests (keepalive below) and answer
# one request while another waits on the database: 2 workers served 1.5-4x the requests of
# sync workers, which close every connection (issue 13; wrk -t2 -c8, loopback).
# Each thread has its own database connection: workers x threads per app server.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# Load Django once and fork: workers share its memory and start at once.
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, so no slow leak in a library can grow without bound
# (GUNICORN_MAX_REQUESTS=0: never). A recycled worker's keep-alive connections end; the
# clients reconnect to whichever worker accepts, so a client that never closes (wrk) can
# end up with every connection on one worker: make bench turns recycling off (issue 14).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 10_000))
max_requests_jitter = max_requests // 10
# X-Forwarded-* (the scheme) is trusted from nobody unless FORWARDED_ALLOW_IPS names the
# proxy (issue 11: gunicorn's own default trusts 127.0.0.1; the README says the header is off).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
