"""A server shared by several tenants: TLS on (a CA and certificates made with openssl),
API keys made with the real `agentfense server keys add`, and one client per principal."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pki import Pki, make_pki
from server_harness import Client, Server, agentfense_bin


def keys_cli(keys_file: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([agentfense_bin(), "server", "keys", *args, "--keys-file", str(keys_file)],
                          capture_output=True, text=True, timeout=30, check=check)


def add_key(keys_file: Path, principal: str, owners: list[str] = (), role: str = "user",
            quotas: dict[str, str] | None = None) -> str:
    """A new API key for `principal`, as the CLI prints it on stdout."""
    args = ["add", "--id", principal, "--role", role]
    for owner in owners:
        args += ["--owner", owner]
    for name, value in (quotas or {}).items():
        args += ["--quota", f"{name}={value}"]
    done = keys_cli(keys_file, *args)
    key = done.stdout.strip()
    assert key.startswith("afk_") and len(key) == 47, done
    return key


@dataclass
class TenantServer:
    root: Path
    pki: Pki
    keys_file: Path
    server: Server
    keys: dict[str, str]
    clients: dict[str, Client] = field(default_factory=dict)
    client_certs: dict[str, tuple[str, str]] = field(default_factory=dict)

    def client(self, name: str) -> Client:
        if name not in self.clients:
            self.clients[name] = self.server.client(self.keys[name])
        return self.clients[name]

    def stop(self) -> None:
        for client in self.clients.values():
            client.close()
        assert self.server.stop() == 0, self.server.read_log()
        shutil.rmtree(self.root, ignore_errors=True)


def start_tenant_server(principals: dict[str, dict], extra_config: str = "",
                        certificates: dict[str, tuple[str, list[str]]] | None = None
                        ) -> TenantServer:
    """`principals`: name -> add_key() arguments; `certificates`: principal -> (the CN
    of a client certificate issued for it, its owners), mapped with `keys add
    --client-cn`."""
    root = Path(tempfile.mkdtemp(prefix="af-tenants-"))
    pki = make_pki(root / "pki")
    server_cert, server_key = pki.issue("server", "localhost", server=True)
    keys_file = root / "etc" / "keys.yaml"
    keys = {name: add_key(keys_file, name, **spec) for name, spec in principals.items()}
    client_certs = {}
    for principal, (cn, owners) in (certificates or {}).items():
        keys_cli(keys_file, "add", "--id", principal, "--client-cn", cn,
                 *[arg for owner in owners for arg in ("--owner", owner)])
        cert, key = pki.issue(f"client-{principal}", cn)
        client_certs[principal] = (str(cert), str(key))
    data_dir = root / "data"
    data_dir.mkdir()
    config = (f"server:\n  tls:\n    cert: {server_cert}\n    key: {server_key}\n"
              f"    client_ca: {pki.ca_cert}\n"
              f"auth:\n  keys_file: {keys_file}\n" + extra_config)
    admin_key = keys.get("admin")
    server = Server(str(data_dir), config=config, ca_path=str(pki.ca_cert),
                    api_key=admin_key).start()
    return TenantServer(root, pki, keys_file, server, keys, client_certs=client_certs)
