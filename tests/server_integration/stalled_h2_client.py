"""A gRPC client over raw HTTP/2 (Debian's python3-h2) whose application never reads: it
answers the server's PINGs and SETTINGS, so keepalive never drops it, but it opens no
flow-control window, so the server can send at most 64 KiB of any answer or stream. The
grpcio client cannot be made to stall like this (it reads into its own buffers), and a
stalled TCP proxy is dropped by the server's keepalive after about 20 s. With `ca` (PEM)
it speaks TLS, and with `api_key` every call carries it, as a tenant's client does."""

from __future__ import annotations

import select
import socket
import ssl
import struct
import threading
import time

import grpc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings


class StalledH2Client:
    def __init__(self, port: int, ca: bytes | None = None, api_key: str | None = None):
        self.sock = socket.create_connection(("127.0.0.1", port))
        if ca is not None:
            context = ssl.create_default_context(cadata=ca.decode())
            context.set_alpn_protocols(["h2"])
            self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        # Every read and write under self.lock (an SSL socket must not be used by two
        # threads at once): the pump waits for data outside the lock, then reads inside.
        self.sock.setblocking(False)
        self.scheme = "http" if ca is None else "https"
        self.api_key = api_key
        self.closed = False
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        self.lock = threading.Lock()
        self.reset: set[int] = set()  # streams the server reset
        self.status: dict[int, str] = {}  # streams the server ended: their grpc-status
        self.conn.initiate_connection()
        self._flush()
        threading.Thread(target=self._pump, daemon=True).start()

    def _flush(self):
        data = memoryview(self.conn.data_to_send())
        while data:  # small: headers, a request, PING and SETTINGS answers
            try:
                data = data[self.sock.send(data):]
            except (ssl.SSLWantWriteError, BlockingIOError):
                select.select([], [self.sock], [], 1)

    def _pump(self):
        try:
            while not self.closed:
                pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
                if not pending and not select.select([self.sock], [], [], 0.1)[0]:
                    continue
                with self.lock:
                    try:
                        data = self.sock.recv(65536)
                    except (ssl.SSLWantReadError, BlockingIOError):
                        continue
                    if not data:
                        return
                    for event in self.conn.receive_data(data):
                        if isinstance(event, h2.events.StreamReset):
                            self.reset.add(event.stream_id)
                        elif isinstance(event, (h2.events.TrailersReceived,
                                                h2.events.ResponseReceived)):
                            # A refusal comes as "trailers only": the status in the
                            # response's one HEADERS frame.
                            fields = {bytes(k): bytes(v) for k, v in event.headers}
                            if b"grpc-status" in fields:
                                self.status[event.stream_id] = fields[b"grpc-status"].decode()
                    self._flush()  # PING and SETTINGS answers; never a WINDOW_UPDATE
        except (OSError, ValueError, h2.exceptions.ProtocolError):  # closed by close()
            pass

    def call(self, method: str, message: bytes) -> int:
        """Sends one request on a new stream; its id."""
        with self.lock:
            stream = self.conn.get_next_available_stream_id()
            headers = [(":method", "POST"), (":scheme", self.scheme), (":path", method),
                       (":authority", "localhost"), ("content-type", "application/grpc"),
                       ("te", "trailers")]
            if self.api_key:
                headers.append(("authorization", f"Bearer {self.api_key}"))
            self.conn.send_headers(stream, headers)
            self.conn.send_data(stream, b"\0" + struct.pack(">I", len(message)) + message,
                                end_stream=True)
            self._flush()
        return stream

    def finished(self, stream: int) -> bool:
        with self.lock:
            return stream in self.reset or stream in self.status

    def close(self):
        self.closed = True
        with self.lock:
            try:
                self.sock.close()
            except OSError:
                pass


def held_until_refused(client: StalledH2Client, method: str, request, probe, what: str,
                       pause: float, most: int) -> list[int]:
    """Calls `method` through `client` (whose answers are never read) one at a time, until
    `probe()` is refused RESOURCE_EXHAUSTED naming `what`; the calls held. Fails once
    `most` are held and the probe is still served."""
    held = []
    while True:
        held.append(client.call(method, request.SerializeToString()))
        time.sleep(pause)
        try:
            probe()
        except grpc.RpcError as refused:
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused
            assert what in refused.details()
            return held
        assert len(held) < most, f"{most} unread answers, and still room for {what}"
