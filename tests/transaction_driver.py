"""A tiny HTTP loop that drives a :class:`cmp.transaction.Transaction` in tests.

The real transport is ``cmp.transport``; this stays minimal on purpose so that
the transaction tests depend on nothing but httpx and the state machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from cmp.message import PKIMessage
from cmp.transaction import Done, Send, Transaction, TransactionResult, Wait

Tamper = Callable[[PKIMessage, bytes], bytes]
"""Changes a response (given the request it answers) before the transaction sees it."""


@dataclass
class Driven:
    """What :func:`drive` saw: the result and every Wait it was asked for."""

    result: TransactionResult
    waits: list[float] = field(default_factory=list)


def post(url: str, message: PKIMessage) -> bytes:
    """POST one CMP message and return the response body.

    ``Connection: close``: the OpenSSL 3.0 mock server (``-port``) loses the
    transaction when the next message of it arrives on a kept-alive HTTP/1.1
    connection (it answers certConf with "unexpected pkibody").
    """
    response = httpx.post(
        url,
        content=message.to_der(),
        headers={"Content-Type": "application/pkixcmp", "Connection": "close"},
        timeout=30,
    )
    response.raise_for_status()
    return response.content


def drive(
    tx: Transaction,
    url: str,
    *,
    tamper: Tamper | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Driven:
    """Run ``tx`` against the server at ``url`` to its end.

    Waits are recorded and passed to ``sleep`` (default: no sleeping at all,
    the OpenSSL mock server does not hold clients to checkAfter).
    """
    waits: list[float] = []
    event: Send | Wait | Done = tx.start()
    while not isinstance(event, Done):
        if isinstance(event, Wait):
            waits.append(event.seconds)
            if sleep is not None:
                sleep(event.seconds)
        data = post(url, event.message)
        if tamper is not None:
            data = tamper(event.message, data)
        event = tx.receive(data)
    return Driven(event.result, waits)
