"""The client's security rules, one test each: what a response must prove
before anything in it is used (protection, trust, sender, nonces,
transactionID, caPubs), and that secrets never leave the process through
output, logs, reprs or exceptions.

Responses come from cmpkit's mock server run in-process
(:class:`cmp.server.MockServer`) and are rebuilt here to break one rule at a
time; each test also shows that the untouched (or correctly rebuilt)
exchange passes, so that it fails for the rule and nothing else. The
expected behaviour is OpenSSL 3.0's (crypto/cmp/cmp_vfy.c, cmp_client.c).
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from inprocess_pki import ir_request as ir
from inprocess_pki import mock_server as mock
from inprocess_pki import pbm_config as pbm
from inprocess_pki import sig_config as sig
from openssl_harness import (
    Credential,
    Pki,
    _issue,  # the test PKI's own certificate maker
    make_pki,
    openssl_dn,
)

from cmp.asn1 import GeneralName, PKIStatus
from cmp.cli import cli_main
from cmp.client import Client
from cmp.dn import parse_dn
from cmp.errors import CMPError, LimitError, ProtectionError
from cmp.message import PKIMessage
from cmp.passphrase import PassphraseSource
from cmp.protection import protect_pbm, protect_pbmac1, protect_signature
from cmp.requests import GeneralRequest, Request, RevokeRequest
from cmp.server import MockServer, MockServerConfig
from cmp.status import ServerError
from cmp.transaction import (
    ResponseError,
    Send,
    Transaction,
    TransactionConfig,
    TransactionResult,
)
from cmp.transport import InProcessTransport

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER

# --- set-up ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def evil(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """An attacker's PKI: the same names as the test PKI, other keys."""
    return make_pki(tmp_path_factory.mktemp("evil-pki"))


CONFIGS = {"pbm": pbm, "sig": sig}


@pytest.fixture(params=sorted(CONFIGS))
def config_for(request: pytest.FixtureRequest) -> Callable[..., TransactionConfig]:
    return CONFIGS[request.param]


def request_for(pki: Pki, cmd: str) -> Request:
    if cmd == "rr":
        return RevokeRequest(pki.enrolled.cert, reason=1)
    if cmd == "genm":
        return GeneralRequest()
    return ir(pki)


Tamper = Callable[[PKIMessage], PKIMessage]


def run(
    pki: Pki,
    server: MockServer,
    config: TransactionConfig,
    tamper: Tamper | None = None,
    request: Request | None = None,
) -> TransactionResult:
    """Runs ``request`` (an ir) with ``Client`` against ``server`` in-process,
    ``tamper`` applied to every response."""

    def handle(data: bytes) -> bytes:
        response = server.handle(data)
        return response if tamper is None else tamper(PKIMessage.from_der(response)).to_der()

    with Client(transport=InProcessTransport(handle), config=config) as client:
        return client.run(request or ir(pki))


def only(kinds: Sequence[str], tamper: Tamper) -> Tamper:
    """``tamper`` applied to responses of the given body types only."""
    return lambda msg: tamper(msg) if msg.body_type in kinds else msg


def bare(msg: PKIMessage, **header_changes: Any) -> PKIMessage:
    """``msg`` without protection (and without extraCerts), header changed."""
    header = dataclasses.replace(msg.header, protection_alg=None, **header_changes)
    return PKIMessage(header, msg.body)


def remac(secret: bytes, ref: str, *, pbmac1: bool = False, **header_changes: Any) -> Tamper:
    """Responses MACed again with ``secret`` after ``header_changes``."""
    protect = protect_pbmac1 if pbmac1 else protect_pbm
    return lambda msg: protect(bare(msg, **header_changes), secret, ref=ref)


def resign(signer: Credential, chain: Sequence[x509.Certificate] = (), **changes: Any) -> Tamper:
    """Responses signed again by ``signer`` (extraCerts: its cert and ``chain``)."""
    return lambda msg: protect_signature(
        bare(msg, **changes), signer.key, signer.cert, extra_certs=chain
    )


