"""OpenSSL config files: syntax as config(5) and conf_def.c read it, and how
``openssl cmp`` takes its options from the sections named by ``-section``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from cmp.config import (
    ConfigError,
    load_config,
    merge_options,
    parse_config,
    split_sections,
)

# -- syntax --------------------------------------------------------------------


def _value(line: str, *, before: str = "", environ: dict[str, str] | None = None) -> str | None:
    text = f"dv = fromDefault\n[other]\nv = fromOther\n[s]\nvar = VAR\n{before}key = {line}\n"
    return parse_config(text, "t.cnf", environ=environ or {}).get("s", "key")


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("plain", "plain"),
        ("a b  ", "a b"),  # trailing whitespace trimmed, inner kept
        ("a # comment", "a"),
        ('"quoted # not a comment" tail', "quoted # not a comment tail"),
        ("'single quotes'", "single quotes"),
        ('"a" b "c"', "a b c"),
        ('"unterminated', "unterminated"),
        (r'"a\"b"', 'a"b'),
        (r"a\#b", "a#b"),
        (r"a\\b", "a\\b"),
        (r"a\nb\tc\rd\be", "a\nb\tc\rd\be"),
        (r"a\qb", "aqb"),
        ("", ""),
    ],
)
def test_values_have_quotes_escapes_and_comments_processed(line: str, value: str) -> None:
    assert _value(line) == value


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("$var", "VAR"),
        ("x$var.y", "xVAR.y"),  # names are letters, digits and '_'
        ("${var}x", "VARx"),
        ("$(var)x", "VARx"),
        ("$other::v", "fromOther"),
        ("${other::v}-", "fromOther-"),
        ("$default::dv", "fromDefault"),
        ("$dv", "fromDefault"),  # a section lookup falls back to [default]
        ("$ENV::HOME_X", "/home/x"),
        ("a:b::c", "a:b::c"),
        ('"$var"', "$var"),  # no expansion inside quotes
        (r"\$var", "$var"),
    ],
)
def test_variables_are_expanded_while_reading(line: str, value: str) -> None:
    assert _value(line, environ={"HOME_X": "/home/x"}) == value


def test_environment_variables_come_from_os_environ_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CMPKIT_TEST_VAR", "from-env")
    assert parse_config("k = $ENV::CMPKIT_TEST_VAR\n").get("default", "k") == "from-env"


def test_pragma_dollarid_makes_a_bare_dollar_literal() -> None:
    assert _value("a$b ${var}", before=".pragma dollarid:on\n") == "a$b VAR"
    assert _value("a$var", before=".pragma = dollarid:off\n") == "aVAR"


def test_line_continuation_joins_the_next_line() -> None:
    config = parse_config("[s]\nk = first \\\nsecond\nj = a\\\\\n")
    assert config.get("s", "k") == "first second"
    assert config.get("s", "j") == "a\\"  # an escaped backslash does not continue


def test_crlf_line_ends_are_accepted() -> None:
    assert parse_config("[s]\r\nk = v\r\n").get("s", "k") == "v"


def test_keys_before_any_section_are_the_default_section() -> None:
    config = parse_config("a = 1\n[default]\nb = 2\n[s]\nc = 3\n")
    assert config.section("default") == {"a": "1", "b": "2"}
    assert config.get("s", "a") == "1"  # fallback to [default]
    assert config.get("s", "c") == "3"
    assert config.get("nosuch", "b") == "2"
    assert config.get("s", "nokey") is None


def test_a_later_value_of_the_same_key_wins() -> None:
    assert parse_config("[s]\nk = 1\nk = 2\n").get("s", "k") == "2"


def test_reopened_sections_are_merged() -> None:
    config = parse_config("[s]\na = 1\n[t]\n[s]\nb = 2\n")
    assert config.section("s") == {"a": "1", "b": "2"}


def test_section_prefix_on_a_key_sets_it_in_that_section() -> None:
    config = parse_config("[s]\nother::k = v\nk = here\n")
    assert config.get("other", "k") == "v"
    assert config.get("s", "k") == "here"


def test_section_names_may_contain_spaces_and_trailing_text() -> None:
    config = parse_config("[ a b ] # comment\nk = 1\n[c]junk\nj = 2\n")
    assert config.get("a b", "k") == "1"
    assert config.get("c", "j") == "2"


def test_env_section_falls_back_to_the_environment() -> None:
    config = parse_config("x = 1\n", environ={"FOO": "bar"})
    assert config.get("ENV", "FOO") == "bar"


def test_include_reads_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "inc.cnf").write_text("[s]\nk = included\n")
    monkeypatch.chdir(tmp_path)
    config = parse_config(".include inc.cnf\nj = $s::k\n", environ={})
    assert config.get("s", "k") == "included"
    assert config.get("s", "j") == "included"  # still in [s] after the include
    assert parse_config(".include = inc.cnf\n", environ={}).get("s", "k") == "included"


def test_include_of_a_directory_reads_its_cnf_and_conf_files(tmp_path: Path) -> None:
    folder = tmp_path / "conf.d"
    folder.mkdir()
    (folder / "a.cnf").write_text("[s]\na = 1\n")
    (folder / "b.conf").write_text("[s]\nb = 2\n")
    (folder / "c.txt").write_text("[s]\nc = 3\n")
    config = parse_config(f".include {folder}\n", environ={})
    assert config.section("s") == {"a": "1", "b": "2"}


def test_a_missing_include_file_is_ignored_as_by_openssl() -> None:
    config = parse_config(".include /nonexistent/x.cnf\n[s]\nk = v\n", environ={})
    assert config.get("s", "k") == "v"


def test_includedir_pragma_and_environment_prefix_relative_includes(tmp_path: Path) -> None:
    (tmp_path / "inc.cnf").write_text("k = v\n")
    text = f".pragma includedir:{tmp_path}\n.include inc.cnf\n"
    assert parse_config(text, environ={}).get("default", "k") == "v"
    env = {"OPENSSL_CONF_INCLUDE": str(tmp_path)}
    assert parse_config(".include inc.cnf\n", environ=env).get("default", "k") == "v"


def test_abspath_pragma_refuses_relative_includes() -> None:
    with pytest.raises(ConfigError, match="relative path"):
        parse_config(".pragma abspath:true\n.include x.cnf\n", environ={})


def test_include_cycles_are_stopped(tmp_path: Path) -> None:
    loop = tmp_path / "loop.cnf"
    loop.write_text(f".include {loop}\n")
    with pytest.raises(ConfigError, match="nested deeper"):
        load_config(str(loop), environ={})


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("a = 1\nnot a key line\n", 2, "missing equal sign after 'not'"),
        ("[s\n", 1, "missing close square bracket"),
        ("a = 1\n\nb = $nosuch\n", 3, "variable 'nosuch' has no value"),
        ("b = ${x\n", 1, "no closing '}'"),
        ("b = $other::x\n", 1, "variable 'other::x' has no value"),
        (".pragma dollarid:maybe\n", 1, "invalid pragma value"),
        (".pragma dollarid\n", 1, "invalid pragma"),
    ],
)
def test_syntax_errors_name_file_and_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "my.cnf", environ={})
    assert caught.value.line == line
    assert str(caught.value).startswith(f'config file "my.cnf" line {line}: ')
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_syntax_errors_do_not_show_the_rest_of_the_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("secret pass:hunter2\n", environ={})
    assert "hunter2" not in str(caught.value)


def test_variable_expansion_is_bounded() -> None:
    lines = ["a0 = " + "x" * 1000]
    lines += [f"a{i} = $a{i - 1}$a{i - 1}" for i in range(1, 20)]
    with pytest.raises(ConfigError, match="too long"):
        parse_config("\n".join(lines) + "\n", environ={})


def test_an_unreadable_file_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r'cannot read config file ".*nosuch.cnf": '):
        load_config(str(tmp_path / "nosuch.cnf"))


# -- sections and merging -------------------------------------------------------


def test_section_lists_split_at_commas_and_whitespace() -> None:
    assert split_sections("Mock enrollment") == ["Mock", "enrollment"]
    assert split_sections("a,b, c") == ["a", "b", "c"]
    assert split_sections("") == ["default"]


def test_section_names_are_cut_to_40_characters_with_a_warning() -> None:
    warnings: list[str] = []
    assert split_sections("x" * 45, warn=warnings.append) == ["x" * 40]
    assert "first 40 characters" in warnings[0]


_MERGE_CNF = """\
verbosity = 7
cmd = fromDefault
[a]
cmd = ir
server = a.example:80
days = 5
batch = 1
ref = fromA
[b]
server = b.example:80
ref =
days =
batch = 0
proxy = proxy:8080
"""


def _merge(sections: str, cli: dict[str, object] | None = None) -> dict[str, object]:
    config = parse_config(_MERGE_CNF, "m.cnf", environ={})
    return dict(merge_options(config, sections, dict(cli or {})))  # type: ignore[arg-type]


def test_later_sections_override_earlier_ones() -> None:
    assert _merge("a,b")["server"] == "b.example:80"
    assert _merge("b,a")["server"] == "a.example:80"


def test_default_section_is_asked_before_earlier_sections() -> None:
    # OpenSSL's NCONF_get_string() falls back to [default] for each section:
    # [b] lacks cmd, so [default] answers before [a] is asked.
    assert _merge("a,b")["cmd"] == "fromDefault"
    assert _merge("a")["cmd"] == "ir"


def test_empty_values_unset_options() -> None:
    merged = _merge("a b")
    assert merged["ref"] is None  # "ref =" in [b] hides [a]'s value
    assert merged["days"] == 0  # an empty number is "not given": the default


def test_flags_are_zero_or_one_in_config_files() -> None:
    assert _merge("a")["batch"] is True
    assert _merge("a,b")["batch"] is False


def test_command_line_overrides_config_file() -> None:
    merged = _merge("a", {"server": "cli:1", "batch": True, "proxy": None})
    assert merged["server"] == "cli:1"
    assert merged["proxy"] is None
    assert _merge("a,b", {"proxy": None})["proxy"] is None


def test_options_given_several_times_collect_file_then_command_line() -> None:
    config = parse_config("[s]\nprovider = legacy\n", environ={})
    merged = merge_options(config, "s", {"provider": ("default", "fips")})
    assert merged["provider"] == ("legacy", "default", "fips")


def test_defaults_fill_everything_not_given() -> None:
    merged = merge_options(None, "cmp", {})
    assert merged["verbosity"] == 6
    assert merged["keep_alive"] == 1
    assert merged["server"] is None
    assert "help" not in merged


def test_unknown_keys_are_ignored_as_by_openssl() -> None:
    config = parse_config("[s]\nno_such_option = 1\nserver = x\n", environ={})
    assert merge_options(config, "s", {})["server"] == "x"


def test_non_numeric_numbers_are_ignored_with_a_warning() -> None:
    config = parse_config("[s]\nverbosity = loud\nbatch = yes\n", "w.cnf", environ={})
    warnings: list[str] = []
    merged = merge_options(config, "s", {}, warn=warnings.append)
    assert merged["verbosity"] == 6
    assert merged["batch"] is False
    assert len(warnings) == 2
    assert 'config file "w.cnf" line 2' in warnings[0]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("days = -3", 'Negative number "-3" for option -days'),
        ("repeat = 0", 'Non-positive number "0" for option -repeat'),
        ("verbosity = 9", "-verbosity 9 out of range; valid values are 0 .. 8"),
        ("popo = 5", "-popo 5 out of range; valid values are -1 .. 2"),
    ],
)
def test_bad_numbers_are_errors_naming_file_and_line(line: str, message: str) -> None:
    config = parse_config(f"[s]\n\n{line}\n", "n.cnf", environ={})
    with pytest.raises(ConfigError) as caught:
        merge_options(config, "s", {})
    assert str(caught.value) == f'config file "n.cnf" line 3: {message}'


def test_every_named_section_must_exist() -> None:
    config = parse_config("[a]\n", "x.cnf", environ={})
    with pytest.raises(ConfigError, match=r"no \[zz\] section found in config file 'x.cnf'"):
        merge_options(config, "a,zz", {})


def test_a_missing_cmp_section_falls_back_to_default() -> None:
    config = parse_config("server = s:1\n", environ={})
    assert merge_options(config, "cmp", {})["server"] == "s:1"


def test_an_empty_section_argument_means_default() -> None:
    config = parse_config("server = s:1\n[a]\nserver = a:1\n", environ={})
    assert merge_options(config, "", {})["server"] == "s:1"


def test_config_and_section_are_never_read_from_a_file() -> None:
    config = parse_config("config = other.cnf\nsection = x\n", "c.cnf", environ={})
    merged = merge_options(config, "cmp", {})
    assert merged["config"] == "c.cnf"
    assert merged["section"] == "cmp"


# -- OpenSSL's own conformance configuration --------------------------------------


def test_conformance_client_config_parses(conformance_dir: Path) -> None:
    config = load_config(str(conformance_dir / "csv-3.0" / "test.cnf"))
    assert config.get("Mock", "server") == "127.0.0.1:0"  # $server_host:$server_port
    assert config.get("Mock", "server_tls") == "0"
    assert config.get("Mock", "recipient") == "/CN=Root CA"
    assert config.get("Mock", "subject") == "/C=AU/ST=Some-State/O=Internet Widgits Pty Ltd/CN=leaf"
    assert config.get("certificatePolicies", "certificatePolicies") == "critical, @pkiPolicy"
    assert config.section("alt_names") == {
        "DNS.0": "localhost",
        "IP.0": "127.0.0.1",
        "IP.1": "192.168.1.1",
        "URI.0": "http://192.168.0.2",
    }
    assert config.get("reqexts", "keyUsage") == "critical, digitalSignature"


def test_conformance_mock_enrollment_sections_merge_as_in_openssl(conformance_dir: Path) -> None:
    config = load_config(str(conformance_dir / "csv-3.0" / "test.cnf"))
    merged = merge_options(config, "Mock enrollment", {})
    expected = {
        "batch": True,
        "total_timeout": 8,
        "trusted": "trusted.crt",  # [default]
        "policies": "certificatePolicies",
        "server": "127.0.0.1:0",  # [Mock]
        "path": "pkix/",
        "recipient": "/CN=Root CA",
        "expect_sender": "/CN=server.example",
        "cert": "signer.crt",
        "key": "signer.p12",
        "keypass": "pass:12345",
        "ignore_keyusage": False,
        "cmd": None,  # "cmd =" in [enrollment] unsets [default]'s ir
        "newkey": None,
        "newkeypass": None,
        "out_trusted": None,
        "san_nodefault": False,
        "days": 0,
    }
    assert {name: merged[name] for name in expected} == expected


def test_conformance_credentials_section_takes_default_before_mock(
    conformance_dir: Path,
) -> None:
    config = load_config(str(conformance_dir / "csv-3.0" / "test.cnf"))
    merged = merge_options(config, "Mock credentials", {"cmd": "cr"})
    assert merged["newkey"] == "new.key"  # [default], not [Mock]'s signer.key
    assert merged["cert"] is None
    assert merged["keypass"] is None
    assert merged["cmd"] == "cr"


def test_conformance_server_config_merges(conformance_dir: Path) -> None:
    config = load_config(str(conformance_dir / "csv-3.0" / "server.cnf"))
    merged = merge_options(config, "cmp", {})
    assert merged["port"] == "0"
    assert merged["srv_secret"] == "pass:test"
    assert merged["no_check_time"] is True
    assert merged["rsp_capubs"] == "signer_root.crt"
    assert merged["verbosity"] == 7
    assert merged["accept_unprotected"] is False


# -- against the real openssl -------------------------------------------------------

_PARSED_CMD = re.compile(r"unknown cmp command '(.*?)'\n", re.S)


def _openssl_reading(openssl_bin: str, path: Path, sections: str) -> str | None:
    """What ``openssl cmp`` read as ``cmd``: it echoes an unknown command."""
    result = subprocess.run(
        [openssl_bin, "cmp", "-config", str(path), "-section", sections, "-server", "h:1"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    match = _PARSED_CMD.search((result.stdout + result.stderr).decode())
    return match.group(1) if match else None


@pytest.mark.parametrize(
    "line",
    [
        "a b  ",
        '"quoted # not comment" tail',
        r"a\#b\\c",
        "x$var.y",
        "${other::v}-$(var)",
        '"a" b "c"',
        "a \\\ncontinued",
        r"a\qb",
    ],
)
def test_values_read_as_openssl_reads_them(openssl_bin: str, tmp_path: Path, line: str) -> None:
    text = f"[other]\nv = O\n[s]\nvar = VAR\ncmd = {line}\n"
    path = tmp_path / "t.cnf"
    path.write_text(text)
    ours = load_config(str(path), environ={}).get("s", "cmd")
    assert _openssl_reading(openssl_bin, path, "s") == ours


@pytest.mark.parametrize(
    ("sections", "expected"),
    [("a", "fromA"), ("a,b", "fromDefault"), ("b,a", "fromA"), ("a c", "fromC")],
)
def test_section_precedence_is_that_of_openssl(
    openssl_bin: str, tmp_path: Path, sections: str, expected: str
) -> None:
    path = tmp_path / "p.cnf"
    path.write_text("cmd = fromDefault\n[a]\ncmd = fromA\n[b]\nx = 1\n[c]\ncmd = fromC\n")
    ours = merge_options(load_config(str(path)), sections, {})["cmd"]
    assert ours == expected
    assert _openssl_reading(openssl_bin, path, sections) == expected
