"""How a client reaches its server, decided once for SandboxClient and AsyncSandboxClient:
the endpoint, TLS (with the CA to trust and an optional client certificate) and the API
key sent with every call as ``authorization: Bearer KEY``.

Each setting comes from its argument, else from the environment:

    AGENTFENSE_ENDPOINT   host:port (default localhost:9000)
    AGENTFENSE_API_KEY    the key `agentfense server keys add` printed
    AGENTFENSE_TLS        1/true/yes to use TLS with the system's CAs
    AGENTFENSE_CA_CERT    a PEM file of the CA that signed the server's certificate
                          (implies TLS)

An API key never travels in clear text beyond this machine: a key for a non-loopback
endpoint without TLS is refused before anything is sent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

import grpc

from ._lifecycle import is_loopback_endpoint
from .exceptions import InvalidConfigurationError

DEFAULT_ENDPOINT = "localhost:9000"
ENDPOINT_ENV = "AGENTFENSE_ENDPOINT"
API_KEY_ENV = "AGENTFENSE_API_KEY"
TLS_ENV = "AGENTFENSE_TLS"
CA_CERT_ENV = "AGENTFENSE_CA_CERT"

# A PEM file's path, or its content.
PemSource = Union[str, "os.PathLike[str]", bytes]
Metadata = Tuple[Tuple[str, str], ...]


def resolve_endpoint(endpoint: Optional[str]) -> str:
    """``endpoint`` if given, else $AGENTFENSE_ENDPOINT, else localhost:9000."""
    return endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT


def _pem(source: Optional[PemSource], what: str) -> Optional[bytes]:
    if source is None or isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise InvalidConfigurationError(f"cannot read {what} {os.fspath(source)}: "
                                        f"{error.strerror}") from error


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Connection:
    endpoint: str
    api_key: Optional[str]
    tls: bool
    root_certificates: Optional[bytes] = None
    private_key: Optional[bytes] = None
    certificate_chain: Optional[bytes] = None

    @property
    def metadata(self) -> Optional[Metadata]:
        """Sent with every call; None without a key."""
        if not self.api_key:
            return None
        return (("authorization", f"Bearer {self.api_key}"),)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.root_certificates,
                                            private_key=self.private_key,
                                            certificate_chain=self.certificate_chain)


def resolve_connection(endpoint: Optional[str], *, api_key: Optional[str] = None,
                       tls: Optional[bool] = None, ca_cert: Optional[PemSource] = None,
                       client_cert: Optional[PemSource] = None,
                       client_key: Optional[PemSource] = None) -> Connection:
    """The connection the arguments (else the environment) describe; raises
    InvalidConfigurationError for contradictory or unsafe settings."""
    where = resolve_endpoint(endpoint)
    # api_key="" asks for no key even when $AGENTFENSE_API_KEY is set.
    key = (api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")) or None
    if key is not None and any(c.isspace() or ord(c) < 0x20 for c in key):
        raise InvalidConfigurationError(
            "api_key must be the key as `agentfense server keys add` printed it "
            "(one word, no spaces)")
    if ca_cert is None and os.environ.get(CA_CERT_ENV):
        ca_cert = os.environ[CA_CERT_ENV]
    if (client_cert is None) != (client_key is None):
        raise InvalidConfigurationError("client_cert and client_key go together")
    wants_tls = ca_cert is not None or client_cert is not None
    if tls is None:
        tls = wants_tls or _truthy(os.environ.get(TLS_ENV, ""))
    elif not tls and wants_tls:
        raise InvalidConfigurationError("ca_cert and client_cert need tls=True")
    if key and not tls and not is_loopback_endpoint(where):
        raise InvalidConfigurationError(
            f"refusing to send an API key in clear text to {where}: use tls=True (with "
            f"ca_cert=... for a private CA) or set {CA_CERT_ENV}")
    return Connection(where, key, tls, _pem(ca_cert, "ca_cert"), _pem(client_key, "client_key"),
                      _pem(client_cert, "client_cert"))
