"""The ``cmpkit`` command line: parsed as ``openssl cmp`` parses it, option
errors as one line and exit status 1 before anything else happens, config
files merged, and a start-up that imports no crypto."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cmp import cli
from cmp.cli import (
    ParsedArgs,
    build_options,
    check_options,
    cli_main,
    format_help,
    parse_command_line,
)
from cmp.config import merge_options
from cmp.options import OptionError, OptionValue

REPO = Path(__file__).resolve().parent.parent
_CLIENT = ["-config", "", "-server", "127.0.0.1:1", "-cmd", "ir"]


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, OptionValue]]:
    """Replace :func:`cmp.cli.run`; the options it was called with."""
    calls: list[dict[str, OptionValue]] = []

    def fake_run(options: dict[str, OptionValue]) -> int:
        calls.append(options)
        return 0

    monkeypatch.setattr(cli, "run", fake_run)
    monkeypatch.delenv("OPENSSL_CONF", raising=False)
    return calls


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("cmpkit: ")
    return err


# -- parsing --------------------------------------------------------------------


def test_single_dash_long_options_with_values() -> None:
    parsed = parse_command_line(["-cmd", "ir", "-server", "host:80", "-days", "3"])
    assert parsed.values == {"cmd": "ir", "server": "host:80", "days": 3}


def test_double_dash_and_equals_forms_work_as_in_openssl() -> None:
    parsed = parse_command_line(["--cmd", "cr", "-days=0x10", "--subject=/CN=a=b"])
    assert parsed.values == {"cmd": "cr", "days": 16, "subject": "/CN=a=b"}


def test_flags_are_true_when_given() -> None:
    assert parse_command_line(["-batch", "-tls_used"]).values == {"batch": True, "tls_used": True}


def test_the_last_of_a_repeated_option_wins() -> None:
    assert parse_command_line(["-cmd", "ir", "-cmd", "kur"]).values == {"cmd": "kur"}


def test_options_allowed_several_times_collect_their_values() -> None:
    parsed = parse_command_line(["-provider", "default", "-policy", "1.2.3", "-provider", "legacy"])
    assert parsed.values == {"provider": ("default", "legacy"), "policy": ("1.2.3",)}


def test_values_may_start_with_a_hyphen_with_a_warning() -> None:
    parsed = parse_command_line(["-subject", "-odd"])
    assert parsed.values == {"subject": "-odd"}
    assert parsed.warnings == ["-subject option argument starts with hyphen"]


def test_an_empty_argument_unsets_the_option_with_a_warning() -> None:
    parsed = parse_command_line(["-proxy", "", "-path", ""])
    assert parsed.values == {"proxy": None, "path": None}
    assert parsed.warnings[0] == "-proxy option argument is empty string, resetting option"


def test_an_empty_csr_argument_is_kept_as_openssl_does() -> None:
    assert parse_command_line(["-csr", ""]).values == {"csr": ""}


def test_help_stops_parsing() -> None:
    parsed = parse_command_line(["-cmd", "bogus", "-help", "-nosuchoption"])
    assert parsed.help
    assert parse_command_line(["-h"]).help


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-nosuch"], "Unknown option: -nosuch"),
        (["-", "x"], "Unknown option: -"),
        (["-days"], "Option -days needs a value"),
        (["-batch=1"], "Option -batch does not take a value"),
        (["-cmd", "ir", "extra"], "Extra argument: 'extra'"),
        (["-cmd", "ir", "--", "extra"], "Extra argument: 'extra'"),
        (["-days", "abc"], 'Can\'t parse "abc" as a number'),
        (["-days", "-10"], 'Negative number "-10" for option -days'),
        (["-repeat", "0"], "Non-positive number"),
        (["-popo", "3"], "-popo 3 out of range"),
        (["-revreason", "7"], "-revreason 7 out of range"),
        (["-keep_alive", "3"], "-keep_alive 3 out of range"),
        (["-verbosity", "9"], "-verbosity 9 out of range"),
    ],
)
def test_parse_errors_say_what_is_wrong(argv: list[str], message: str) -> None:
    with pytest.raises(OptionError) as caught:
        parse_command_line(argv)
    assert message in str(caught.value)


# -- consistency checks -----------------------------------------------------------


def _checked(argv: list[str]) -> dict[str, OptionValue]:
    options = merge_options(None, "cmp", parse_command_line(argv).values)
    check_options(options, cli.Log(verbosity=0))
    return options


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["-server", "h:1", "-use_mock_srv", "-cmd", "ir"],
            "cannot use both -server and -use_mock_srv",
        ),
        (
            ["-port", "0", "-server", "h:1"],
            "The -port option excludes -server and -use_mock_srv",
        ),
        (["-port", "0", "-use_mock_srv"], "The -port option excludes"),
        (["-port", "0", "-rspin", "r.der"], "The -port option does not support -rspin"),
        (["-port", "0", "-rspout", "r.der"], "The -port option does not support -rspin"),
        (["-port", "0", "-tls_used"], "-tls_used option not supported with -port option"),
        (["-cmd", "ir"], "missing -server or -use_mock_srv or -rspin option"),
        (["-server", "h:1"], "no cmp command to execute"),
        (["-server", "h:1", "-cmd", "foo"], "unknown cmp command 'foo'"),
        (["-server", "h:1", "-cmd", "IR"], "unknown cmp command 'IR'"),
        (
            ["-server", "h:1", "-cmd", "ir", "-policies", "p", "-policy_oids", "1.2.3"],
            "cannot have policies both via -policies and via -policy_oids",
        ),
        (["-server", "h:1", "-cmd", "cr", "-geninfo", ".1.2.3:int:987"], "cannot parse OID"),
        (["-server", "h:1", "-cmd", "cr", "-geninfo", "1.2.3:int987"], "missing 'int:'"),
        (["-server", "h:1", "-cmd", "cr", "-geninfo", "1.2.3:int::987"], "cannot parse int"),
        (["-server", "h:1", "-cmd", "cr", "-geninfo", "1.2.3"], "cannot parse OID"),
        (["-server", "h:1", "-cmd", "ir", "-certform", "P12"], 'Bad format "P12"'),
        (["-server", "h:1", "-cmd", "ir", "-purpose", "nosuch"], "Invalid purpose"),
        (["-server", "h:1", "-cmd", "ir", "-engine", "pkcs11"], "engines"),
        (["-server", "h:1", "-cmd", "ir", "-keyform", "ENGINE"], "engines"),
        (["-use_mock_srv", "-cmd", "ir", "-pkistatus", "7"], "-pkistatus 7 out of range"),
        (["-use_mock_srv", "-cmd", "ir", "-failure", "27"], "-failure 27 out of range"),
    ],
)
def test_conflicting_or_invalid_options_are_option_errors(argv: list[str], message: str) -> None:
    with pytest.raises(OptionError, match=message):
        _checked(argv)


def test_valid_combinations_pass_and_are_normalised() -> None:
    options = _checked(
        ["-server", "h:1", "-cmd", "cr", "-geninfo", "1.2.3:INT:-987", "-certform", "der"]
    )
    assert options["certform"] == "DER"
    assert _checked([*_CLIENT, "-certform", ""])["certform"] == "PEM"
    assert _checked(["-port", "0"])["port"] == "0"
    assert _checked(["-rspin", "a.der b.der", "-cmd", "genm"])["rspin"] == "a.der b.der"
    # mock server numbers are only checked where the mock server runs
    assert _checked(["-server", "h:1", "-cmd", "ir", "-pkistatus", "7"])["pkistatus"] == 7


def test_options_openssl_ignores_in_a_combination_are_dropped_with_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    options = merge_options(
        None,
        "cmp",
        parse_command_line(["-rspin", "r.der", "-use_mock_srv", "-tls_used", "-cmd", "ir"]).values,
    )
    check_options(options, cli.Log())
    assert options["tls_used"] is False
    err = capsys.readouterr().err
    assert "ignoring -tls_used option since -use_mock_srv is given or -server is not given" in err
    # openssl cmp >= 3.0.9: the (mock) server answers once the -rspin files run out.
    assert options["use_mock_srv"] is True
    assert "-use_mock_srv option is not used if enough filenames given for -rspin" in err


def test_server_beside_rspin_answers_when_the_files_run_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    options = merge_options(
        None,
        "cmp",
        parse_command_line(["-rspin", "r.der", "-server", "h:1", "-tls_used", "-cmd", "ir"]).values,
    )
    check_options(options, cli.Log())
    assert options["server"] == "h:1"
    assert options["tls_used"] is True
    assert "-server option is not used if enough filenames given for -rspin" in (
        capsys.readouterr().err
    )


def test_tls_options_without_tls_used_are_warned_about(capsys: pytest.CaptureFixture[str]) -> None:
    options = merge_options(None, "cmp", parse_command_line([*_CLIENT, "-tls_host", "x"]).values)
    check_options(options, cli.Log())
    assert "ignoring TLS option(s) since -tls_used is not given" in capsys.readouterr().err


# -- the whole command --------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["-nosuch"],
        ["-days"],
        ["-days", "1.5", *_CLIENT],
        ["-server", "h:1", "-use_mock_srv", "-cmd", "ir", "-config", ""],
        ["-config", "", "-cmd", "ir"],
        ["-config", "/nonexistent/x.cnf", *_CLIENT[2:]],
        ["-config", "", "-verbosity", "0", "-nosuch"],
        ["-config", "", "-verbosity", "0", "-server", "h:1", "-use_mock_srv", "-cmd", "ir"],
    ],
)
def test_option_errors_are_one_line_and_exit_1(
    argv: list[str], capsys: pytest.CaptureFixture[str], ran: list[dict[str, OptionValue]]
) -> None:
    assert cli_main(argv) == 1
    _one_error_line(capsys)
    assert ran == []


def test_parse_errors_point_to_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["-nosuch"]) == 1
    assert _one_error_line(capsys) == "cmpkit: Unknown option: -nosuch (use -help for a summary)\n"


def test_help_goes_to_stderr_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["-help"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == format_help()


def test_no_arguments_print_help_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main([]) == 1
    assert capsys.readouterr().err.startswith("Usage: cmpkit [options]\n")


def test_valid_options_reach_run(ran: list[dict[str, OptionValue]]) -> None:
    assert cli_main([*_CLIENT, "-days", "3", "-batch"]) == 0
    (options,) = ran
    assert options["cmd"] == "ir"
    assert options["server"] == "127.0.0.1:1"
    assert options["days"] == 3
    assert options["batch"] is True
    assert options["keep_alive"] == 1


def test_config_file_sections_and_command_line_are_merged(
    tmp_path: Path, ran: list[dict[str, OptionValue]]
) -> None:
    config = tmp_path / "c.cnf"
    config.write_text("[cmp]\nserver = a:1\ncmd = ir\n[x]\ncmd = cr\ndays = 9\n")
    assert cli_main(["-config", str(config), "-section", "cmp,x", "-days", "2"]) == 0
    assert ran[0]["server"] == "a:1"
    assert ran[0]["cmd"] == "cr"
    assert ran[0]["days"] == 2
    assert ran[0]["config"] == str(config)


def test_openssl_conf_names_the_default_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ran: list[dict[str, OptionValue]]
) -> None:
    config = tmp_path / "c.cnf"
    config.write_text("[cmp]\nserver = fromenv:1\ncmd = genm\n")
    monkeypatch.setenv("OPENSSL_CONF", str(config))
    assert cli_main(["-batch"]) == 0
    assert ran[0]["server"] == "fromenv:1"
    assert cli_main(["-config", "", "-use_mock_srv", "-cmd", "ir"]) == 0
    assert ran[1]["server"] is None  # -config "" reads no file


def test_a_missing_openssl_conf_file_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ran: list[dict[str, OptionValue]]
) -> None:
    monkeypatch.setenv("OPENSSL_CONF", str(tmp_path / "nosuch.cnf"))
    assert cli_main(["-use_mock_srv", "-cmd", "ir"]) == 0


def test_config_errors_name_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ran: list[dict[str, OptionValue]]
) -> None:
    config = tmp_path / "bad.cnf"
    config.write_text("[cmp]\nserver = a:1\nrepeat = 0\n")
    assert cli_main(["-config", str(config), "-cmd", "ir"]) == 1
    err = _one_error_line(capsys)
    assert f'config file "{config}" line 3: Non-positive number "0" for option -repeat' in err


def test_option_errors_with_a_config_file_are_one_line_too(
    conformance_dir: Path, capsys: pytest.CaptureFixture[str], ran: list[dict[str, OptionValue]]
) -> None:
    test_cnf = str(conformance_dir / "csv-3.0" / "test.cnf")
    argv = ["-config", test_cnf, "-section", "Mock enrollment", "-cmd", "ir", "-use_mock_srv"]
    assert cli_main(argv) == 1
    assert "cannot use both -server and -use_mock_srv options" in _one_error_line(capsys)


def test_a_named_section_must_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ran: list[dict[str, OptionValue]]
) -> None:
    config = tmp_path / "c.cnf"
    config.write_text("[a]\n")
    assert cli_main(["-config", str(config), "-section", "a,b", *_CLIENT[2:]]) == 1
    assert "no [b] section found" in _one_error_line(capsys)


def test_verbosity_filters_warnings(
    capsys: pytest.CaptureFixture[str], ran: list[dict[str, OptionValue]]
) -> None:
    assert cli_main([*_CLIENT, "-proxy", "", "-verbosity", "3"]) == 0
    assert capsys.readouterr().err == ""
    assert cli_main([*_CLIENT, "-proxy", ""]) == 0
    assert "resetting option" in capsys.readouterr().err


def test_conformance_mock_enrollment_options(
    conformance_dir: Path, ran: list[dict[str, OptionValue]]
) -> None:
    # A row of test_enrollment.csv after the README's substitutions.
    argv = [
        "-config", str(conformance_dir / "csv-3.0" / "test.cnf"),
        "-section", "Mock enrollment",
        "-server", "127.0.0.1:1700",
        "-cmd", "ir", "-newkey", "new.key", "-newkeypass", "pass:",
        "-days", "1", "-certout", "out/test.certout_days.pem", "-out_trusted", "root.crt",
        "-no_proxy", "127.0.0.1", "-proxy", "",
    ]  # fmt: skip
    assert cli_main(argv) == 0
    options = ran[0]
    assert options["server"] == "127.0.0.1:1700"
    assert options["path"] == "pkix/"
    assert options["recipient"] == "/CN=Root CA"
    assert options["newkeypass"] == "pass:"
    assert options["policies"] == "certificatePolicies"
    assert options["proxy"] is None
    assert options["batch"] is True
    assert options["total_timeout"] == 8


def test_build_options_uses_the_given_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.cnf"
    config.write_text("[cmp]\ncmd = $ENV::MYCMD\n")
    options = build_options(
        ParsedArgs(values={}), environ={"OPENSSL_CONF": str(config), "MYCMD": "genm"}
    )
    assert options["cmd"] == "genm"


# -- against the real openssl and as a program ---------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["-nosuch"],
        ["-days"],
        ["-days", "-1"],
        ["-days", "1.5"],
        ["-repeat", "0"],
        ["-popo", "3"],
        ["-revreason", "7"],
        ["-keep_alive", "3"],
        ["-batch=1"],
        ["-verbosity", "9"],
        ["-server", "127.0.0.1:1", "-use_mock_srv"],
        ["-server", "127.0.0.1:1", "-cmd", "foo"],
        ["-cmd", "ir", "extra"],
    ],
)
def test_option_errors_fail_as_in_openssl(
    openssl_bin: str, argv: list[str], ran: list[dict[str, OptionValue]]
) -> None:
    theirs = subprocess.run(
        [openssl_bin, "cmp", "-config", "", *argv],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
        check=False,
    )
    assert theirs.returncode == 1
    assert cli_main(["-config", "", *argv]) == 1


def _run_module(
    *args: str, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    env.pop("OPENSSL_CONF", None)
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
        env=env,
    )


def test_python_dash_m_cmp_is_the_command() -> None:
    result = _run_module("-m", "cmp", "-help")
    assert result.returncode == 0
    assert result.stderr.startswith("Usage: cmpkit [options]\n")
    result = _run_module("-m", "cmp", "-nosuch")
    assert result.returncode == 1
    assert result.stderr == "cmpkit: Unknown option: -nosuch (use -help for a summary)\n"


def test_help_starts_without_importing_crypto_or_http() -> None:
    started = time.perf_counter()
    result = _run_module("-X", "importtime", "-m", "cmp", "-help")
    elapsed = time.perf_counter() - started
    assert result.returncode == 0
    imported = {
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    heavy = {name for name in imported if name.split(".")[0] in ("cryptography", "httpx", "ssl")}
    assert heavy == set()
    print(f"\ncmpkit -help start-up (with -X importtime): {elapsed * 1000:.0f} ms")


def test_the_cmpkit_console_script_when_installed() -> None:
    script = Path(sys.executable).parent / "cmpkit"
    if not script.exists():
        pytest.skip("the cmpkit console script is not installed in this environment")
    started = time.perf_counter()
    result = subprocess.run(
        [str(script), "-help"], capture_output=True, text=True, timeout=60, check=False
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 0
    assert result.stderr == format_help()
    print(f"\ncmpkit -help start-up: {elapsed * 1000:.0f} ms")
