"""gunicorn on loopback for the benchmarks, on a port the OS chooses.

The socket is bound here and handed to gunicorn as `fd://N`: probing for a free port and
letting gunicorn bind it later raced with anything else starting at the same moment.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

BASE_DIR = Path(__file__).resolve().parent.parent


class Served(NamedTuple):
    url: str  # http://127.0.0.1:PORT
    pid: int  # gunicorn's arbiter (its workers are its children)


@contextmanager
def gunicorn(env: Mapping[str, str], workers: int) -> Iterator[Served]:
    """Serve the project with gunicorn.conf.py and `workers` workers until the block ends."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"],
            env={**env, "GUNICORN_BIND": f"fd://{sock.fileno()}", "WEB_CONCURRENCY": str(workers)},
            cwd=BASE_DIR, pass_fds=[sock.fileno()],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