def flip_protection(msg: PKIMessage) -> PKIMessage:
    assert msg.protection is not None
    flipped = bytes([msg.protection[0] ^ 1]) + msg.protection[1:]
    return msg.with_protection(flipped)


# --- 1. protection is required, and unprotected_errors lets only negative answers through ----

#: Server behaviour, command, and what happens with ``unprotected_errors``.
UNPROTECTED: dict[str, tuple[dict[str, Any], str, type[CMPError]]] = {
    "positive ip": ({"send_unprotected": True}, "ir", ProtectionError),
    "accepted rp": ({"send_unprotected": True}, "rr", ProtectionError),
    "genp": ({"send_unprotected": True}, "genm", ProtectionError),
    "error": ({"send_error": True, "send_unprot_err": True}, "ir", ServerError),
    "rejected ip": ({"pkistatus": PKIStatus.rejection, "send_unprot_err": True}, "ir", ServerError),
    "rejected rp": ({"pkistatus": PKIStatus.rejection, "send_unprot_err": True}, "rr", ServerError),
}


@pytest.mark.parametrize("case", sorted(UNPROTECTED))
def test_unprotected_response_refused_unless_allowed(
    pki: Pki, config_for: Callable[..., TransactionConfig], case: str
) -> None:
    # OpenSSL's unprotected_exception(): with -unprotected_errors, error
    # messages, rejections in ip/cp/kup/rp and pkiconf pass without (valid)
    # protection; positive answers never do.
    options, cmd, when_allowed = UNPROTECTED[case]
    server = mock(pki, **options)
    request = request_for(pki, cmd)
    with pytest.raises(ProtectionError, match="response is not protected"):
        run(pki, server, config_for(pki), request=request)
    with pytest.raises(when_allowed) as info:
        run(pki, server, config_for(pki, unprotected_errors=True), request=request)
    if when_allowed is ProtectionError:
        assert "not protected" in str(info.value)
    # Protected, the same answer is taken as it is.
    protected = {
        k: v for k, v in options.items() if k not in ("send_unprotected", "send_unprot_err")
    }
    if when_allowed is ServerError:
        with pytest.raises(ServerError):
            run(pki, mock(pki, **protected), config_for(pki), request=request)
    else:
        run(pki, mock(pki, **protected), config_for(pki), request=request)


def test_unprotected_pkiconf_accepted_only_when_allowed(
    pki: Pki, config_for: Callable[..., TransactionConfig]
) -> None:
    # OpenSSL lets any PKIConf through with -unprotected_errors.
    strip = only(["pkiconf"], bare)
    with pytest.raises(ProtectionError, match="pkiconf response is not protected"):
        run(pki, mock(pki), config_for(pki), strip)
    result = run(pki, mock(pki), config_for(pki, unprotected_errors=True), strip)
    assert result.cert == pki.enrolled.cert


def test_invalid_protection_of_negative_response_passes_only_when_allowed(
    pki: Pki, config_for: Callable[..., TransactionConfig]
) -> None:
    rejecting = mock(pki, pkistatus=PKIStatus.rejection)
    with pytest.raises(ProtectionError):
        run(pki, rejecting, config_for(pki), flip_protection)
    with pytest.raises(ServerError, match="rejection"):
        run(pki, rejecting, config_for(pki, unprotected_errors=True), flip_protection)
    # A positive answer with invalid protection: never.
    with pytest.raises(ProtectionError):
        run(pki, mock(pki), config_for(pki, unprotected_errors=True), flip_protection)


# --- 2. MACs: only with our secret ---------------------------------------------------------


def test_mac_protected_response_with_another_secret_refused(pki: Pki) -> None:
    other = b"the password of another transaction"
    # A server sharing another password answers with an error MACed with it.
    with pytest.raises(ProtectionError, match="wrong secret"):
        run(pki, mock(pki, srv_secret=other), pbm(pki))
    for pbmac1 in (False, True):
        # Control: MACed again with our secret, the answer passes.
        run(pki, mock(pki), pbm(pki), remac(pki.secret, pki.srv_ref, pbmac1=pbmac1))
        for allowed in (False, True):
            with pytest.raises(ProtectionError, match="wrong secret"):
                config = pbm(pki, unprotected_errors=allowed)
                run(pki, mock(pki), config, remac(other, pki.srv_ref, pbmac1=pbmac1))


