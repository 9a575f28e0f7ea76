"""A real S3-compatible server for tests: moto's server mode on a free port of 127.0.0.1.

moto keeps its buckets in process-wide state, so a server started after another one in the
same pytest process would still see that server's buckets; :func:`moto_s3` resets the
state when it starts, so each test module begins with an empty store.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def moto_s3() -> Iterator[str]:
    """Start moto's S3 server with an empty store; yields its endpoint URL, stops it after."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()
        yield url
    finally:
        server.stop()
