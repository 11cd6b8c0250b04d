"""Several web worker processes, each accepting on a listening socket of its own (SO_REUSEPORT).

With one listening socket shared by every worker (what `uvicorn --workers N` does), the worker
that wakes first takes every connection waiting in the queue (asyncio accepts up to the backlog
at each wake-up). Keep-alive clients (a browser, wrk, nginx's upstream connections) then stay
on that one worker: measured here, one worker used 17.8 s of CPU in a 15 s run of the mixed
workload while the other used 0.3 s, so the site ran on one core of two. With a socket per
worker in one SO_REUSEPORT group, the kernel spreads new connections over the workers by a
hash of their addresses, and none can take another's.

uvicorn's own supervisor (`Multiprocess`) still starts, watches and restarts the workers; it
hands each new worker a `ReusePortSocket`, which the worker unpickles into its own socket, bound
there, so the supervisor holds no listening socket that could queue connections nobody accepts.
"""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind_reuseport(host: str, port: int) -> socket.socket:
    """A socket bound to host:port in the port's SO_REUSEPORT group (listen() comes later)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class ReusePortSocket:
    """Stands for the socket a worker binds for itself: pickled to a new worker, it arrives as
    `bind_reuseport(host, port)` called in that worker."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[object, tuple[str, int]]:
        return (bind_reuseport, (self.host, self.port))


def check_port_free(host: str, port: int) -> None:
    """Fail now, in the supervisor, when host:port is taken: by any listener, including another
    site's workers, which a socket with SO_REUSEPORT would silently share the port with."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))  # OSError (address in use) when anything listens there


def run(config: uvicorn.Config) -> None:
    """Serve `config.workers` worker processes on config.host:config.port until stopped."""
    check_port_free(config.host, config.port)
    placeholder = ReusePortSocket(config.host, config.port)
    # Each worker unpickles the placeholder into a socket of its own (see ReusePortSocket).
    Multiprocess(config, sockets=[placeholder]).run()  # type: ignore[list-item]