def test_mac_protected_response_refused_without_a_secret(pki: Pki) -> None:
    # A client authenticating servers by signature does not take a MAC made
    # with a secret it does not have (the server may share it with anyone).
    with pytest.raises(ProtectionError, match="no secret"):
        run(pki, mock(pki), sig(pki), remac(b"anything", pki.srv_ref))


# --- 3. signatures: only by certificates that chain to the trust anchors --------------------


def test_signature_by_certificate_not_chaining_to_trust_anchors_refused(
    pki: Pki, evil: Pki
) -> None:
    # The attacker's server certificate has the server's name and a subject
    # key identifier that matches its senderKID; its root, with the name of
    # the trusted root, comes along in extraCerts.
    assert evil.server.cert.subject == pki.server.cert.subject
    assert evil.root.cert.subject == pki.root.cert.subject
    run(pki, mock(pki), sig(pki), resign(pki.server))  # control
    with pytest.raises(ProtectionError, match="path does not"):
        run(pki, mock(pki), sig(pki), resign(evil.server, [evil.root.cert]))
    # Pinned, the genuine certificate is all that signs.
    pinned = TransactionConfig(cert=pki.client.cert, key=pki.client.key, srvcert=pki.server.cert)
    run(pki, mock(pki), pinned)
    with pytest.raises(ProtectionError):
        run(pki, mock(pki), pinned, resign(evil.server, [evil.root.cert]))


def test_signature_by_certificate_whose_chain_is_only_in_extracerts_refused(
    pki: Pki, evil: Pki
) -> None:
    # A whole chain, intermediate and self-signed root, in extraCerts: the
    # root is not a trust anchor, so nothing in it is trusted.
    intermediate, signer = _chain_below(evil.root)
    with pytest.raises(ProtectionError, match="path does not"):
        run(pki, mock(pki), sig(pki), resign(signer, [intermediate.cert, evil.root.cert]))
    # Control: trusting that root, the same response passes.
    trusting = sig(pki, trusted=[evil.root.cert])
    run(pki, mock(pki), trusting, resign(signer, [intermediate.cert, evil.root.cert]))


