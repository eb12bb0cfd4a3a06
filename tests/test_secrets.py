"""Kafka and Redis secrets are configurable and never shown: not in settings dumps, logs,
`storewatch tune show`, the metrics endpoint, nor in errors about an unreachable Redis."""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from pydantic import ValidationError

from stream.config import KafkaSecuritySettings, Settings, load_settings, redact_url
from stream.core.tuning import show
from stream.runtime.metrics import Metrics
from stream.state.protocol import StateUnavailableError
from stream.state.state import RedisStateStore
from stream.tools.embedded import EmbeddedKafka, EmbeddedRedis, EmbeddedServerError, free_port

KAFKA_PASSWORD = "kafka-pw-7f3a9c"
REDIS_URL_PASSWORD = "redis-url-pw-51b2e8"
REDIS_PASSWORD = "redis-pw-c0ffee"
SECRETS = (KAFKA_PASSWORD, REDIS_URL_PASSWORD, REDIS_PASSWORD)


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("STOREWATCH_KAFKA_SECURITY__PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("STOREWATCH_KAFKA_SECURITY__SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("STOREWATCH_KAFKA_SECURITY__SASL_USERNAME", "storewatch")
    monkeypatch.setenv("STOREWATCH_KAFKA_SECURITY__SASL_PASSWORD", KAFKA_PASSWORD)
    monkeypatch.setenv(
        "STOREWATCH_REDIS_URL", f"redis://storewatch:{REDIS_URL_PASSWORD}@127.0.0.1:{free_port()}/0"
    )
    monkeypatch.setenv("STOREWATCH_REDIS_PASSWORD", REDIS_PASSWORD)
    yield


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_secrets_come_from_the_environment_and_reach_the_clients(secret_env: None) -> None:
    settings = load_settings()
    security = settings.kafka_security
    assert security.sasl_password is not None
    assert security.sasl_password.get_secret_value() == KAFKA_PASSWORD
    options = security.aiokafka_options()
    assert (
        options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-256"
    )
    assert options["sasl_plain_password"] == KAFKA_PASSWORD
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert security.kafka_python_options()["sasl_plain_password"] == KAFKA_PASSWORD
    assert settings.redis_options() == {"password": REDIS_PASSWORD}


def test_the_faust_app_gets_sasl_credentials_that_do_not_print_the_password(
    secret_env: None,
) -> None:
    from stream.runtime.faust_app import faust_settings

    credentials = faust_settings(load_settings())["broker_credentials"]
    assert (credentials.username, credentials.password) == ("storewatch", KAFKA_PASSWORD)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert_no_secret(repr(credentials))


def test_settings_dumps_logs_and_tuning_output_show_no_secret(
    secret_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    from stream.runtime.app import create_app

    settings = load_settings()
    registry = CollectorRegistry()
    with caplog.at_level(logging.DEBUG):
        app = create_app(settings, Metrics.create(registry))
        logging.getLogger("storewatch.test").info("settings in force: %s", settings)
    assert_no_secret(repr(settings) + str(settings) + settings.model_dump_json())
    assert_no_secret(repr(settings.model_dump()))
    assert_no_secret("\n".join(" ".join(row) for row in show(settings)))
    assert_no_secret(caplog.text)
    assert_no_secret(repr(app.conf.broker_credentials))
    assert_no_secret(generate_latest(registry).decode())
    assert_no_secret(generate_latest(REGISTRY).decode())  # what a worker serves
    assert "settings in force" in caplog.text


async def test_an_unreachable_redis_error_does_not_carry_its_password(secret_env: None) -> None:
    settings = load_settings()
    state = RedisStateStore.from_url(
        settings.redis_url.get_secret_value(), settings.windows, **settings.redis_options()
    )
    with pytest.raises(StateUnavailableError) as caught:
        await state.ping()
    await state.close()
    assert_no_secret(str(caught.value) + repr(caught.value))


def test_tune_show_prints_no_secret(
    secret_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stream.cli.main import main

    # the embedded broker speaks PLAINTEXT (see README "Limits"); the Redis secrets stay set
    for name in ("PROTOCOL", "SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD"):
        monkeypatch.delenv(f"STOREWATCH_KAFKA_SECURITY__{name}")
    with EmbeddedKafka() as kafka:
        assert main(["tune", "show", "--bootstrap", kafka.bootstrap]) == 0
    out = capsys.readouterr()
    assert "windows.fact_ttl_s" in out.out
    assert_no_secret(out.out + out.err)


def test_a_printed_redis_url_hides_its_password() -> None:
    url = f"rediss://storewatch:{REDIS_URL_PASSWORD}@redis:6380/0"
    assert redact_url(url) == "rediss://storewatch:***@redis:6380/0"


def test_sasl_without_credentials_and_credentials_without_sasl_are_refused() -> None:
    with pytest.raises(ValidationError, match="needs sasl_username and sasl_password"):
        KafkaSecuritySettings(protocol="SASL_SSL")
    with pytest.raises(ValidationError, match="would not be used"):
        KafkaSecuritySettings(sasl_username="u", sasl_password="p")


def test_redis_tls_files_need_a_rediss_url() -> None:
    with pytest.raises(ValidationError, match="not rediss"):
        Settings(redis_tls_ca_file="/etc/ca.pem")
    options = Settings(
        redis_url="rediss://redis:6380/0", redis_tls_ca_file="/etc/ca.pem"
    ).redis_options()
    assert options == {"ssl_ca_certs": "/etc/ca.pem"}


async def test_the_state_store_authenticates_to_a_redis_that_requires_a_password() -> None:
    import redis.exceptions

    from stream.core.checks import event_from_dict
    from stream.core.updates import update_for
    from stream.tools.embedded import EmbeddedRedis
    from tests.helpers import factories as f

    # redis-server answers NOAUTH to the ready probe's PING, which still proves it is up
    with EmbeddedRedis(extra_args=["--requirepass", REDIS_PASSWORD]) as server:
        settings = Settings(redis_url=server.url, redis_password=REDIS_PASSWORD)
        state = RedisStateStore.from_url(server.url, settings.windows, **settings.redis_options())
        (view,) = await state.apply_many(
            [update_for(event_from_dict(f.order("s1", f.T0, price=7)))]
        )
        await state.commit()
        assert view.window(3600.0)["sales_cny"] == 7
        await state.close()
        anonymous = RedisStateStore.from_url(server.url, settings.windows)
        with pytest.raises(StateUnavailableError, match="authenticated") as refused:
            await anonymous.ping()
        assert isinstance(refused.value.__cause__, redis.exceptions.AuthenticationError)
        await anonymous.close()


# -- TLS to a real Redis ------------------------------------------------------------------------

DEBIAN_REDIS = Path("/usr/bin/redis-server")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(where: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, with the openssl CLI.
    EC keys (fast); the extensions Python's strict verification wants."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=storewatch test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=where,
    )
    for name, usage, san in (
        ("server", "serverAuth", "IP:127.0.0.1,DNS:localhost"),
        ("client", "clientAuth", "DNS:storewatch-worker"),
    ):
        (where / f"{name}.ext").write_text(
            f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n"
            f"keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\n"
            "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
        )
        openssl(
            "req",
            "-new",
            *ec,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN=storewatch {name}",
            cwd=where,
        )
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
            cwd=where,
        )


class TlsRedis(EmbeddedRedis):
    """Debian's redis-server (built with TLS) listening on TLS only, client certificates
    required; the lifecycle (own session, temp dir, stop) is EmbeddedRedis'."""

    def __init__(self, certs: Path) -> None:
        super().__init__()
        self.certs = certs

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0"

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.certs / "ca.crt"))
        context.load_cert_chain(self.certs / "client.crt", self.certs / "client.key")
        return context

    def _launch(self, tmpdir: Path, log: Any) -> subprocess.Popen[bytes]:
        c = self.certs
        return self._spawn([
            str(DEBIAN_REDIS), "--bind", "127.0.0.1", "--port", "0",
            "--tls-port", str(self.port), "--tls-cert-file", str(c / "server.crt"),
            "--tls-key-file", str(c / "server.key"), "--tls-ca-cert-file", str(c / "ca.crt"),
            "--tls-auth-clients", "yes", "--save", "", "--appendonly", "no",
            "--dir", str(tmpdir), "--daemonize", "no", "--logfile", "",
        ], log)  # fmt: skip

    def _ready(self) -> bool:
        try:
            with (
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as raw,
                self.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as sock,
            ):
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except (OSError, ssl.SSLError):
            return False


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedis]:
    if not DEBIAN_REDIS.exists():
        pytest.skip(
            f"no {DEBIAN_REDIS} (Debian's redis-server, built with TLS; `make test` "
            "installs it with apt when run as root)"
        )
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make the test certificates with")
    make_certificates(tmp_path)
    server = TlsRedis(tmp_path)
    try:
        server.start()
    except EmbeddedServerError as exc:
        if "tls" in str(exc).lower() and (
            "not supported" in str(exc) or "Bad directive" in str(exc)
        ):
            pytest.skip(f"{DEBIAN_REDIS} is built without TLS")
        raise
    try:
        yield server
    finally:
        server.stop()


