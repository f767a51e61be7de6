"""The SMTP adapter against a real SMTP server (aiosmtpd) on loopback: plain, STARTTLS, implicit TLS, AUTH."""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from publisher.core.errors import ConfigurationError, PermanentDeliveryError, TransientDeliveryError
from publisher.core.outcomes import Outcome
from publisher.core.settings import Settings
from publisher.core.signals import Halt

from tests.test_providers import emails
from workers.providers import provider_class
from workers.providers.smtp import SmtpProvider

USER = "newsletter"
PASSWORD = "correct horse"


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what it accepted and answers chosen recipients with a chosen reply."""

    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: dict[str, str] = field(default_factory=dict)
    received: list[Any] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = self.data_replies.get(envelope.rcpt_tos[0])
        if reply:
            return reply
        self.received.append((session, envelope))
        return "250 2.0.0 Ok: queued"

    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(envelope.content, policy=email.policy.default) for _, envelope in self.received]


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    # handled=False makes aiosmtpd answer 535 itself; its default (True) would leave the client waiting.
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def free_port() -> int:
    # aiosmtpd's Controller cannot listen on port 0 (it connects to its own port to start), so pick one.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(handler: Mailbox, **kwargs: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="smtp.test", **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throwaway CA and a server certificate for 127.0.0.1 it signed (openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a throwaway certificate")
    directory = tmp_path_factory.mktemp("tls")
    ca, ca_key, cert, key, csr, ext = (
        directory / name for name in ("ca.pem", "ca.key", "server.pem", "server.key", "server.csr", "ext.cnf")
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str | Path) -> None:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)

    openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=newsletter throwaway test CA")
    openssl("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
    return Certificates(ca=ca, cert=cert, key=key)


@pytest.fixture
def trust_test_ca(monkeypatch: pytest.MonkeyPatch, certificates: Certificates) -> None:
    # ssl.create_default_context() loads OpenSSL's default verify paths, which honour SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))


def smtp(port: int, **overrides: object) -> SmtpProvider:
    values: dict[str, object] = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none", "http_timeout": 5.0}
    values.update(overrides)
    return SmtpProvider(Settings(**values))  # type: ignore[arg-type]


def test_registry_finds_smtp() -> None:
    assert provider_class("smtp") is SmtpProvider


def test_plain_delivery_of_a_batch_over_one_connection() -> None:
    mailbox = Mailbox()
    batch = emails(3)
    with smtp_server(mailbox) as port:
        results = smtp(port).send(batch)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert [r.provider_message_id for r in results] == [e.message_id for e in batch]
    assert [envelope.rcpt_tos for _, envelope in mailbox.received] == [[e.to_address] for e in batch]
    assert {envelope.mail_from for _, envelope in mailbox.received} == {"events@modu.example"}
    assert len({session.peer for session, _ in mailbox.received}) == 1
    message = mailbox.messages()[0]
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["List-Unsubscribe"] == "<https://news.example/unsubscribe/t0>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == f"<{batch[0].message_id}>"
    assert message["To"] == "Person 0 <person0@example.com>"


@pytest.mark.usefixtures("trust_test_ca")
def test_starttls_and_login(certificates: Certificates) -> None:
    mailbox = Mailbox()
    tls = {"tls_context": certificates.server_context(), "require_starttls": True, "authenticator": authenticate, "auth_required": True}
    with smtp_server(mailbox, **tls) as port:
        results = smtp(port, smtp_security="starttls", smtp_username=USER, smtp_password=PASSWORD).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 2
    session = mailbox.received[0][0]
    assert session.ssl is not None
    assert session.authenticated
    assert session.auth_data.login == USER.encode()


@pytest.mark.usefixtures("trust_test_ca")
def test_implicit_tls(certificates: Certificates) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox, ssl_context=certificates.server_context()) as port:
        results = smtp(port, smtp_security="ssl").send(emails(2))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 2


def test_an_untrusted_certificate_is_refused(monkeypatch: pytest.MonkeyPatch, certificates: Certificates) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    mailbox = Mailbox()
    with smtp_server(mailbox, tls_context=certificates.server_context(), require_starttls=True) as port:
        results = smtp(port, smtp_security="starttls").send(emails(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert "CERTIFICATE_VERIFY_FAILED" in (results[0].error or "")
    assert mailbox.received == []


@pytest.mark.usefixtures("trust_test_ca")
def test_a_wrong_password_halts_for_credentials(certificates: Certificates) -> None:
    mailbox = Mailbox()
    tls = {"tls_context": certificates.server_context(), "require_starttls": True, "authenticator": authenticate, "auth_required": True}
    with smtp_server(mailbox, **tls) as port:
        provider = smtp(port, smtp_security="starttls", smtp_username=USER, smtp_password="wrong")
        results = provider.send(emails(2))
        with pytest.raises(PermanentDeliveryError, match="535") as raised:
            provider.check()
    # The records stay open while the halt stops the campaign for an operator.
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 2
    assert {r.halt for r in results} == {Halt.CREDENTIALS}
    assert "rejected the login of newsletter: SMTP 535" in (results[0].error or "")
    assert raised.value.halt == Halt.CREDENTIALS
    assert mailbox.received == []


def test_a_refused_recipient_is_permanent_and_the_others_are_sent() -> None:
    mailbox = Mailbox(rcpt_replies={"person1@example.com": "550 5.1.1 <person1@example.com>: Recipient address rejected"})
    with smtp_server(mailbox) as port:
        results = smtp(port).send(emails(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.PERMANENT, Outcome.ACCEPTED]
    assert results[1].error == "SMTP 550 5.1.1 <person1@example.com>: Recipient address rejected"
    assert len(mailbox.received) == 2


@pytest.mark.parametrize("reply", ["450 4.2.0 Mailbox busy", "451 4.7.1 Greylisted, try again later", "452 4.2.2 Over quota"])
def test_a_4xx_reply_is_transient(reply: str) -> None:
    mailbox = Mailbox(rcpt_replies={"person0@example.com": reply})
    with smtp_server(mailbox) as port:
        results = smtp(port).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT, Outcome.ACCEPTED]
    assert results[0].error == f"SMTP {reply}"


def test_a_message_refused_after_data_is_permanent() -> None:
    mailbox = Mailbox(data_replies={"person0@example.com": "554 5.7.1 Message rejected as spam"})
    with smtp_server(mailbox) as port:
        results = smtp(port).send(emails(2))
    assert [r.outcome for r in results] == [Outcome.PERMANENT, Outcome.ACCEPTED]
    assert "554 5.7.1" in (results[0].error or "")


def test_a_421_mid_batch_leaves_the_rest_transient() -> None:
    mailbox = Mailbox(rcpt_replies={"person1@example.com": "421 4.3.2 Service shutting down"})
    with smtp_server(mailbox) as port:
        results = smtp(port).send(emails(4))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] + [Outcome.TRANSIENT] * 3
    assert results[1].error == "SMTP 421 4.3.2 Service shutting down"
    assert (results[2].error or "").startswith("not sent: the connection to 127.0.0.1:")
    assert len(mailbox.received) == 1


def test_a_server_that_is_down_is_transient_for_the_whole_batch() -> None:
    results = smtp(free_port()).send(emails(3))
    assert [r.outcome for r in results] == [Outcome.TRANSIENT] * 3
    assert "cannot connect to 127.0.0.1:" in (results[0].error or "")


@pytest.mark.usefixtures("trust_test_ca")
def test_check_logs_in_and_sends_nothing(certificates: Certificates) -> None:
    mailbox = Mailbox()
    tls = {"tls_context": certificates.server_context(), "require_starttls": True, "authenticator": authenticate, "auth_required": True}
    with smtp_server(mailbox, **tls) as port:
        detail = smtp(port, smtp_security="starttls", smtp_username=USER, smtp_password=PASSWORD).check()
    assert detail == f"127.0.0.1:{port} answered (starttls, logged in as {USER})"
    assert mailbox.received == []


def test_check_of_a_server_that_is_down() -> None:
    with pytest.raises(TransientDeliveryError, match=r"cannot connect to 127\.0\.0\.1:"):
        smtp(free_port()).check()


def test_configuration_names_the_missing_variable() -> None:
    with pytest.raises(ConfigurationError, match="NEWSLETTER_SMTP_HOST"):
        SmtpProvider.check_configuration(Settings())
    with pytest.raises(ConfigurationError, match="NEWSLETTER_SMTP_PASSWORD"):
        SmtpProvider.check_configuration(Settings(smtp_host="mail.example", smtp_username=USER))
    SmtpProvider.check_configuration(Settings(smtp_host="mail.example", smtp_username=USER, smtp_password=PASSWORD))


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("ssl", 465), ("none", 25)])
def test_an_unset_port_follows_the_security_mode(security: str, port: int) -> None:
    assert SmtpProvider(Settings(smtp_host="mail.example", smtp_security=security)).port == port
    assert SmtpProvider(Settings(smtp_host="mail.example", smtp_security=security, smtp_port=2525)).port == 2525
