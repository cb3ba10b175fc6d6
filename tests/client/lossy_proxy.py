"""A TCP proxy that loses replies: the request reaches the router, the first `drop` answers never come back.

This is the "lost reply" of a real network (a timeout, a reset) after the server has acted on a request.
"""
from __future__ import annotations

import socket
import threading


class LossyProxy:
    def __init__(self, upstream: tuple[str, int], drop: int = 1):
        self.upstream = upstream
        self.drops_left = drop
        self.dropped = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with client, socket.create_connection(self.upstream) as upstream:
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            try:
                while data := upstream.recv(65536):  # the router has acted: its answer is on the way
                    if self._take_drop():
                        client.shutdown(socket.SHUT_RDWR)  # the reply is lost; the client sees the connection die
                        return
                    client.sendall(data)
            except OSError:
                pass

    def _take_drop(self) -> bool:
        with self._lock:
            drop = self.drops_left > 0
            self.drops_left -= drop
            self.dropped += drop
            return drop


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
