"""Hostile stand-ins for the collector: a raw socket server on a loopback port, each connection in a thread.

Each behaviour is what a broken proxy or a misdirected URL can do to a
client: trickle the answer's headers or body a byte at a time (every read
arrives well within any read timeout), answer a body of gigabytes (generated
as it is sent, never held), redirect, or read the request so slowly that
the client's send blocks. ``requests`` counts the requests that arrived.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

#: a huge answer: 2 GiB, sent 64 KiB of zeros at a time
HUGE_BYTES = 2 << 30
CHUNK = 64 * 1024

Behaviour = Callable[[socket.socket, threading.Event], None]


class HostileServer:
    def __init__(self, behaviour: Behaviour, *, receive_buffer: int | None = None) -> None:
        self.behaviour = behaviour
        self.requests = 0
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if receive_buffer is not None:
            # set before listen(), so accepted connections start with it and the window stays small
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> HostileServer:
        self._accepting.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._accepting.join(5)
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.requests += 1
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            try:
                self.behaviour(connection, self._stopping)
            except OSError:
                pass  # the client gave up and closed: what these servers wait for


def read_request(connection: socket.socket, stopping: threading.Event) -> bytes:
    """The request's head, after reading (and dropping) its body of Content-Length bytes."""
    connection.settimeout(0.2)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = _receive(connection, stopping, 65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = _content_length(head)
    while len(rest) < length:
        chunk = _receive(connection, stopping, min(length - len(rest), 1 << 20))
        if not chunk:
            break
        rest += chunk
    return head


def trickled_headers(interval_s: float = 0.5) -> Behaviour:
    """A status line, then one header byte every ``interval_s`` for ever: the headers never end."""

    def behave(connection: socket.socket, stopping: threading.Event) -> None:
        read_request(connection, stopping)
        connection.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Trickle: ")
        while not stopping.wait(interval_s):
            connection.sendall(b"a")

    return behave


def trickled_body(interval_s: float = 0.5) -> Behaviour:
    """Complete headers of a 201 with a 1 MB body, then the body one byte every ``interval_s``."""

    def behave(connection: socket.socket, stopping: threading.Event) -> None:
        read_request(connection, stopping)
        connection.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{")
        while not stopping.wait(interval_s):
            connection.sendall(b" ")

    return behave


def huge_body(status: str = "200 OK", *, chunked: bool = False, size: int = HUGE_BYTES) -> Behaviour:
    """``size`` bytes of zeros, with a Content-Length or chunked, as fast as the client reads them."""

    def behave(connection: socket.socket, stopping: threading.Event) -> None:
        read_request(connection, stopping)
        framing = b"Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}".encode()
        connection.sendall(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n".encode() + framing + b"\r\n\r\n")
        zeros = bytes(CHUNK)
        frame = f"{CHUNK:x}\r\n".encode() + zeros + b"\r\n" if chunked else zeros
        connection.settimeout(5)
        for _ in range(size // CHUNK):
            if stopping.is_set():
                return
            connection.sendall(frame)
        if chunked:
            connection.sendall(b"0\r\n\r\n")

    return behave


def redirect(location: str = "https://elsewhere.example/api/v1/runs", status: str = "302 Found") -> Behaviour:
    def behave(connection: socket.socket, stopping: threading.Event) -> None:
        read_request(connection, stopping)
        connection.sendall(
            f"HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\n"
            "moved on\n".encode()
        )

    return behave


def slow_reader(bytes_per_read: int = 512, interval_s: float = 0.5) -> Behaviour:
    """Read the request ``bytes_per_read`` at a time every ``interval_s``, and never answer."""

    def behave(connection: socket.socket, stopping: threading.Event) -> None:
        connection.settimeout(interval_s)
        while not stopping.wait(interval_s):
            try:
                if not connection.recv(bytes_per_read):
                    return
            except TimeoutError:
                continue

    return behave


def _receive(connection: socket.socket, stopping: threading.Event, size: int) -> bytes:
    while not stopping.is_set():
        try:
            return connection.recv(size)
        except TimeoutError:
            continue
    return b""


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return 0