def _chain_below(root: Credential) -> tuple[Credential, Credential]:
    """An intermediate CA under ``root`` and a CMP server certificate (the test
    server's name) under that."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name.from_rfc4514_string("CN=intermediate,O=cmpkit tests")
    ca = _issue(ca_name, ca_key.public_key(), root.cert, root.key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name.from_rfc4514_string("CN=cmpkit Test CMP Server,O=cmpkit tests")
    cert = _issue(subject, key.public_key(), ca, ca_key, ca=False)
    return Credential(ca, ca_key, Path(), Path()), Credential(cert, key, Path(), Path())


# --- 4. the sender --------------------------------------------------------------------------


def test_sender_not_matching_expect_sender_refused(
    pki: Pki, config_for: Callable[..., TransactionConfig]
) -> None:
    someone = parse_dn("/O=cmpkit tests/CN=someone else")
    with pytest.raises(ResponseError, match="not the expected sender"):
        run(pki, mock(pki), config_for(pki, expect_sender=someone))
    assert run(pki, mock(pki), config_for(pki, expect_sender=pki.server.cert.subject)).cert


def test_sender_not_matching_signer_subject_refused(pki: Pki) -> None:
    # Signed with the genuine server key, but claiming to come from someone else.
    someone = parse_dn("/O=cmpkit tests/CN=someone else")
    claim = resign(pki.server, sender=GeneralName.directory_name(someone))
    for config in (sig(pki), sig(pki, expect_sender=someone)):
        with pytest.raises(ProtectionError, match="subject does not match the sender"):
            run(pki, mock(pki), config, claim)


def test_srvcert_subject_is_the_expected_sender(pki: Pki) -> None:
    # -srvcert pins the signer, and its subject is the expected sender.
    pinned = TransactionConfig(cert=pki.client.cert, key=pki.client.key, srvcert=pki.server.cert)
    someone = parse_dn("/O=cmpkit tests/CN=someone else")
    with pytest.raises(ResponseError, match="expected sender"):
        run(pki, mock(pki), pinned, resign(pki.server, sender=GeneralName.directory_name(someone)))


# --- 5. nonces and transactionID --------------------------------------------------------------


def test_wrong_recip_nonce_refused(pki: Pki) -> None:
    for nonce in (os.urandom(16), None):
        with pytest.raises(ResponseError, match="recipNonce"):
            run(pki, mock(pki), pbm(pki), remac(pki.secret, pki.srv_ref, recip_nonce=nonce))


def test_replayed_response_of_another_transaction_refused(
    pki: Pki, config_for: Callable[..., TransactionConfig]
) -> None:
    server = mock(pki)
    first = Transaction(ir(pki), config_for(pki))
    answer = server.handle(first.start().message.to_der())
    assert isinstance(first.receive(answer), Send)  # genuine for the first one
    second = Transaction(ir(pki), config_for(pki))
    second.start()
    with pytest.raises(ResponseError, match="transactionID"):
        second.receive(answer)
    # Even with the same transactionID (a collision, or a client reusing
    # one), the recipNonce tells the replay apart.
    third = Transaction(ir(pki), config_for(pki))
    third.transaction_id = first.transaction_id
    third.start()
    with pytest.raises(ResponseError, match="recipNonce"):
        third.receive(answer)


def test_replayed_response_within_the_transaction_refused(
    pki: Pki, config_for: Callable[..., TransactionConfig]
) -> None:
    server = mock(pki)
    tx = Transaction(ir(pki), config_for(pki))
    ip = server.handle(tx.start().message.to_der())
    conf = tx.receive(ip)
    assert isinstance(conf, Send) and conf.message.body_type == "certConf"
    with pytest.raises(ResponseError, match="recipNonce"):
        tx.receive(ip)  # the ip again instead of the pkiconf


def test_transaction_id_mismatch_refused(pki: Pki) -> None:
    for tid in (os.urandom(16), None):
        with pytest.raises(ResponseError, match="transactionID"):
            run(pki, mock(pki), pbm(pki), remac(pki.secret, pki.srv_ref, transaction_id=tid))
    run(pki, mock(pki), pbm(pki), remac(pki.secret, pki.srv_ref))  # control


# --- 6. caPubs --------------------------------------------------------------------------------


def test_capubs_returned_after_authenticated_ip(
    pki: Pki, config_for: Callable[..., TransactionConfig]
) -> None:
    # OpenSSL 3.0 keeps the caPubs of every accepted certificate response
    # that passed its checks (cert_response(): ossl_cmp_ctx_set1_caPubs), MAC
    # or signature, and -cacertsout writes them.
    assert run(pki, mock(pki), config_for(pki)).ca_pubs == (pki.root.cert,)


def test_capubs_of_mac_protected_ip_become_trusted(pki: Pki, evil: Pki) -> None:
    # RFC 9810 §5.3.2: with shared-secret protection, caPubs "may be directly
    # trusted as a root CA certificate"; OpenSSL adds them to -trusted (when
    # given) for the rest of the transaction. The pkiconf is signed by a
    # server whose root came only as caPubs.
    server = mock(pki, rsp_capubs=[evil.root.cert])
    signed_pkiconf = only(["pkiconf"], resign(evil.server))
    config = pbm(pki, trusted=[pki.root.cert])
    assert run(pki, server, config, signed_pkiconf).ca_pubs == (evil.root.cert,)
    # Without that ip's caPubs, the same pkiconf is refused.
    with pytest.raises(ProtectionError, match="path does not"):
        run(pki, mock(pki), config, signed_pkiconf)


def test_capubs_of_signature_protected_ip_are_not_trusted(pki: Pki, evil: Pki) -> None:
    server = mock(pki, rsp_capubs=[evil.root.cert])
    signed_pkiconf = only(["pkiconf"], resign(evil.server))
    with pytest.raises(ProtectionError, match="path does not"):
        run(pki, server, sig(pki), signed_pkiconf)
    # Returned as OpenSSL returns them, not trusted.
    assert run(pki, server, sig(pki)).ca_pubs == (evil.root.cert,)


def test_capubs_of_unauthenticated_or_failed_ip_never_trusted(pki: Pki, evil: Pki) -> None:
    # Rejections carrying caPubs, let through by unprotected_errors without
    # valid protection; and a positive ip with a bad MAC. The transaction
    # ends with the error, so only its trust store can show that the caPubs
    # never got in (white box).
    def attempt(tamper: Tamper, **options: Any) -> tuple[Transaction, BaseException]:
        server = mock(pki, rsp_capubs=[evil.root.cert], **options)
        tx = Transaction(ir(pki), pbm(pki, trusted=[pki.root.cert], unprotected_errors=True))
        answer = tamper(PKIMessage.from_der(server.handle(tx.start().message.to_der())))
        assert answer.body.value.ca_pubs == (evil.root.cert.public_bytes(DER),)
        with pytest.raises(CMPError) as info:
            tx.receive(answer.to_der())
        return tx, info.value

    rejected = {"pkistatus": PKIStatus.rejection}
    for tamper in (flip_protection, remac(b"other", pki.srv_ref), bare):
        tx, error = attempt(tamper, **rejected)
        assert isinstance(error, ServerError)
        assert evil.root.cert not in tx._trusted
    tx, error = attempt(flip_protection)
    assert isinstance(error, ProtectionError)
    assert evil.root.cert not in tx._trusted
    # Control: authenticated by the MAC, a rejection's caPubs are trusted (as OpenSSL).
    tx, error = attempt(lambda msg: msg, **rejected)
    assert isinstance(error, ServerError)
    assert evil.root.cert in tx._trusted


CAPUBS_CLI = {
    "unprotected rejection": (["-pkistatus", "2", "-send_unprot_err", "-unprotected_errors"], 1),
    "MACed rejection": (["-pkistatus", "2"], 1),
    "unprotected ip": (["-send_unprotected", "-unprotected_errors"], 1),
    "wrong secret": (["-srv_secret", "pass:other"], 1),
    "authenticated ip": ([], 0),
}


@pytest.mark.parametrize("case", sorted(CAPUBS_CLI))
def test_cacertsout_written_only_after_authenticated_positive_ip(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    extra, status = CAPUBS_CLI[case]
    monkeypatch.chdir(tmp_path)
    args = [*_mock_cli(pki, srv_secret=pki.secret_arg), "-rsp_capubs", str(pki.root.cert_path)]
    args += ["-secret", pki.secret_arg, *_enroll_cli(pki), "-cacertsout", "ca.pem", *extra]
    assert cli_main(args) == status
    if status:
        assert not (tmp_path / "ca.pem").exists()
    else:
        assert (tmp_path / "ca.pem").read_bytes() == pki.root.cert.public_bytes(PEM)


# --- 7. secrets stay secret -------------------------------------------------------------------

SECRET = "pbm-Secret-7q2Xv"
OTHER_SECRET = "srv-Secret-9wK3m"
KEY_PASS = "key-Pass-4rTz8"
WRONG_KEY_PASS = "wrong-Pass-1nBv6"
SRV_KEY_PASS = "srv-Key-Pass-5hJ2"
TLS_KEY_PASS = "tls-Key-Pass-3dF7"
PASSIN = "passin-Secret-8cM1"
ENV_SECRET = "env-Secret-2xQ9p"
ALL_SECRETS = (
    SECRET, OTHER_SECRET, KEY_PASS, WRONG_KEY_PASS, SRV_KEY_PASS, TLS_KEY_PASS, PASSIN, ENV_SECRET,
)  # fmt: skip


def _forms(secret: str) -> list[str]:
    """The secret as text, hex (either case) and base64 (standard, URL-safe)."""
    raw = secret.encode()
    return [
        secret,
        raw.hex(),
        raw.hex().upper(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]


def assert_no_secret(text: str, secrets: Sequence[str] = ALL_SECRETS) -> None:
    for secret in secrets:
        for form in _forms(secret):
            assert form not in text, f"secret {secret!r} found as {form!r} in: {text[-2000:]}"


def _mock_cli(pki: Pki, *, srv_secret: str | None = None, srv_key: Path | None = None) -> list[str]:
    args = ["-config", "", "-use_mock_srv", "-srv_ref", pki.srv_ref]
    args += ["-srv_cert", str(pki.server.cert_path)]
    args += ["-srv_key", str(srv_key or pki.server.key_path)]
    args += ["-srv_trusted", str(pki.root.cert_path), "-rsp_cert", str(pki.enrolled.cert_path)]
    if srv_secret is not None:
        args += ["-srv_secret", srv_secret]
    return args


def _enroll_cli(pki: Pki) -> list[str]:
    return [
        "-ref", pki.ref, "-recipient", openssl_dn(pki.server.cert.subject),
        "-cmd", "ir", "-newkey", str(pki.new_key_path), "-subject", pki.enrolled.subject_arg,
        "-certout", "out.pem",
    ]  # fmt: skip


def _encrypted_key(cred: Credential, password: str, path: Path) -> Path:
    path.write_bytes(
        cred.key.private_bytes(
            PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode()),
        )
    )
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def secret_cases(pki: Pki, tmp_path: Path) -> dict[str, tuple[list[str], int]]:
    """Command lines using every secret option, succeeding and failing: the
    arguments and the expected exit status."""
    client_key = _encrypted_key(pki.client, KEY_PASS, tmp_path / "client.key.pem")
    server_key = _encrypted_key(pki.server, SRV_KEY_PASS, tmp_path / "server.key.pem")
    tls_key = _encrypted_key(pki.client, TLS_KEY_PASS, tmp_path / "tls.key.pem")
    config = tmp_path / "cmp.cnf"
    config.write_text(f"[default]\n[cmp]\nsecret = pass:{SECRET}\nsrv_secret = pass:{SECRET}\n")
    mac = [*_mock_cli(pki, srv_secret=f"pass:{SECRET}"), *_enroll_cli(pki)]
    signed = [
        *_mock_cli(pki, srv_key=server_key), "-srv_keypass", f"pass:{SRV_KEY_PASS}",
        *_enroll_cli(pki), "-cert", str(pki.client.cert_path), "-key", str(client_key),
        "-trusted", str(pki.root.cert_path),
    ]  # fmt: skip
    port = _closed_port()
    return {
        "PBM enrollment": ([*mac, "-secret", f"pass:{SECRET}"], 0),
        "wrong password": ([*mac, "-secret", f"pass:{OTHER_SECRET}"], 1),
        "secret from env": ([*mac, "-secret", "env:CMPKIT_TEST_SECRET"], 1),
        "secret without source": ([*mac, "-secret", OTHER_SECRET], 1),
        "secret from config": (
            [*_mock_cli(pki), *_enroll_cli(pki), "-config", str(config), "-section", "cmp"],
            0,
        ),
        "keypass": ([*signed, "-keypass", f"pass:{KEY_PASS}"], 0),
        "wrong keypass": ([*signed, "-keypass", f"pass:{WRONG_KEY_PASS}"], 1),
        "passin": ([*mac, "-secret", f"pass:{SECRET}", "-passin", f"pass:{PASSIN}"], 1),
        "unreachable server": (
            [
                "-config",
                "",
                "-server",
                f"127.0.0.1:{port}",
                *_enroll_cli(pki),
                "-secret",
                f"pass:{SECRET}",
            ],
            1,
        ),
        "unreachable TLS server": (
            [
                "-config",
                "",
                "-server",
                f"127.0.0.1:{port}",
                *_enroll_cli(pki),
                "-secret",
                f"pass:{SECRET}",
                "-tls_used",
                "-tls_cert",
                str(pki.client.cert_path),
                "-tls_key",
                str(tls_key),
                "-tls_keypass",
                f"pass:{TLS_KEY_PASS}",
                "-tls_trusted",
                str(pki.root.cert_path),
            ],
            1,
        ),
    }


@pytest.fixture
def log_records() -> Iterator[list[str]]:
    """Every ``logging`` record of the run, formatted with its traceback."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record) + repr(record.args))

    handler = Keep(logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger("cmp")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield records
    for logger, level in zip(loggers, levels):
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_secrets_absent_from_output_and_logs_at_every_verbosity(
    secret_cases: dict[str, tuple[list[str], int]],
    log_records: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CMPKIT_TEST_SECRET", ENV_SECRET)
    seen: list[str] = []
    for name, (args, status) in secret_cases.items():
        for verbosity in range(9):
            log_records.clear()
            code = cli_main([*args, "-verbosity", str(verbosity)])
            out, err = capsys.readouterr()
            assert code == status, f"{name} at -verbosity {verbosity}: {out}{err}"
            if status and verbosity >= 3:
                assert err.strip(), name  # it says why
            assert_no_secret(out + err + "\n".join(log_records))
            seen += [out, err, *log_records]
    # What was searched is the real output: the client's and the mock server's log.
    assert any("CMP info: sending IR" in text for text in seen)
    assert any("received IR" in text for text in seen)  # cmp.server's debug record


@pytest.mark.parametrize(
    "case", ["PBM enrollment", "wrong password", "wrong keypass", "unreachable server"]
)
def test_secrets_absent_from_output_of_the_command(
    secret_cases: dict[str, tuple[list[str], int]], tmp_path: Path, case: str
) -> None:
    # The installed command, at the highest verbosity (with tracebacks).
    args, status = secret_cases[case]
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("proxy")}
    env.pop("OPENSSL_CONF", None)
    done = subprocess.run(
        [sys.executable, "-m", "cmp", *args, "-verbosity", "8"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == status, done.stdout + done.stderr
    assert "CMP info: sending IR" in done.stdout or case == "wrong keypass"
    assert_no_secret(done.stdout + done.stderr)


def test_secrets_absent_from_reprs(pki: Pki) -> None:
    for secret in (SECRET, SECRET.encode()):
        config = TransactionConfig(secret=secret, ref=pki.ref)
        assert_no_secret(repr(config) + str(config), [SECRET])
        server = MockServerConfig(srv_secret=secret, srv_ref=pki.srv_ref)
        assert_no_secret(repr(server) + str(server), [SECRET])
        assert_no_secret(repr(MockServer(server)), [SECRET])
    source = PassphraseSource(f"pass:{SECRET}", "PBMAC")
    assert_no_secret(repr(source), [SECRET])
    assert source.get() == SECRET.encode()
    assert_no_secret(repr(source) + str(source), [SECRET])
    tx = Transaction(ir(pki), TransactionConfig(secret=SECRET, ref=pki.ref))
    assert_no_secret(repr(tx) + repr(tx.start()), [SECRET])


def test_secrets_absent_from_exceptions(pki: Pki) -> None:
    failures: list[BaseException] = []
    # Wrong password, both ways round.
    for client_secret, server_secret in ((SECRET, OTHER_SECRET), (OTHER_SECRET, SECRET)):
        server = mock(pki, srv_secret=server_secret.encode())
        with pytest.raises(CMPError) as info:
            run(pki, server, TransactionConfig(secret=client_secret, ref=pki.ref))
        failures.append(info.value)
    # A secret out of bounds: too long for PBM.
    with pytest.raises((LimitError, ValueError)) as bounds:
        tx = Transaction(ir(pki), TransactionConfig(secret=SECRET * 100_000, ref=pki.ref))
        tx.start()
    failures.append(bounds.value)
    for exc in failures:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        assert_no_secret(text + repr(exc) + repr(vars(exc)), [SECRET, OTHER_SECRET])


def test_secret_neither_in_result_nor_on_the_wire(pki: Pki) -> None:
    server = mock(pki, srv_secret=SECRET.encode())
    result = run(pki, server, TransactionConfig(secret=SECRET, ref=pki.ref))
    assert result.cert == pki.enrolled.cert
    wire = b"".join(m.to_der() for m in result.messages)
    assert_no_secret(repr(result) + wire.decode("latin-1") + wire.hex(), [SECRET])
