"""Protection verification: ``cmp.protection.verify`` of mutated protected
messages, with a MAC secret and with trusted certificates.

Input: a selector byte, then the DER of a message (seeds/protection/ holds
messages of every body kind under PBM, PBMAC1 and EC, RSA, RSA-PSS, Ed25519
and Ed448 signatures). The selector picks

- bits 0-2: the certificate: the first of ``signer_candidates`` (0), a
  client certificate of the fuzzing PKI (1-5), the root (6), none (7);
- bits 3-4: the secret: the fuzz secret as bytes or as str, the seeds'
  secret, a wrong one;
- bit 5: ``ignore_keyusage``;
- bits 6-7: 1: ``max_iterations=1000``; 2-3: also protect the decoded message
  anew (PBM, PBMAC1, EC or Ed25519) and verify that: it must pass.

Allowed: ``from_der`` raises ``DecodeError``/``LimitError``;
``signer_candidates`` a ``CMPError``; ``verify`` :class:`cmp.ProtectionError`
only, as documented. A finding: any other exception, or a message protected
by cmpkit itself that does not verify.
"""

from __future__ import annotations

from pathlib import Path

from cmp import CMPError, DecodeError, LimitError, PKIMessage, ProtectionError, protection
from fuzz.python.driver import FAILED, SEEDS_DIR, Seen, Target, check, expect
from fuzz.python.messages import mutate_with_selector
from fuzz.python.pki import CLIENTS, REF, SECRET, SEED_SECRET, credential

_SECRETS: tuple[bytes | str, ...] = (SECRET, SECRET.decode(), SEED_SECRET, b"wrong secret")


def seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted(Path(SEEDS_DIR / "protection").glob("*.bin"))]


def _reprotect(msg: PKIMessage, how: int) -> PKIMessage:
    plain = PKIMessage(msg.header, msg.body, None, msg.extra_certs)
    if how == 0:
        return protection.protect_pbm(plain, SECRET, ref=REF, iterations=100)
    if how == 1:
        return protection.protect_pbmac1(plain, SECRET, ref=REF, iterations=1)
    cred = credential("client-ec" if how == 2 else "client-ed25519")
    return protection.protect_signature(plain, cred.key, cred.cert)


def run(data: bytes, seen: Seen[str]) -> None:
    if not data:
        return
    selector, der = data[0], data[1:]
    msg = expect(seen, "from_der", (DecodeError, LimitError), PKIMessage.from_der, der)
    if msg is FAILED:
        return
    which = selector & 7
    if which == 0:
        candidates = expect(seen, "signer_candidates", CMPError, protection.signer_candidates, msg)
        cert = candidates[0] if candidates is not FAILED and candidates else None
    elif which <= len(CLIENTS):
        cert = credential(CLIENTS[which - 1]).cert
    else:
        cert = credential("root").cert if which == 6 else None
    secret = _SECRETS[(selector >> 3) & 3]
    mode = selector >> 6
    result = expect(
        seen,
        "verify",
        ProtectionError,
        protection.verify,
        msg,
        secret=secret,
        cert=cert,
        ignore_keyusage=bool(selector & 0x20),
        **({"max_iterations": 1000} if mode == 1 else {}),
    )
    if result is not FAILED:
        seen["verified"] += 1
    if mode >= 2:
        how = which & 3
        again = expect(seen, "protect", ProtectionError, _reprotect, msg, how)
        if again is FAILED:
            return
        reread = PKIMessage.from_der(again.to_der())
        cert = credential("client-ec" if how == 2 else "client-ed25519").cert
        try:
            protection.verify(reread, secret=SECRET, cert=cert)
        except ProtectionError as e:
            check(False, f"a message cmpkit protected does not verify\n{e}")
        seen["reprotected"] += 1


def make_target() -> Target:
    return Target(
        name="protection",
        doc="protection.verify with secrets and certificates",
        seeds=seeds,
        run=run,
        mutate=mutate_with_selector,
    )
