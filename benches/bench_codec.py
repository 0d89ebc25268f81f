"""Decode and encode of CMP messages: cmpkit beside pyasn1 and OpenSSL.

Run from anywhere: ``python benches/bench_codec.py`` (``--quick`` for a short
smoke run). Every figure is measured in this run; see benches/README.md for
what each row means.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any, Callable

from _reference import (
    Message,
    Report,
    Row,
    TimingPlan,
    Unavailable,
    X,
    describe_machine,
    libcrypto,
    load_messages,
    measure_us,
    pyasn1_cmp,
    try_measure,
)

# Targets printed beside the figures (never asserted).
TARGET_VS_PYASN1 = 300.0  # decode+encode at least this many times faster
TARGET_VS_OPENSSL = 1.0  # decode+encode faster than d2i+i2d

# The operations, in table order: (key, label).
DECODE_ENCODE = "decode+encode"
DECODE_READ = "decode+read header,body"
REBUILD = "decode+rebuild+encode"
OPERATIONS = (DECODE_ENCODE, DECODE_READ, REBUILD)


@dataclass
class Ops:
    """Closures to time per operation; None where the party cannot do it."""

    name: str
    fns: dict[str, Callable[[], object] | None]
    label: dict[str, str]  # what the party does for each operation


def _size(out: object) -> str:
    return str(len(out)) if isinstance(out, (bytes, bytearray)) else type(out).__name__


# --------------------------------------------------------------------------
# ours


def ours_pkimessage() -> Any:
    try:
        import cmp
    except ImportError as e:
        raise Unavailable(f"`import cmp` failed ({e}); run `maturin develop --release`") from e
    cls = getattr(cmp, "PKIMessage", None)
    if cls is None:
        raise Unavailable("cmp.PKIMessage does not exist yet")
    return cls


def ours_ops(msg: Message, report: Report) -> Ops:
    assert msg.der is not None
    der = msg.der
    fns: dict[str, Callable[[], object] | None] = dict.fromkeys(OPERATIONS)
    try:
        PKIMessage = ours_pkimessage()
    except Unavailable as e:
        report.note(f"ours: not available ({e})")
        return Ops("ours", fns, {})
    from_der = PKIMessage.from_der

    def decode_encode() -> object:
        return from_der(der).to_der()

    def decode_read() -> object:
        m = from_der(der)
        return m.header, m.body

    def rebuild() -> object:
        m = from_der(der)
        return PKIMessage(
            header=m.header, body=m.body, protection=m.protection, extra_certs=m.extra_certs
        ).to_der()

    for op, fn in ((DECODE_ENCODE, decode_encode), (DECODE_READ, decode_read), (REBUILD, rebuild)):
        try:
            out = fn()
        except Exception as e:
            report.note(f"ours: not available for {op} of {msg.name} ({type(e).__name__}: {e})")
            continue
        if op != DECODE_READ and out != der:
            report.note(
                f"ours: {op} of {msg.name} does not give back the input bytes "
                f"({_size(out)} vs {len(der)} bytes)"
            )
        fns[op] = fn
    return Ops("ours", fns, {})


# --------------------------------------------------------------------------
# the references


def pyasn1_ops(msg: Message, report: Report) -> Ops:
    assert msg.der is not None
    der = msg.der
    fns: dict[str, Callable[[], object] | None] = dict.fromkeys(OPERATIONS)
    try:
        modname, PKIMessage, decoder, encoder = pyasn1_cmp()
    except Unavailable as e:
        report.note(f"pyasn1: not available ({e})")
        return Ops("pyasn1", fns, {})
    spec = PKIMessage()  # made once: decode() clones it, so reuse is fair
    decode, encode = decoder.decode, encoder.encode

    def decode_encode() -> object:
        return encode(decode(der, asn1Spec=spec)[0])

    def decode_only() -> object:
        return decode(der, asn1Spec=spec)[0]

    try:
        out = decode_encode()
    except Exception as e:
        report.note(f"pyasn1: cannot decode {msg.name} ({type(e).__name__}: {e})")
        return Ops("pyasn1", fns, {})
    if out != der:
        report.note(
            f"pyasn1: re-encoding {msg.name} does not give back the input "
            f"({_size(out)} vs {len(der)} bytes)"
        )
    # pyasn1 always builds every value, so decode+encode is also its rebuild.
    fns[DECODE_ENCODE] = fns[REBUILD] = decode_encode
    fns[DECODE_READ] = decode_only
    label = {
        DECODE_ENCODE: "pyasn1 decode+encode",
        REBUILD: "pyasn1 decode+encode",
        DECODE_READ: "pyasn1 decode",
    }
    report.note(f"pyasn1: {modname}.PKIMessage with pyasn1.codec.der")
    return Ops("pyasn1-alt-modules", fns, label)


def openssl_ops(msg: Message, report: Report) -> Ops:
    assert msg.der is not None
    der = msg.der
    fns: dict[str, Callable[[], object] | None] = dict.fromkeys(OPERATIONS)
    try:
        lib = libcrypto()
        out = lib.cmp_msg_roundtrip(der)
    except Unavailable as e:
        report.note(f"OpenSSL: not available for {msg.name} ({e})")
        return Ops("OpenSSL", fns, {})
    if out != der:
        report.note(
            f"OpenSSL: i2d of {msg.name} does not give back the input "
            f"({_size(out)} vs {len(der)} bytes)"
        )
    # d2i builds every field, so d2i+i2d is also OpenSSL's rebuild.
    fns[DECODE_ENCODE] = fns[REBUILD] = lib.cmp_decode_encode_fn(der)
    fns[DECODE_READ] = lib.cmp_decode_fn(der)
    label = {
        DECODE_ENCODE: "OpenSSL d2i+i2d",
        REBUILD: "OpenSSL d2i+i2d",
        DECODE_READ: "OpenSSL d2i",
    }
    return Ops("OpenSSL", fns, label)


# --------------------------------------------------------------------------


def run(quick: bool) -> int:
    plan = TimingPlan.for_mode(quick)
    print(f"cmpkit codec benchmark{' (quick)' if quick else ''}: {describe_machine()}")
    print(
        f"timing: median of {plan.rounds} rounds of ~{plan.round_seconds * 1000:.0f} ms "
        f"after ~{plan.warmup_seconds * 1000:.0f} ms warm-up"
    )
    report = Report(
        "decode/encode of CMP messages (µs per message; ratio = reference/ours, "
        "> 1 means cmpkit is faster)"
    )
    messages = load_messages()
    for m in messages:
        size = f"{len(m.der)} bytes" if m.der is not None else "-"
        print(f"message {m.name}: {size}, {m.source}")
        if m.der is None:
            report.note(f"{m.name}: {m.source}")

    summary: list[tuple[str, str, float | None]] = []  # (message, reference, ratio)
    # A reference closure serving two operations is timed once (it is kept in
    # the dict beside its figure, so its id cannot be reused meanwhile).
    timed: dict[int, tuple[Callable[[], object], float]] = {}

    def time_once(fn: Callable[[], object] | None) -> float | None:
        if fn is None:
            return None
        if id(fn) not in timed:
            timed[id(fn)] = (fn, measure_us(fn, plan))
        return timed[id(fn)][1]

    for m in messages:
        if m.der is None:
            continue
        ours = ours_ops(m, report)
        refs = [pyasn1_ops(m, report), openssl_ops(m, report)]
        for op in OPERATIONS:
            ours_us = try_measure(ours.fns[op], plan)
            for ref in refs:
                ref_us = time_once(ref.fns[op])
                row = Row(
                    op, f"{m.name} ({len(m.der)} B)", ours_us, ref.label.get(op, ref.name), ref_us
                )
                report.add(row)
                if op == DECODE_ENCODE:
                    summary.append((m.name, ref.name, row.ratio))

    try:
        lib = libcrypto()
        call_us = lib.ctypes_call_us(plan)
        report.note(
            f"OpenSSL figures include Python→C ctypes overhead of ~{call_us:.2f} µs "
            f"per call (a no-op CRYPTO_free(NULL) measured in this run): 4 calls "
            f"(d2i, i2d, OPENSSL_free, OSSL_CMP_MSG_free) ≈ {4 * call_us:.2f} µs per "
            f"d2i+i2d, 2 calls per d2i"
        )
    except Unavailable:
        call_us = None

    report.print()
    print_targets(summary, report, call_us)
    return 0


def print_targets(
    summary: list[tuple[str, str, float | None]], report: Report, call_us: float | None
) -> None:
    print("\ntargets (decode+encode; printed, not asserted):")
    ours_us = {r.message.split()[0]: r.ours_us for r in report.rows if r.operation == DECODE_ENCODE}
    ref_us = {
        (r.message.split()[0], r.reference): r.reference_us
        for r in report.rows
        if r.operation == DECODE_ENCODE
    }
    for msg, ref, ratio in summary:
        if ref.startswith("pyasn1"):
            goal, want = f"≥ {TARGET_VS_PYASN1:.0f}{X} pyasn1-alt-modules", TARGET_VS_PYASN1
        else:
            goal, want = "faster than OpenSSL d2i+i2d", TARGET_VS_OPENSSL
        if ratio is None:
            print(f"  {msg:9} {goal}: n/a")
            continue
        verdict = "met" if ratio >= want else "NOT met"
        extra = ""
        if ref == "OpenSSL" and call_us is not None:
            o, r = ours_us.get(msg), ref_us.get((msg, "OpenSSL d2i+i2d"))
            if o and r:
                extra = f" (without ctypes overhead: {(r - 4 * call_us) / o:.2f}{X})"
        print(f"  {msg:9} {goal}: {ratio:,.2f}{X} — {verdict}{extra}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short smoke run (less precise)")
    args = p.parse_args(argv)
    return run(args.quick)


if __name__ == "__main__":
    sys.exit(main())
