"""A gRPC client over raw HTTP/2 (Debian's python3-h2) whose application never reads: it
answers the server's PINGs and SETTINGS, so keepalive never drops it, but it opens no
flow-control window, so the server can send at most 64 KiB of any answer or stream. The
grpcio client cannot be made to stall like this (it reads into its own buffers), and a
stalled TCP proxy is dropped by the server's keepalive after about 20 s."""

from __future__ import annotations

import socket
import struct
import threading

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings


class StalledH2Client:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port))
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
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _pump(self):
        try:
            while data := self.sock.recv(65536):
                with self.lock:
                    for event in self.conn.receive_data(data):
                        if isinstance(event, h2.events.StreamReset):
                            self.reset.add(event.stream_id)
                        elif isinstance(event, h2.events.TrailersReceived):
                            trailers = {bytes(k): bytes(v) for k, v in event.headers}
                            self.status[event.stream_id] = trailers.get(
                                b"grpc-status", b"?").decode()
                    self._flush()  # PING and SETTINGS answers; never a WINDOW_UPDATE
        except (OSError, h2.exceptions.ProtocolError):  # closed by close()
            pass

    def call(self, method: str, message: bytes) -> int:
        """Sends one request on a new stream; its id."""
        with self.lock:
            stream = self.conn.get_next_available_stream_id()
            self.conn.send_headers(stream, [
                (":method", "POST"), (":scheme", "http"), (":path", method),
                (":authority", "localhost"), ("content-type", "application/grpc"),
                ("te", "trailers")])
            self.conn.send_data(stream, b"\0" + struct.pack(">I", len(message)) + message,
                                end_stream=True)
            self._flush()
        return stream

    def finished(self, stream: int) -> bool:
        with self.lock:
            return stream in self.reset or stream in self.status

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
