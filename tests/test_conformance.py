"""OpenSSL's CMP conformance matrix (``../shared/conformance/openssl``, see its
README) with ``cmpkit`` as the client against the real ``openssl cmp`` mock
server started with ``csv-3.0/server.cnf``.

First ``openssl cmp`` itself runs the matrix as the client: it must give
every expected result, which shows that :mod:`conformance` builds the rows
as OpenSSL's harness does. Then ``cmpkit`` runs it; the test prints the count
and fails if it drops below what cmpkit reached so far. Last, ``openssl cmp``
runs it against cmpkit's mock server (``cmpkit -config server.cnf``).

The whole module takes about two and a half minutes (the matrix runs one process per
row, each well under a second); set ``CMPKIT_SKIP_CONFORMANCE=1`` to leave the
matrix out. Rows are limited to 30 s each, the whole run to 10 minutes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance import (
    EMPTY_CELL,
    MatrixResult,
    Row,
    load_rows,
    read_harness_keys,
    run_matrix,
)

CSV_SET = "csv-3.0"
MATRIX_ROWS = 265
"""Rows of csv-3.0 with an expected result (0 or 1) once OpenSSL's harness
rules are applied; the shared README says 237, counting differently."""
CMPKIT_PASSING = 265
"""Rows cmpkit as client gives the expected result for: raise it, never lower it."""
CMPKIT_SERVER_PASSING = 265
"""Rows ``openssl cmp`` as client gives the expected result for against cmpkit's server."""
CMPKIT_BOTH_PASSING = 265
"""Rows cmpkit as client gives the expected result for against cmpkit's server."""
MATRIX_TIME_LIMIT = 600.0
ROW_TIMEOUT = 30.0

skip_matrix = pytest.mark.skipif(
    os.environ.get("CMPKIT_SKIP_CONFORMANCE") == "1",
    reason="CMPKIT_SKIP_CONFORMANCE=1 leaves the conformance matrix out",
)

CMPKIT = (sys.executable, "-m", "cmp")


# --- how rows are built (no openssl needed) ---------------------------------------------------


def _keys(**overrides: str) -> dict[str, str]:
    keys = {
        "ca_dn": "/CN=Root CA",
        "server_dn": "/CN=server.example",
        "server_host": "127.0.0.1",
        "server_port": "1700",
        "server_tls": "1700",
        "server_path": "pkix/",
        "server_cert": "server.crt",
        "kur_port": "1700",
        "pbm_port": "1700",
        "pbm_ref": EMPTY_CELL,
        "pbm_secret": "pass:test",
        "column": "0",
        "sleep": "0",
    }
    keys.update(overrides)
    return keys


def _rows(tmp_path: Path, aspect: str, *lines: str, **keys: str) -> list[Row]:
    csv = tmp_path / f"test_{aspect}.csv"
    csv.write_text("expected,description, -section,val\n" + "\n".join(lines) + "\n")
    return load_rows(csv, aspect, _keys(**keys), tmp_path / "out")


def test_a_row_gets_the_config_section_proxy_options_certout_and_server(tmp_path: Path) -> None:
    (row,) = _rows(tmp_path, "enrollment", "1,title , -section,, -cmd,ir,BLANK,,")
    assert row.expect_success and row.title == "title"
    assert row.args == (
        "-server", "127.0.0.1:1700",
        "-config", "../Mock/test.cnf", "-section", "Mock enrollment",
        "-no_proxy", "127.0.0.1", "-proxy", "",
        "-certout", f"{tmp_path / 'out'}/test.cert.pem",
        "-cmd", "ir",
    )  # fmt: skip


def test_an_empty_pbm_ref_stays_an_empty_argument(tmp_path: Path) -> None:
    (row,) = _rows(tmp_path, "credentials", "1,pbm, -section,, -ref,_PBM_REF, -secret,_PBM_SECRET")
    assert row.args[-4:] == ("-ref", "", "-secret", "pass:test")


def test_quoted_empty_cells_are_empty_arguments_and_blanks_are_dropped(tmp_path: Path) -> None:
    (row,) = _rows(tmp_path, "connection", '0,t, -section,, -path,"""",BLANK,, -server,h:1')
    assert row.args[-4:] == ("-path", "", "-server", "h:1")
    assert row.args[0] != "-server" or row.args[1] != "127.0.0.1:1700"


def test_rows_own_proxy_options_are_kept(tmp_path: Path) -> None:
    (row,) = _rows(tmp_path, "connection", "0,t, -section,, -proxy,p:8, -no_proxy,n.com")
    assert row.args.count("-proxy") == 1 and row.args.count("-no_proxy") == 1


