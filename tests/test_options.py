"""The option table against ``openssl cmp -help``, and OpenSSL's number rules."""

from __future__ import annotations

import re
import subprocess

import pytest

from cmp.cli import format_help
from cmp.options import (
    GROUPS,
    OPTIONS,
    ArgKind,
    OptionError,
    check_int_range,
    normalize_format,
    parse_cli_int,
    parse_config_int,
    split_list,
)

_HELP_LINE = re.compile(r"^ -(\S+)(?: (\S+))?(?:\s{2,}|$)")


def _openssl_help(openssl_bin: str) -> str:
    result = subprocess.run(
        [openssl_bin, "cmp", "-config", "", "-help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.stderr + result.stdout


@pytest.fixture(scope="module")
def openssl_30_help(openssl_bin: str) -> str:
    version = subprocess.run(
        [openssl_bin, "version"], capture_output=True, text=True, check=True
    ).stdout
    if not version.startswith("OpenSSL 3.0."):
        pytest.skip(f"the option table is that of OpenSSL 3.0; this is {version.strip()}")
    return _openssl_help(openssl_bin)


def _parse_help(text: str) -> dict[str, tuple[str, str]]:
    """name -> (metavar, group) as listed by ``-help``."""
    found: dict[str, tuple[str, str]] = {}
    group = ""
    for line in text.splitlines():
        if line.endswith(" options:") and not line.startswith(" "):
            group = line[: -len(" options:")]
            continue
        match = _HELP_LINE.match(line)
        if match:
            found[match.group(1)] = (match.group(2) or "", group)
    return found


def test_every_option_of_openssl_cmp_help_is_in_the_table(openssl_30_help: str) -> None:
    listed = _parse_help(openssl_30_help)
    assert len(listed) > 120
    assert set(listed) == set(OPTIONS)


def test_argument_labels_and_groups_match_openssl_cmp_help(openssl_30_help: str) -> None:
    listed = _parse_help(openssl_30_help)
    for name, (metavar, group) in listed.items():
        assert OPTIONS[name].metavar == metavar, name
        assert OPTIONS[name].group == group, name


def test_options_are_listed_in_openssl_order(openssl_30_help: str) -> None:
    assert list(_parse_help(openssl_30_help)) == list(OPTIONS)


def test_help_layout_matches_openssl_column_for_column(openssl_30_help: str) -> None:
    theirs = [
        line[:24]
        for line in openssl_30_help.splitlines()
        if not line.startswith("cmp_main:")  # its config file info lines
    ]
    ours = [line[:24] for line in format_help("cmp").splitlines()]
    assert ours == theirs


def test_groups_are_those_of_help_in_order() -> None:
    seen = [spec.group for spec in OPTIONS.values()]
    assert sorted(set(seen), key=seen.index) == list(GROUPS)


def test_config_files_may_set_every_option_but_help_config_and_section() -> None:
    # apps/cmp.c read_config() walks the option table from -verbosity on.
    assert {name for name, spec in OPTIONS.items() if not spec.in_config} == {
        "help",
        "config",
        "section",
    }


def test_pass_phrase_options_are_the_seven_of_the_man_page() -> None:
    passes = {name for name, spec in OPTIONS.items() if spec.kind is ArgKind.PASS}
    assert passes == {
        "secret",
        "keypass",
        "newkeypass",
        "otherpass",
        "tls_keypass",
        "srv_keypass",
        "srv_secret",
    }


def test_defaults_are_openssl_defaults() -> None:
    defaults = {name: spec.default for name, spec in OPTIONS.items()}
    assert defaults["section"] == "cmp"
    assert defaults["verbosity"] == 6
    assert defaults["keep_alive"] == 1
    assert defaults["repeat"] == 1
    assert defaults["revreason"] == -1
    assert defaults["certform"] == "PEM"
    assert defaults["check_after"] == 1
    assert defaults["popo"] is None  # library default: SIGNATURE
    assert defaults["tls_used"] is False


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("days", "10", 10),
        ("days", "0x10", 16),  # strtol base 0
        ("days", "010", 8),
        ("days", " 7", 7),
        ("days", "+3", 3),
        ("popo", "-1", -1),
        ("revreason", "10", 10),
        ("verbosity", "8", 8),
        ("attime", "99999999999", 99999999999),
        ("verify_depth", "-5", -5),
    ],
)
def test_command_line_numbers_use_c_syntax(name: str, text: str, value: int) -> None:
    assert parse_cli_int(OPTIONS[name], text) == value


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("days", "abc", 'Can\'t parse "abc" as a number'),
        ("days", "1.5", 'Can\'t parse "1.5" as a number'),
        ("days", "", 'Can\'t parse "" as a number'),
        ("days", "5 ", 'Can\'t parse "5 " as a number'),
        ("days", "0x10000000000000000", "as a hexadecimal number"),
        ("days", "08", "as an octal number"),
        ("revreason", "010000000000000000000", "outside integer range"),
        ("revreason", "0100000000000000000000000", "as an octal number"),
        ("days", "99999999999", 'Value "99999999999" outside integer range'),
        ("days", "-1", 'Negative number "-1" for option -days'),
        ("msg_timeout", "-5", "Negative number"),
        ("repeat", "0", 'Non-positive number "0" for option -repeat'),
        ("popo", "3", "-popo 3 out of range; valid values are -1 .. 2"),
        ("popo", "-3", "out of range"),
        ("revreason", "7", "valid values are -1 .. 6, 8 .. 10"),
        ("revreason", "11", "out of range"),
        ("keep_alive", "3", "valid values are 0, 1, or 2"),
        ("verbosity", "9", "valid values are 0 .. 8"),
    ],
)
def test_bad_command_line_numbers_are_option_errors(name: str, text: str, message: str) -> None:
    with pytest.raises(OptionError, match=re.escape(message)):
        parse_cli_int(OPTIONS[name], text)


