"""Pass phrase sources as openssl-passphrase-options(1) defines them, and how
``openssl cmp`` uses them (plain-text fallback, ``-batch``)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmp.passphrase import (
    PASS_MAX,
    PassphraseError,
    PassphraseSource,
    is_source,
    read_passphrase,
    read_passphrase_pair,
)


@pytest.fixture
def pipe_fd() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        try:
            os.close(fd)
        except OSError:
            pass


def test_pass_gives_the_rest_of_the_argument() -> None:
    assert read_passphrase("pass:s3cr:et") == b"s3cr:et"
    assert read_passphrase("pass:") == b""


def test_env_reads_the_variable() -> None:
    assert read_passphrase("env:PW", environ={"PW": "from-env"}) == b"from-env"


def test_env_of_a_missing_variable_is_an_error_naming_the_variable() -> None:
    with pytest.raises(PassphraseError, match="No environment variable PW"):
        read_passphrase("env:PW", environ={})


def test_file_gives_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "pw.txt"
    path.write_bytes(b"first\nsecond\n")
    assert read_passphrase(f"file:{path}") == b"first"


def test_file_without_a_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "pw.txt"
    path.write_bytes(b"only")
    assert read_passphrase(f"file:{path}") == b"only"


def test_file_keeps_a_carriage_return_as_openssl_3_0_does(tmp_path: Path) -> None:
    path = tmp_path / "pw.txt"
    path.write_bytes(b"dos\r\n")
    assert read_passphrase(f"file:{path}") == b"dos\r"


def test_at_most_1023_bytes_of_a_line_are_read(tmp_path: Path) -> None:
    path = tmp_path / "pw.txt"
    path.write_bytes(b"x" * 2000 + b"\n")
    assert read_passphrase(f"file:{path}") == b"x" * PASS_MAX


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(PassphraseError, match="Error reading pass phrase from file"):
        read_passphrase(f"file:{path}")


def test_an_empty_line_is_an_empty_pass_phrase(tmp_path: Path) -> None:
    path = tmp_path / "pw.txt"
    path.write_bytes(b"\nsecond\n")
    assert read_passphrase(f"file:{path}") == b""


def test_a_missing_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(PassphraseError, match=r"Can't open file .*nosuch"):
        read_passphrase(f"file:{tmp_path / 'nosuch'}")


def test_fd_reads_one_line_and_leaves_the_rest(pipe_fd: tuple[int, int]) -> None:
    read_end, write_end = pipe_fd
    os.write(write_end, b"from-fd\nrest")
    os.close(write_end)
    assert read_passphrase(f"fd:{read_end}") == b"from-fd"
    assert os.read(read_end, 100) == b"rest"


def test_fd_negative_is_an_error() -> None:
    with pytest.raises(PassphraseError, match="Can't access file descriptor -1"):
        read_passphrase("fd:-1")


def test_fd_that_is_not_open_is_an_error() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(PassphraseError, match="Error reading pass phrase from fd"):
        read_passphrase(f"fd:{read_end}")


def test_stdin_reads_one_line() -> None:
    assert read_passphrase("stdin", stdin=io.BytesIO(b"typed\nmore\n")) == b"typed"


def test_same_file_twice_gives_first_and_second_line(tmp_path: Path) -> None:
    path = tmp_path / "pw.txt"
    path.write_bytes(b"inpass\noutpass\n")
    source = f"file:{path}"
    assert read_passphrase_pair(source, source) == (b"inpass", b"outpass")


def test_same_fd_twice_gives_first_and_second_line(pipe_fd: tuple[int, int]) -> None:
    read_end, write_end = pipe_fd
    os.write(write_end, b"one\ntwo\n")
    os.close(write_end)
    source = f"fd:{read_end}"
    assert read_passphrase_pair(source, source) == (b"one", b"two")


def test_same_stdin_twice_gives_first_and_second_line() -> None:
    stdin = io.BytesIO(b"one\ntwo\n")
    assert read_passphrase_pair("stdin", "stdin", stdin=stdin) == (b"one", b"two")


def test_different_sources_of_a_pair_each_give_their_first_line(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_bytes(b"a1\na2\n")
    second.write_bytes(b"b1\nb2\n")
    assert read_passphrase_pair(f"file:{first}", f"file:{second}") == (b"a1", b"b1")
    assert read_passphrase_pair("pass:x", None) == (b"x", None)
    assert read_passphrase_pair("pass:x", "pass:x") == (b"x", b"x")


def test_a_second_line_missing_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "pw.txt"
    path.write_bytes(b"only\n")
    with pytest.raises(PassphraseError, match="Error reading pass phrase"):
        read_passphrase_pair(f"file:{path}", f"file:{path}")


@pytest.mark.parametrize("argument", ["12345", "fp:4", ":12345", "hunter2", "hunter2:x"])
def test_invalid_sources_are_errors_that_do_not_show_the_argument(argument: str) -> None:
    assert not is_source(argument)
    with pytest.raises(PassphraseError) as caught:
        read_passphrase(argument)
    assert argument not in str(caught.value)
    assert "expected pass:, env:, file:, fd: or stdin" in str(caught.value)


def test_cmp_takes_an_invalid_source_as_the_pass_phrase_with_a_warning() -> None:
    # OpenSSL's conformance row "keypass no prefix" expects -keypass 12345 to work.
    warnings: list[str] = []
    source = PassphraseSource("12345", "private key", warn=warnings.append)
    assert source.get() == b"12345"
    assert len(warnings) == 1
    assert "better precede it with 'pass:'" in warnings[0]
    assert "12345" not in warnings[0]


def test_cmp_takes_an_unreadable_source_as_the_pass_phrase(tmp_path: Path) -> None:
    spec = f"file:{tmp_path / 'nosuch'}"
    assert PassphraseSource(spec, "key").get() == spec.encode()


def test_the_plain_fallback_can_be_turned_off() -> None:
    source = PassphraseSource("12345", "private key", plain_fallback=False)
    with pytest.raises(PassphraseError, match="for private key"):
        source.get()


def test_batch_never_prompts() -> None:
    def prompt(description: str) -> bytes:
        raise AssertionError("prompted")

    source = PassphraseSource(None, "private key", batch=True, prompt=prompt)
    assert not source.given
    with pytest.raises(PassphraseError, match="-batch forbids prompting"):
        source.get()


def test_without_batch_a_missing_source_prompts() -> None:
    asked: list[str] = []

    def prompt(description: str) -> bytes:
        asked.append(description)
        return b"typed"

    source = PassphraseSource(None, "private key", prompt=prompt)
    assert source.get() == b"typed"
    assert source.get() == b"typed"
    assert asked == ["private key"]  # asked once, then kept


def test_a_source_is_read_once(pipe_fd: tuple[int, int]) -> None:
    read_end, write_end = pipe_fd
    os.write(write_end, b"first\nsecond\n")
    source = PassphraseSource(f"fd:{read_end}", "key")
    assert source.get() == b"first"
    assert source.get() == b"first"


def test_repr_never_shows_the_argument() -> None:
    assert "hunter2" not in repr(PassphraseSource("pass:hunter2", "key"))
