"""Password-based MAC (RFC 4211 §4.4): cmpkit beside OpenSSL and a bare SHA-256 chain.

Run from anywhere: ``python benches/bench_pbm.py`` (``--quick`` for a short
smoke run). Every figure is measured in this run; see benches/README.md.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import hmac
import sys
from typing import Any, Callable

from _reference import (
    Report,
    Row,
    TimingPlan,
    Unavailable,
    X,
    describe_machine,
    libcrypto,
    try_measure,
)

ITERATIONS = (500, 100_000)
SALT_LEN = 16
OWF, MAC = "sha256", "hmac-sha1"
OWF_OID = "2.16.840.1.101.3.4.2.1"  # id-sha256
MAC_OID = "1.3.6.1.5.5.8.1.2"  # hMAC-SHA1 (RFC 2104 / RFC 3370), what PBM uses
SECRET = b"cmpkit bench secret"
DATA = bytes(i % 251 for i in range(1024))  # ~1 KB: a typical ProtectedPart

# Targets printed beside the figures (never asserted).
TARGET_VS_CHAIN = 1.15  # ours at most this many times the bare chain's time
TARGET_VS_OPENSSL = 1.5  # ours at least this many times faster than OpenSSL


def ours_pbm() -> Callable[..., bytes]:
    """The whole PBM, key derivation included, every call: the native
    ``pbm``. (``cmp._mac.password_based_mac`` keeps the derived key of a
    secret and salt, so timing it with one salt would time a table lookup.)"""
    try:
        from cmp import _native
    except ImportError as e:
        raise Unavailable(f"`from cmp import _native` failed ({e})") from e
    f = getattr(_native, "pbm", None)
    if f is None:
        raise Unavailable("cmp._native.pbm does not exist yet")

    def pbm(*args: Any, max_iterations: int) -> bytes:
        out: bytes = f(*args, 100, max_iterations)
        return out

    return pbm


def ours_chain() -> Callable[..., Any]:
    try:
        from cmp import _native
    except ImportError as e:
        raise Unavailable(f"`from cmp import _native` failed ({e})") from e
    f = getattr(_native, "sha256_chain", None)
    if f is None:
        raise Unavailable("cmp._native.sha256_chain does not exist yet")
    return f  # type: ignore[no-any-return]


def hashlib_pbm(salt: bytes, iterations: int) -> bytes:
    """RFC 4211 §4.4 spelt out with hashlib: a third opinion on the MAC."""
    key = hashlib.sha256(SECRET + salt).digest()
    for _ in range(iterations - 1):
        key = hashlib.sha256(key).digest()
    return hmac.new(key, DATA, hashlib.sha1).digest()


def bench_iterations(
    iterations: int,
    plan: TimingPlan,
    report: Report,
    summary: list[tuple[int, str, float | None, float | None]],
) -> None:
    label = f"{iterations:,} it, {len(DATA)} B"
    lib: Any | None = None
    pbmp: ctypes.c_void_p | None = None
    salt: bytes | None = None
    try:
        lib = libcrypto()
        pbmp, salt = lib.pbm_parameter(SALT_LEN, OWF_OID, iterations, MAC_OID)
    except Unavailable as e:
        report.note(f"OpenSSL: not available at {iterations} iterations ({e})")
        lib = None
    if salt is None:
        salt = bytes(range(SALT_LEN))

    try:
        openssl_fn: Callable[[], object] | None = None
        openssl_mac: bytes | None = None
        if lib is not None and pbmp is not None:
            try:
                openssl_mac = lib.pbm(pbmp, DATA, SECRET)
                openssl_fn = lib.pbm_fn(pbmp, DATA, SECRET)
                if openssl_mac != hashlib_pbm(salt, iterations):
                    report.note(f"OpenSSL differs from hashlib at {iterations} iterations")
            except Unavailable as e:
                report.note(f"OpenSSL: not available at {iterations} iterations ({e})")

        ours_fn: Callable[[], object] | None = None
        try:
            pbm = ours_pbm()
            ours_mac = pbm(SECRET, salt, iterations, OWF, MAC, DATA, max_iterations=iterations)

            def ours_fn() -> object:
                return pbm(SECRET, salt, iterations, OWF, MAC, DATA, max_iterations=iterations)

            check_outputs(iterations, salt, ours_mac, openssl_mac, report)
        except Unavailable as e:
            report.note(f"ours: not available ({e})")
            ours_fn = None
        except Exception as e:
            report.note(f"ours: not available at {iterations} iterations ({type(e).__name__}: {e})")
            ours_fn = None

        chain_fn: Callable[[], object] | None = None
        try:
            chain = ours_chain()
            seed = hashlib.sha256(SECRET + salt).digest()
            chain(iterations, seed)

            def chain_fn() -> object:
                return chain(iterations, seed)
        except Unavailable as e:
            report.note(f"bare chain: not available ({e})")
        except Exception as e:
            report.note(f"bare chain: not available ({type(e).__name__}: {e})")

        ours_us = try_measure(ours_fn, plan)
        openssl_us = try_measure(openssl_fn, plan)
        chain_us = try_measure(chain_fn, plan)
        report.add(
            Row("PBM sha256/hmac-sha1", label, ours_us, "OpenSSL OSSL_CRMF_pbm_new", openssl_us)
        )
        report.add(
            Row(
                "PBM sha256/hmac-sha1",
                label,
                ours_us,
                f"bare SHA-256 chain (n={iterations:,})",
                chain_us,
            )
        )
        summary.append((iterations, "openssl", ours_us, openssl_us))
        summary.append((iterations, "chain", ours_us, chain_us))
        if ours_us is not None:
            report.note(
                f"ours at {iterations:,} iterations: "
                f"{ours_us * 1000 / iterations:.1f} ns per iteration"
            )
        if chain_us is not None:
            report.note(
                f"bare chain at n={iterations:,}: "
                f"{chain_us * 1000 / iterations:.1f} ns per compression"
            )
        if openssl_us is not None:
            report.note(
                f"OpenSSL at {iterations:,} iterations: "
                f"{openssl_us * 1000 / iterations:.1f} ns per iteration"
            )
    finally:
        if lib is not None and pbmp is not None:
            lib.OSSL_CRMF_PBMPARAMETER_free(pbmp)


def check_outputs(
    iterations: int, salt: bytes, ours: bytes, openssl: bytes | None, report: Report
) -> None:
    """Print whether our MAC equals OpenSSL's (and hashlib's) for the same salt."""
    expected = hashlib_pbm(salt, iterations)
    who = []
    if openssl is not None:
        who.append(("OpenSSL", openssl))
    who.append(("hashlib", expected))
    same = [name for name, mac in who if mac == ours]
    diff = [name for name, mac in who if mac != ours]
    if not diff:
        print(
            f"{iterations:>7,} iterations, salt {salt.hex()}: outputs match "
            f"(ours = {' = '.join(same)}: {ours.hex()})"
        )
    else:
        print(
            f"{iterations:>7,} iterations, salt {salt.hex()}: outputs DIFFER: ours "
            f"{ours.hex()}, " + ", ".join(f"{n} {m.hex()}" for n, m in who)
        )
        report.note(f"ours differs from {', '.join(diff)} at {iterations} iterations")


def print_targets(summary: list[tuple[int, str, float | None, float | None]]) -> None:
    print("\ntargets (printed, not asserted):")
    for iterations, ref, ours_us, ref_us in summary:
        if ref == "chain":
            goal = f"ours within {TARGET_VS_CHAIN}{X} of the bare chain"
            if ours_us is None or ref_us is None:
                print(f"  {iterations:>7,} it  {goal}: n/a")
                continue
            factor = ours_us / ref_us
            verdict = "met" if factor <= TARGET_VS_CHAIN else "NOT met"
            print(f"  {iterations:>7,} it  {goal}: ours = {factor:.3f}{X} chain — {verdict}")
        else:
            goal = f"ours ≥ {TARGET_VS_OPENSSL}{X} faster than OpenSSL"
            if ours_us is None or ref_us is None:
                print(f"  {iterations:>7,} it  {goal}: n/a")
                continue
            speedup = ref_us / ours_us
            verdict = "met" if speedup >= TARGET_VS_OPENSSL else "NOT met"
            print(f"  {iterations:>7,} it  {goal}: {speedup:.2f}{X} — {verdict}")


def run(quick: bool) -> int:
    plan = TimingPlan.for_mode(quick)
    print(f"cmpkit PBM benchmark{' (quick)' if quick else ''}: {describe_machine()}")
    print(
        f"timing: median of {plan.rounds} rounds of ~{plan.round_seconds * 1000:.0f} ms "
        f"after ~{plan.warmup_seconds * 1000:.0f} ms warm-up"
    )
    print(
        f"PBM: owf {OWF}, mac {MAC}, {SALT_LEN}-byte salt (drawn by OSSL_CRMF_pbmp_new), "
        f"{len(SECRET)}-byte secret, {len(DATA)}-byte message"
    )
    report = Report("PBM (µs per MAC; ratio = reference/ours, > 1 means cmpkit is faster)")
    summary: list[tuple[int, str, float | None, float | None]] = []
    for iterations in ITERATIONS:
        bench_iterations(iterations, plan, report, summary)
    report.print()
    print_targets(summary)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short smoke run (less precise)")
    args = p.parse_args(argv)
    return run(args.quick)


if __name__ == "__main__":
    sys.exit(main())
