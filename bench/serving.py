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

BASE_DIR = Path(__file__).resolve().parent.parent


@contextmanager
def gunicorn(env: Mapping[str, str], workers: int) -> Iterator[str]:
    """Serve the project with gunicorn.conf.py and `workers` workers; yield the base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
             "config.wsgi"],
            env={**env, "GUNICORN_BIND": f"fd://{sock.fileno()}", "WEB_CONCURRENCY": str(workers)},
            cwd=BASE_DIR, pass_fds=[sock.fileno()],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