def test_commands_other_than_enrollment_get_no_certout(tmp_path: Path) -> None:
    rr, ir = _rows(tmp_path, "commands", "1,rr, -section,, -cmd,rr,", "1,ir, -section,, -cmd,ir,")
    assert "-certout" not in rr.args and "-certout" in ir.args


def test_rows_without_an_expected_result_are_skipped(tmp_path: Path) -> None:
    rows = _rows(tmp_path, "connection", ",heading,,", "TBD,later, -section,,", "1,ok, -section,,")
    assert [row.title for row in rows] == ["ok"]


def test_harness_keys_come_from_mock_then_the_aspect_section(tmp_path: Path) -> None:
    cnf = tmp_path / "test.cnf"
    cnf.write_text(
        "[Mock] # comment\nserver_host = 127.0.0.1 # localhost\npbm_ref =\nca_dn = /CN=A B\n"
        "[connection]\nca_dn = /CN=C\n"
    )
    base = read_harness_keys(cnf, "Mock", {})
    assert base == {"server_host": "127.0.0.1", "pbm_ref": EMPTY_CELL, "ca_dn": "/CN=A B"}
    assert read_harness_keys(cnf, "connection", base)["ca_dn"] == "/CN=C"


# --- the matrix ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openssl_client_matrix(
    openssl_bin: str, conformance_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MatrixResult]:
    yield run_matrix(
        (openssl_bin, "cmp"),
        tmp_path_factory.mktemp("conformance-openssl"),
        server=(openssl_bin, "cmp"),
        conformance_dir=conformance_dir,
        csv_set=CSV_SET,
        row_timeout=ROW_TIMEOUT,
    )


@skip_matrix
def test_openssl_client_gives_every_expected_result(openssl_client_matrix: MatrixResult) -> None:
    matrix = openssl_client_matrix
    print("\n" + matrix.report())
    assert matrix.total == MATRIX_ROWS
    assert matrix.failures == [], matrix.report()


@skip_matrix
def test_cmpkit_client_against_the_openssl_mock_server(
    openssl_bin: str,
    conformance_dir: Path,
    openssl_client_matrix: MatrixResult,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    matrix = run_matrix(
        CMPKIT,
        tmp_path_factory.mktemp("conformance-cmpkit"),
        server=(openssl_bin, "cmp"),
        conformance_dir=conformance_dir,
        csv_set=CSV_SET,
        row_timeout=ROW_TIMEOUT,
        client_name="cmpkit",
    )
    print("\n" + matrix.report())
    assert matrix.total == openssl_client_matrix.total
    assert matrix.passed >= CMPKIT_PASSING, matrix.report()
    assert matrix.seconds < MATRIX_TIME_LIMIT


@skip_matrix
def test_openssl_client_against_the_cmpkit_mock_server(
    openssl_bin: str,
    conformance_dir: Path,
    openssl_client_matrix: MatrixResult,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # The same matrix served by ``cmpkit -config server.cnf`` (its -port).
    matrix = run_matrix(
        (openssl_bin, "cmp"),
        tmp_path_factory.mktemp("conformance-cmpkit-server"),
        server=CMPKIT,
        conformance_dir=conformance_dir,
        csv_set=CSV_SET,
        row_timeout=ROW_TIMEOUT,
        server_name="cmpkit",
    )
    print("\n" + matrix.report())
    assert matrix.total == openssl_client_matrix.total
    assert matrix.passed >= CMPKIT_SERVER_PASSING, matrix.report()
    assert matrix.seconds < MATRIX_TIME_LIMIT


@skip_matrix
def test_cmpkit_client_against_the_cmpkit_mock_server(
    conformance_dir: Path,
    openssl_client_matrix: MatrixResult,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # cmpkit on both sides: `cmpkit -config server.cnf` serving `cmpkit` rows.
    matrix = run_matrix(
        CMPKIT,
        tmp_path_factory.mktemp("conformance-cmpkit-both"),
        server=CMPKIT,
        conformance_dir=conformance_dir,
        csv_set=CSV_SET,
        row_timeout=ROW_TIMEOUT,
        client_name="cmpkit",
        server_name="cmpkit",
    )
    print("\n" + matrix.report())
    assert matrix.total == openssl_client_matrix.total
    assert matrix.passed >= CMPKIT_BOTH_PASSING, matrix.report()
    assert matrix.seconds < MATRIX_TIME_LIMIT
