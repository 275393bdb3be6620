"""A deadline for one whole download, however slowly the server sends (`helpers.download`).

requests and urllib3 only time out each read: a server that sends one byte every few seconds,
in its headers or its body, never trips that. A clock checked between body chunks does not
bound the headers either (the `slow-headers` case of tests/test_reliability_collect.py's
test_a_trickling_server_is_cut_off_at_the_deadline), so this stays hand-written: a timer
shuts down the sockets the download opened or reused, which ends any read waiting on them.
"""

from __future__ import annotations

import contextvars
import os
import socket
import threading
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "current_deadline", default=None)


class Deadline:
    """The time one download may take in all. When it is up, the sockets opened or used
    meanwhile are shut down, which ends any read waiting on them, however slowly the
    server sends (a per-read timeout never fires for one byte every few seconds)."""

    def __init__(self, seconds: float):
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._token = _current_deadline.set(self)
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        _current_deadline.reset(self._token)
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down when the deadline passes (at once if it has)."""
        # A duplicate of its own, so the socket can be reached even once TLS wraps it.
        try:
            own = socket.socket(fileno=os.dup(sock.fileno()))
        except OSError:  # out of file descriptors: the per-read timeout still applies
            return
        with self._lock:
            self._sockets.append(own)
            if self.expired:
                _shut(own)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed by the other side
        pass


class _DeadlineConnection(HTTPConnection):
    """A urllib3 connection whose socket the current `Deadline` watches."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection, opened for an earlier download
            _watch(self.sock)
        super().request(*args, **kwargs)


class _DeadlineHTTPSConnection(_DeadlineConnection, HTTPSConnection):
    pass


class _DeadlinePool(HTTPConnectionPool):
    ConnectionCls = _DeadlineConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


def _watch(sock: socket.socket) -> None:
    deadline = _current_deadline.get()
    if deadline is not None:
        deadline.watch(sock)


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter with connections that `Deadline` can cut off (proxied ones too)."""

    _POOLS = {"http": _DeadlinePool, "https": _DeadlineHTTPSPool}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = self._POOLS
        return manager
