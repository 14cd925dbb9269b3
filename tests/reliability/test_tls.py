"""TLS options reach the connection: a server that speaks TLS, a CA to trust."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import one, query

from ticketdb import server
from ticketdb.connection import connect
from ticketdb.sources import ROOT


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_server(mysql_server, tmp_path_factory) -> Iterator[tuple[server.ThrowawayServer, Path]]:
    if mysql_server.kind != "local":
        pytest.skip("a TLS server is started from local server binaries only")
    certs = tmp_path_factory.mktemp("certs")
    for ca in ("ca", "other_ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                f"/CN=ticketdb test {ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.pem", cwd=certs)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr", cwd=certs)
    (certs / "san.cnf").write_text("subjectAltName = IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.pem",
            cwd=certs)
    srv = server.start("local", extra_args=[f"--ssl-ca={certs / 'ca.pem'}",
                                            f"--ssl-cert={certs / 'server.pem'}",
                                            f"--ssl-key={certs / 'server.key'}"])
    conn = connect(srv.target, database=None)
    query(conn, "CREATE USER 'tls_only'@'%' IDENTIFIED BY 'tls-secret' REQUIRE SSL")
    query(conn, "GRANT ALL ON *.* TO 'tls_only'@'%'")
    conn.close()
    yield srv, certs
    srv.stop()


def deploy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "deploy.py"), *args],
                          capture_output=True, text=True, check=False, timeout=120)


def test_ssl_ca_reaches_the_connection(tls_server):
    srv, certs = tls_server
    url = f"mysql://tls_only:tls-secret@127.0.0.1:{srv.target.port}/ticketdb"
    refused = deploy("--url", url, "--ssl-ca", str(certs / "other_ca.pem"), "status")
    assert refused.returncode == 2, refused.stdout
    assert "cannot connect" in refused.stderr and "certificate verify failed" in refused.stderr
    assert "tls-secret" not in refused.stderr
    ok = deploy("--url", url, "--ssl-ca", str(certs / "ca.pem"), "up")
    assert ok.returncode == 0, ok.stderr
    in_url = deploy("--url", f"{url}?ssl_ca={certs / 'ca.pem'}", "status")
    assert in_url.returncode == 0, in_url.stderr


def test_the_session_is_encrypted(tls_server):
    srv, certs = tls_server
    target = srv.target.__class__(**{**srv.target.__dict__, "user": "tls_only",
                                     "password": "tls-secret", "ssl_ca": str(certs / "ca.pem")})
    conn = connect(target, database=None)
    try:
        assert one(conn, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")[1] != ""
    finally:
        conn.close()


def test_a_missing_tls_file_is_a_usage_error():
    result = deploy("--url", "mysql://root@127.0.0.1:1/x", "--ssl-ca", "/nonexistent/ca.pem",
                    "status")
    assert result.returncode == 2
    assert "TLS ca file /nonexistent/ca.pem cannot be read" in result.stderr
