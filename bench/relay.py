"""A bare byte relay in Python, the floor under any Python HTTP proxy (case 12).

``python -m bench.relay HOST:PORT`` listens on a free loopback port, prints it, and for
each connection opens one to ``HOST:PORT`` and copies bytes both ways with 1 MiB
``recv_into``/``sendall`` calls, in a thread per direction: no HTTP parsing, no framing,
no event loop. The v1 face does more (it speaks HTTP to both sides and may rewrite the
bytes), so its layer throughput through its own process can only approach this one's.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading

BUFFER = 1 << 20


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    buffer = bytearray(BUFFER)
    view = memoryview(buffer)
    try:
        while True:
            count = source.recv_into(buffer)
            if not count:
                break
            sink.sendall(view[:count])
    except OSError:
        pass  # either side went away: the finally shuts both
    finally:
        for end in (sink, source):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def _serve(client: socket.socket, upstream: tuple[str, int]) -> None:
    server = socket.create_connection(upstream)
    for a, b in ((client, server), (server, client)):
        a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def main() -> None:
    host, _, port = sys.argv[1].rpartition(":")
    upstream = (host, int(port))
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"relay: 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    while True:
        client, _ = listener.accept()
        _serve(client, upstream)


if __name__ == "__main__":
    main()