async def test_the_state_store_speaks_tls_with_a_client_certificate_to_a_real_redis(
    tls_redis: TlsRedis,
) -> None:
    from stream.core.checks import event_from_dict
    from stream.core.updates import update_for
    from tests.helpers import factories as f

    certs = tls_redis.certs
    settings = Settings(
        redis_url=tls_redis.url,
        redis_tls_ca_file=str(certs / "ca.crt"),
        redis_tls_cert_file=str(certs / "client.crt"),
        redis_tls_key_file=str(certs / "client.key"),
    )
    for price, total in ((9, 9), (5, 14)):  # the second store reads the first one's save
        state = RedisStateStore.from_url(
            settings.redis_url.get_secret_value(), settings.windows, **settings.redis_options()
        )
        try:
            await state.ping()
            (view,) = await state.apply_many(
                [update_for(event_from_dict(f.order("tls1", f.T0 + price, price=price)))]
            )
            await state.commit()
            assert view.window(3600.0)["sales_cny"] == total
            assert await state.saved_state("tls1") is not None
            assert await state.tracked_stores() == 1
        finally:
            await state.close()

    # without a client certificate the server refuses the handshake
    anonymous = RedisStateStore.from_url(
        tls_redis.url, settings.windows, ssl_ca_certs=str(certs / "ca.crt")
    )
    with pytest.raises(StateUnavailableError):
        await anonymous.ping()
    await anonymous.close()
    # and a client that does not trust the server's CA refuses the server
    untrusting = RedisStateStore.from_url(
        tls_redis.url,
        settings.windows,
        ssl_certfile=str(certs / "client.crt"),
        ssl_keyfile=str(certs / "client.key"),
    )
    with pytest.raises(StateUnavailableError, match="(?i)certificate"):
        await untrusting.ping()
    await untrusting.close()
    # a plain redis:// client gets no answer on the TLS port
    plain = RedisStateStore.from_url(
        tls_redis.url.replace("rediss://", "redis://"), settings.windows, socket_timeout=2
    )
    with pytest.raises(StateUnavailableError):
        await plain.ping()
    await plain.close()
