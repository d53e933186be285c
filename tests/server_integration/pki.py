"""A throwaway PKI made with the real `openssl` CLI: a CA, a server certificate for
localhost/127.0.0.1, and client certificates, for tests of the server's TLS."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass
class Pki:
    dir: Path
    ca_cert: Path
    ca_key: Path

    def issue(self, name: str, cn: str, *, server: bool = False, serial: int = 1) -> tuple[Path, Path]:
        """A key and a certificate signed by this CA: (cert, key). A server certificate
        names localhost and 127.0.0.1."""
        key, csr, cert, ext = (self.dir / f"{name}.{s}" for s in ("key", "csr", "crt", "ext"))
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", str(key), cwd=self.dir)
        _openssl("req", "-new", "-key", str(key), "-subj", f"/CN={cn}", "-out", str(csr),
                 cwd=self.dir)
        usage = ("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                 if server else "extendedKeyUsage=clientAuth\n")
        ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n" + usage)
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert), "-CAkey",
                 str(self.ca_key), "-set_serial", str(serial), "-days", "2",
                 "-extfile", str(ext), "-out", str(cert), cwd=self.dir)
        return cert, key

    def read(self, path: Path) -> bytes:
        return path.read_bytes()


def make_pki(directory: Path, name: str = "ca") -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", str(key), cwd=directory)
    _openssl("req", "-x509", "-new", "-key", str(key), "-subj", f"/CN=AgentFense test {name}",
             "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(cert), cwd=directory)
    return Pki(directory, cert, key)


def serial_of(cert_der: bytes) -> int:
    """The serial number of a DER certificate (as the server presented it)."""
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"],
                         input=cert_der, capture_output=True, check=True).stdout.decode()
    return int(out.strip().split("=", 1)[1], 16)
