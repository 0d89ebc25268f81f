"""Message decoding: ``PKIMessage.from_der`` on mutated DER, then every
accessor (:func:`fuzz.python.messages.touch_message`); ``PKIMessage.decode``
(all at once) must agree with it.

Allowed: ``from_der`` raises :class:`cmp.DecodeError` or
:class:`cmp.LimitError`; accessors of raw DER raise :class:`cmp.CMPError`
subclasses. A finding: any other exception, or a message that ``from_der``
accepts but whose accessors fail, does not re-encode to its bytes, or
whose ProtectedPart is not the slice of its header and body, or that
``decode`` refuses or reads otherwise.
"""

from __future__ import annotations

from cmp import DecodeError, LimitError, PKIMessage
from fuzz.python.driver import FAILED, Seen, Target, check, expect
from fuzz.python.messages import mutate_message, seed_messages, touch_message


def run(data: bytes, seen: Seen[str]) -> None:
    msg = expect(seen, "from_der", (DecodeError, LimitError), PKIMessage.from_der, data)
    eager = expect(seen, "decode", (DecodeError, LimitError), PKIMessage.decode, data)
    if msg is FAILED:
        check(eager is FAILED, "decode accepts what from_der refuses")
        return
    seen["decoded"] += 1
    touch_message(msg, seen)  # reads every field: converting them all succeeded
    check(eager is not FAILED, "decode refuses what from_der accepts")
    if eager is not FAILED:
        same = (eager.body_type, eager.header, eager.body, eager.protection, eager.extra_certs)
        check(
            same == (msg.body_type, msg.header, msg.body, msg.protection, msg.extra_certs),
            "decode reads otherwise than from_der",
        )
        check(eager.protected_part() == msg.protected_part(), "decode slices another part")


def make_target() -> Target:
    return Target(
        name="message",
        doc="PKIMessage.from_der and every accessor",
        seeds=seed_messages,
        run=run,
        mutate=mutate_message,
    )
