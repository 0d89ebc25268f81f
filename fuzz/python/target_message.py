"""Message decoding: ``PKIMessage.from_der`` on mutated DER, then every
accessor (:func:`fuzz.python.messages.touch_message`).

Allowed: ``from_der`` raises :class:`cmp.DecodeError` or
:class:`cmp.LimitError`; accessors of raw DER raise :class:`cmp.CMPError`
subclasses. A finding: any other exception, or a message that ``from_der``
accepts but whose accessors fail, does not re-encode to its bytes, or
whose ProtectedPart is not the slice of its header and body.
"""

from __future__ import annotations

from cmp import DecodeError, LimitError, PKIMessage
from fuzz.python.driver import FAILED, Seen, Target, expect
from fuzz.python.messages import mutate_message, seed_messages, touch_message


def run(data: bytes, seen: Seen[str]) -> None:
    msg = expect(seen, "from_der", (DecodeError, LimitError), PKIMessage.from_der, data)
    if msg is FAILED:
        return
    seen["decoded"] += 1
    touch_message(msg, seen)


def make_target() -> Target:
    return Target(
        name="message",
        doc="PKIMessage.from_der and every accessor",
        seeds=seed_messages,
        run=run,
        mutate=mutate_message,
    )
