"""The test PKI (``openssl_harness.make_pki``) as cmpkit objects: the mock
server set up as the OpenSSL one is in the interop tests, and the two client
configurations (PBM, signatures) that go with it. One definition for every
test module that runs transactions in-process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openssl_harness import Pki

from cmp.requests import EnrollRequest
from cmp.server import MockServer, MockServerConfig
from cmp.transaction import TransactionConfig


def server_config(pki: Pki, **options: Any) -> MockServerConfig:
    """The options of ``openssl_harness.mock_server_args`` as a MockServerConfig."""
    fields: dict[str, Any] = {
        "srv_ref": pki.srv_ref,
        "srv_secret": pki.secret,
        "srv_cert": pki.server.cert,
        "srv_key": pki.server.key,
        "srv_trusted": [pki.root.cert],
        "rsp_cert": pki.enrolled.cert,
        "rsp_capubs": [pki.root.cert],
    }
    fields.update(options)
    return MockServerConfig(**fields)


def mock_server(pki: Pki, **options: Any) -> MockServer:
    """cmpkit's mock server with :func:`server_config`."""
    return MockServer(server_config(pki, **options))


def pbm_config(pki: Pki, **options: Any) -> TransactionConfig:
    """PBM with the mock server's secret (``-secret -ref -recipient``)."""
    return TransactionConfig(
        secret=pki.secret, ref=pki.ref, recipient=pki.server.cert.subject, **options
    )


def sig_config(pki: Pki, **options: Any) -> TransactionConfig:
    """Signatures with the EC client credential, the test root trusted."""
    options.setdefault("trusted", [pki.root.cert])
    return TransactionConfig(cert=pki.client.cert, key=pki.client.key, **options)


CONFIGS: dict[str, Callable[..., TransactionConfig]] = {"pbm": pbm_config, "sig": sig_config}


def ir_request(pki: Pki, **options: Any) -> EnrollRequest:
    """An ir for the key the mock server's certificate is for."""
    return EnrollRequest("ir", new_key=pki.new_key, subject=pki.enrolled.cert.subject, **options)
