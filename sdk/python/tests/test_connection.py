"""How the SDK connects (agentfense/_connection.py): endpoint, TLS and the API key from
arguments or the environment, and the refusals that keep a key from leaking. No server:
these decide before anything is sent."""

from __future__ import annotations

import grpc
import pytest

from agentfense import AuthenticationError, InvalidConfigurationError, SandboxClient
from agentfense._connection import resolve_connection
from agentfense.exceptions import from_rpc_error

from test_exceptions import FakeRpcError

KEY = "afk_" + "k" * 43


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AGENTFENSE_ENDPOINT", "AGENTFENSE_API_KEY", "AGENTFENSE_TLS",
                 "AGENTFENSE_CA_CERT"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_plain_loopback_without_a_key() -> None:
    connection = resolve_connection(None)
    assert (connection.endpoint, connection.api_key, connection.tls) == ("localhost:9000", None, False)
    assert connection.metadata is None


def test_the_key_travels_as_a_bearer_header() -> None:
    connection = resolve_connection("127.0.0.1:9000", api_key=KEY)
    assert connection.metadata == (("authorization", f"Bearer {KEY}"),)


def test_environment_supplies_key_and_ca(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("AGENTFENSE_API_KEY", KEY)
    monkeypatch.setenv("AGENTFENSE_CA_CERT", str(ca))
    connection = resolve_connection("sandbox.example.com:9000")
    assert connection.api_key == KEY and connection.tls
    assert connection.root_certificates == b"-----BEGIN CERTIFICATE-----\n"
    # An argument wins; "" asks for no key at all.
    assert resolve_connection("127.0.0.1:1", api_key="").api_key is None


def test_tls_from_the_environment_uses_the_system_cas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTFENSE_TLS", "true")
    connection = resolve_connection("sandbox.example.com:9000", api_key=KEY)
    assert connection.tls and connection.root_certificates is None


def test_a_key_is_never_sent_in_clear_text_to_another_machine() -> None:
    with pytest.raises(InvalidConfigurationError, match="clear text to sandbox.example.com:9000"):
        resolve_connection("sandbox.example.com:9000", api_key=KEY)
    with pytest.raises(InvalidConfigurationError, match="clear text"):
        SandboxClient("10.1.2.3:9000", api_key=KEY)
    resolve_connection("127.0.0.1:9000", api_key=KEY)  # loopback: fine
    resolve_connection("sandbox.example.com:9000", api_key=KEY, tls=True)


def test_contradictions_are_refused(tmp_path) -> None:
    with pytest.raises(InvalidConfigurationError, match="need tls=True"):
        resolve_connection("h:1", tls=False, ca_cert=b"pem")
    with pytest.raises(InvalidConfigurationError, match="go together"):
        resolve_connection("h:1", client_cert=b"pem")
    with pytest.raises(InvalidConfigurationError, match="one word"):
        resolve_connection("h:1", api_key="two words")
    with pytest.raises(InvalidConfigurationError, match="cannot read ca_cert"):
        resolve_connection("h:1", ca_cert=str(tmp_path / "missing.pem"))


def test_unauthenticated_is_an_authentication_error() -> None:
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAUTHENTICATED,
                                        "API key not recognised (unknown, revoked or mistyped)",
                                        [("agentfense-reason", "UNAUTHENTICATED")]))
    assert isinstance(error, AuthenticationError)
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and "revoked" in str(error)
    # Without the reason (a proxy answered), the status code decides.
    assert isinstance(from_rpc_error(FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "no")),
                      AuthenticationError)
