"""Shared fixtures: the test PKI and interop with the real ``openssl cmp``.

Everything here wraps :mod:`openssl_harness`; tests that need ``openssl``
skip with the reason when it is missing, older than 3.0, or built without CMP.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest
from openssl_harness import (
    DEFAULT_TIMEOUT,
    OPENSSL_ENV_VAR,
    CapturedMessages,
    MockServerFactory,
    OpensslServer,
    Pki,
    capture_all_openssl_messages,
    find_openssl,
    make_pki,
    openssl_version,
    start_openssl_mock_server,
)

CONFORMANCE_DIR = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "conformance" / "openssl"
)
"""OpenSSL's CMP test data, kept beside (never inside) the repository: ``<repo>/../shared/...``."""


@pytest.fixture(scope="session")
def openssl_bin() -> str:
    """Path of an ``openssl`` >= 3.0 with the ``cmp`` command (``$CMPKIT_OPENSSL`` or PATH)."""
    found = find_openssl()
    if found is None:
        configured = os.environ.get(OPENSSL_ENV_VAR)
        if configured:
            pytest.skip(f"${OPENSSL_ENV_VAR}={configured!r} is not an executable")
        pytest.skip(f"openssl not found on PATH (set ${OPENSSL_ENV_VAR} to point at one)")
    try:
        version = openssl_version(found)
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        pytest.skip(f"cannot run {found} version: {exc}")
    if version < (3, 0, 0):
        pytest.skip(f"{found} is OpenSSL {'.'.join(map(str, version))}; openssl cmp needs >= 3.0")
    helptext = subprocess.run(
        [found, "cmp", "-help"],
        capture_output=True,
        text=True,
        timeout=DEFAULT_TIMEOUT,
        check=False,
    )
    if "-use_mock_srv" not in helptext.stdout + helptext.stderr:
        pytest.skip(f"{found} was built without the cmp command (no-cmp)")
    return found


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The session's test PKI, generated with ``cryptography`` into a temp dir."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def captured_messages(
    openssl_bin: str, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> CapturedMessages:
    """Every CMP message kind as written by ``openssl cmp``, PBM- and signature-protected.

    ``captured_messages["pbm"]["ir"][0]`` is DER; ``captured_messages.secret``
    is the PBM secret.
    """
    return capture_all_openssl_messages(
        pki, tmp_path_factory.mktemp("captured"), openssl=openssl_bin
    )


@pytest.fixture
def openssl_mock_server(openssl_bin: str, pki: Pki, tmp_path: Path) -> Iterator[MockServerFactory]:
    """A factory starting ``openssl cmp -port 0`` mock servers, all stopped after the test."""
    with ExitStack() as stack:
        count = 0

        def start(extra_args: Sequence[str] = ()) -> OpensslServer:
            nonlocal count
            count += 1
            workdir = tmp_path / f"openssl-mock-server-{count}"
            return stack.enter_context(
                start_openssl_mock_server(pki, workdir, extra_args, openssl=openssl_bin)
            )

        yield start


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """OpenSSL's CMP conformance data (``<repo>/../shared/conformance/openssl``)."""
    if not CONFORMANCE_DIR.is_dir():
        pytest.skip(f"OpenSSL conformance data not present at {CONFORMANCE_DIR}")
    return CONFORMANCE_DIR
