"""Fresh nonces and transaction IDs (cmp.headers): 128 random bits each
(RFC 9810 §5.1.1), never repeated, also not by a forked child."""

from __future__ import annotations

import os

import pytest

from cmp.headers import NONCE_LENGTH, new_nonce, new_transaction_id, random_bytes


def test_nonces_and_transaction_ids_are_128_bits_and_never_repeat() -> None:
    seen = {new_nonce() for _ in range(5000)} | {new_transaction_id() for _ in range(5000)}
    assert len(seen) == 10000
    assert {len(v) for v in seen} == {NONCE_LENGTH} == {16}


def test_random_bytes_of_any_length_even_beyond_the_buffer() -> None:
    assert len(random_bytes(1)) == 1
    big = random_bytes(10000)
    assert len(big) == 10000 and len(set(big)) > 200


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_does_not_repeat_its_parents_bytes() -> None:
    random_bytes(16)  # the parent's buffer holds unused bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next nonce, then leave at once
        os.write(write, new_nonce())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 16
    assert new_nonce() != child