def test_mock_server_numbers_are_range_checked_only_where_used() -> None:
    assert parse_cli_int(OPTIONS["pkistatus"], "7") == 7
    with pytest.raises(OptionError, match=r"0 \.\. 6"):
        check_int_range(OPTIONS["pkistatus"], 7)
    with pytest.raises(OptionError, match=r"0 \.\. 26"):
        check_int_range(OPTIONS["failure"], 27)
    check_int_range(OPTIONS["failurebits"], 2**27 - 1)
    with pytest.raises(OptionError):
        check_int_range(OPTIONS["failurebits"], 2**27)


@pytest.mark.parametrize(
    ("text", "value"),
    [("5", 5), ("", None), ("0x10", None), ("abc", None), ("1.5", None), ("-0", 0)],
)
def test_config_numbers_are_base_10_and_non_numbers_count_as_not_given(
    text: str, value: int | None
) -> None:
    assert parse_config_int(OPTIONS["days"], text) == value


def test_config_numbers_keep_the_sign_rules() -> None:
    with pytest.raises(OptionError, match='Negative number "-3" for option -days'):
        parse_config_int(OPTIONS["days"], "-3")
    with pytest.raises(OptionError, match="Non-positive number"):
        parse_config_int(OPTIONS["repeat"], "0")
    with pytest.raises(OptionError, match="out of range"):
        parse_config_int(OPTIONS["days"], "3000000000")


def test_config_flags_are_numbers() -> None:
    assert parse_config_int(OPTIONS["batch"], "1") == 1
    assert parse_config_int(OPTIONS["batch"], "0") == 0
    assert parse_config_int(OPTIONS["batch"], "yes") is None


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("certform", "PEM", "PEM"),
        ("certform", "pem", "PEM"),
        ("certform", "DER", "DER"),
        ("certform", "der", "DER"),
        ("certform", "d", "DER"),
        ("keyform", "P12", "P12"),
        ("keyform", "pkcs12", "P12"),
        ("keyform", "ENGINE", "ENGINE"),
    ],
)
def test_formats_are_read_like_opt_format(name: str, text: str, value: str) -> None:
    assert normalize_format(OPTIONS[name], text) == value


@pytest.mark.parametrize(("name", "text"), [("certform", "P12"), ("certform", "xml")])
def test_formats_an_option_does_not_take_are_errors(name: str, text: str) -> None:
    with pytest.raises(OptionError, match="Bad format"):
        normalize_format(OPTIONS[name], text)


def test_lists_split_at_commas_and_whitespace() -> None:
    assert split_list("a.pem, b.pem  c.pem,,d.pem\t") == ["a.pem", "b.pem", "c.pem", "d.pem"]
    assert split_list("") == []
