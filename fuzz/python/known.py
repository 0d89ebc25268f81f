"""Findings reported to the owners of the code they are in and not fixed
yet. The smoke test (tests/test_fuzz_python.py) and ``run.py
--allow-known`` tolerate them, so that CI stays green while they are open;
everything else fails. A fixed one is taken out of this list, and its
regression test in tests/test_fuzz_python.py stops being an expected
failure (they are ``xfail(strict=True)``: a fix makes them fail until
that is done).

Each entry matches a finding's signature (``run.py`` prints them) and,
where one signature could also stand for another bug, the input itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["KNOWN", "Known", "known_issue"]


@dataclass(frozen=True)
class Known:
    target: str
    pattern: str
    """A regular expression the finding's signature matches (``re.search``)."""
    owner: str
    what: str
    applies: Callable[[bytes], bool] | None = None
    """Whether the input is one of this issue's, where the signature alone
    could also stand for another bug."""


KNOWN: tuple[Known, ...] = ()


def known_issue(target: str, signature: str, data: bytes) -> Known | None:
    """The known issue a finding is, if any."""
    for known in KNOWN:
        if known.target != target or not re.search(known.pattern, signature):
            continue
        if known.applies is None or known.applies(data):
            return known
    return None
