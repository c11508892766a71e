"""dvflow's own calls to a tracking server honour MLflow's TLS and credential variables.

A real HTTPS server on 127.0.0.1 with its own certificate authority (the situation of a
server behind a corporate CA): unreachable for dvflow exactly when MLflow's client
cannot reach it either, reachable with the variables MLflow users set.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import ipaddress
import json
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dvflow import env
from dvflow.errors import TrackingStoreError
from dvflow.tracking.store import check_reachable, experiment_name_of, http_experiment_exists

_VARIABLES = (
    env.MLFLOW_TRACKING_SERVER_CERT_PATH,
    env.MLFLOW_TRACKING_CLIENT_CERT_PATH,
    env.MLFLOW_TRACKING_INSECURE_TLS,
    env.MLFLOW_TRACKING_USERNAME,
    env.MLFLOW_TRACKING_PASSWORD,
    env.MLFLOW_TRACKING_TOKEN,
    env.REQUESTS_CA_BUNDLE,
    "CURL_CA_BUNDLE",
)


@dataclass
class Authority:
    """A private CA, the server's certificate it signed, and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_pem: Path  # certificate and key in one file, as MLflow's variable takes


def _make_authority(folder: Path) -> Authority:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("dvflow test CA"))
        .issuer_name(name("dvflow test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def issue(common: str, server: bool) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), pem_key(key)

    authority = Authority(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_pem=folder / "client.pem",
    )
    authority.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert, key = issue("127.0.0.1", server=True)
    authority.server_cert.write_bytes(cert)
    authority.server_key.write_bytes(key)
    cert, key = issue("dvflow client", server=False)
    authority.client_pem.write_bytes(cert + key)
    return authority


@dataclass
class FakeServer:
    """An MLflow-like tracking server: /health, and two experiment look-ups that
    answer only the expected Authorization header."""

    url: str
    authorization: str | None = None
    seen: list[str | None] = field(default_factory=list)


def _serve(authority: Authority, require_client_cert: bool) -> Iterator[FakeServer]:
    server = FakeServer(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parsed = urllib.parse.urlparse(self.path)
            query = urllib.parse.parse_qs(parsed.query)
            given = self.headers.get("Authorization")
            server.seen.append(given)
            if parsed.path == "/health":
                return self._answer(200, "OK")
            if server.authorization is not None and given != server.authorization:
                return self._answer(401, json.dumps({"error_code": "UNAUTHENTICATED"}))
            experiment = {"experiment_id": "7", "name": "churn", "lifecycle_stage": "active"}
            if parsed.path.endswith("/experiments/get-by-name"):
                if query.get("experiment_name") == ["churn"]:
                    return self._answer(200, json.dumps({"experiment": experiment}))
            elif parsed.path.endswith("/experiments/get") and query.get("experiment_id") == ["7"]:
                return self._answer(200, json.dumps({"experiment": experiment}))
            return self._answer(404, json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST"}))

        def _answer(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(authority.server_cert, authority.server_key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(authority.ca)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    server.url = f"https://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def authority(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Authority:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.mlflow/credentials but the test's
    return _make_authority(tmp_path)


@pytest.fixture
def server(authority: Authority) -> Iterator[FakeServer]:
    yield from _serve(authority, require_client_cert=False)


def test_a_private_ca_is_refused_without_mlflow_variables(server: FakeServer) -> None:
    with pytest.raises(TrackingStoreError, match=r"TLS certificate was not accepted.*CERT_PATH"):
        check_reachable(server.url)


def test_server_cert_path_makes_the_server_reachable(
    server: FakeServer, authority: Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env.MLFLOW_TRACKING_SERVER_CERT_PATH, str(authority.ca))
    check_reachable(server.url)
    assert http_experiment_exists(server.url, "churn")
    assert not http_experiment_exists(server.url, "other")


def test_requests_ca_bundle_makes_the_server_reachable(
    server: FakeServer, authority: Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env.REQUESTS_CA_BUNDLE, str(authority.ca))
    check_reachable(server.url)
    assert http_experiment_exists(server.url, "churn")


def test_insecure_tls_skips_verification(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env.MLFLOW_TRACKING_INSECURE_TLS, "true")
    check_reachable(server.url)
    assert http_experiment_exists(server.url, "churn")


def test_client_certificate_is_presented(
    authority: Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env.MLFLOW_TRACKING_SERVER_CERT_PATH, str(authority.ca))
    for mtls in _serve(authority, require_client_cert=True):
        with pytest.raises(TrackingStoreError):
            check_reachable(mtls.url)
        monkeypatch.setenv(env.MLFLOW_TRACKING_CLIENT_CERT_PATH, str(authority.client_pem))
        check_reachable(mtls.url)
        assert http_experiment_exists(mtls.url, "churn")


def test_credentials_are_sent_as_mlflow_sends_them(
    server: FakeServer, authority: Authority, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(env.MLFLOW_TRACKING_SERVER_CERT_PATH, str(authority.ca))
    server.authorization = "Bearer s3cret"
    assert not http_experiment_exists(server.url, "churn")  # refused: unsure, not an error
    monkeypatch.setenv(env.MLFLOW_TRACKING_TOKEN, "s3cret")
    assert http_experiment_exists(server.url, "churn")
    assert experiment_name_of(server.url, "7") == "churn"
    # Username and password win over a token, as in MLflow's http_request.
    basic = "Basic " + base64.standard_b64encode(b"ann:pw").decode()
    server.authorization = basic
    monkeypatch.setenv(env.MLFLOW_TRACKING_USERNAME, "ann")
    monkeypatch.setenv(env.MLFLOW_TRACKING_PASSWORD, "pw")
    assert http_experiment_exists(server.url, "churn")
    # ... also from ~/.mlflow/credentials, as MLflow reads them.
    monkeypatch.delenv(env.MLFLOW_TRACKING_USERNAME)
    monkeypatch.delenv(env.MLFLOW_TRACKING_PASSWORD)
    assert not http_experiment_exists(server.url, "churn")
    (tmp_path / ".mlflow").mkdir()
    (tmp_path / ".mlflow" / "credentials").write_text(
        "[mlflow]\nmlflow_tracking_username = ann\nmlflow_tracking_password = pw\n"
    )
    assert http_experiment_exists(server.url, "churn")
    assert server.seen[-1] == basic


def test_an_unknown_experiment_id_says_what_to_do(
    server: FakeServer, authority: Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env.MLFLOW_TRACKING_SERVER_CERT_PATH, str(authority.ca))
    with pytest.raises(TrackingStoreError, match=r"MLFLOW_EXPERIMENT_ID=8 names no active"):
        experiment_name_of(server.url, "8")
