"""Shared helpers of the benchmarks: timing, the result table, and the peers.

The peers are measured in the same run as cmpkit, so that a ratio never
compares figures taken on different machines or at different times:

- OpenSSL's libcrypto (``libcrypto.so.3``) called through :mod:`ctypes`;
- pyasn1 with pyasn1-alt-modules (the pure-Python ASN.1 stack most Python
  CMP code uses today).

Nothing here imports ``cmp``: each peer can be measured before the package
is built.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

X = "\u00d7"  # the multiplication sign of the ratios

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"
PROTECT_DATA = SHARED_DIR / "conformance" / "openssl" / "vectors" / "protect_data"


class Unavailable(Exception):
    """A peer (or our own API) cannot be measured in this run; says why."""


# --------------------------------------------------------------------------
# Timing


@dataclass(frozen=True)
class TimingPlan:
    """How long and how often to measure one operation."""

    round_seconds: float  # target duration of one round
    rounds: int  # the median of this many rounds is reported
    warmup_seconds: float  # calls made (and discarded) before the first round

    @classmethod
    def for_mode(cls, quick: bool) -> TimingPlan:
        if quick:
            return cls(round_seconds=0.02, rounds=3, warmup_seconds=0.01)
        return cls(round_seconds=0.2, rounds=7, warmup_seconds=0.1)


def measure_us(fn: Callable[[], object], plan: TimingPlan) -> float:
    """Median time of one call of ``fn`` in microseconds.

    ``fn`` is first called repeatedly for ``plan.warmup_seconds`` (caches,
    allocator, lazily loaded providers), which also calibrates how many calls
    make one round of about ``plan.round_seconds``; the figure is the median
    over ``plan.rounds`` rounds of (round time / calls).
    """
    perf = time.perf_counter
    calls = 0
    start = perf()
    while True:
        fn()
        calls += 1
        elapsed = perf() - start
        if elapsed >= plan.warmup_seconds:
            break
    per_call = elapsed / calls
    number = max(1, int(plan.round_seconds / per_call))
    loop = range(number)
    samples = []
    for _ in range(plan.rounds):
        t0 = perf()
        for _ in loop:
            fn()
        samples.append((perf() - t0) / number)
    return statistics.median(samples) * 1e6


# --------------------------------------------------------------------------
# The result table


@dataclass
class Row:
    operation: str
    message: str
    ours_us: float | None
    reference: str
    reference_us: float | None

    @property
    def ratio(self) -> float | None:
        """reference / ours: how many times faster we are (< 1: slower)."""
        if self.ours_us is None or self.reference_us is None or self.ours_us <= 0:
            return None
        return self.reference_us / self.ours_us


@dataclass
class Report:
    """Rows of ours-vs-reference figures plus the notes that explain them."""

    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def print(self, file: Any = None) -> None:
        out = file or sys.stdout
        header = (
            "operation",
            "message",
            "ours (µs/op)",
            "reference",
            "reference (µs/op)",
            "ratio (ref/ours)",
        )
        cells = [header] + [
            (
                r.operation,
                r.message,
                _fmt_us(r.ours_us),
                r.reference,
                _fmt_us(r.reference_us),
                _fmt_ratio(r.ratio),
            )
            for r in self.rows
        ]
        widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
        right = {2, 4, 5}

        def line(c: tuple[str, ...]) -> str:
            parts = [
                c[i].rjust(widths[i]) if i in right else c[i].ljust(widths[i])
                for i in range(len(c))
            ]
            return "| " + " | ".join(parts) + " |"

        print(f"\n{self.title}\n", file=out)
        print(line(header), file=out)
        print(
            "|"
            + "|".join(
                ("-" * (w + 1) + ":") if i in right else ("-" * (w + 2))
                for i, w in enumerate(widths)
            )
            + "|",
            file=out,
        )
        for c in cells[1:]:
            print(line(c), file=out)
        if self.notes:
            print(file=out)
            for n in self.notes:
                print(f"- {n}", file=out)
        out.flush()


def _fmt_us(v: float | None) -> str:
    if v is None:
        return "n/a"
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _fmt_ratio(v: float | None) -> str:
    if v is None:
        return "n/a"
    if v >= 100:
        return f"{v:,.0f}{X}"
    return f"{v:.2f}{X}"


def try_measure(fn: Callable[[], object] | None, plan: TimingPlan) -> float | None:
    return None if fn is None else measure_us(fn, plan)


def describe_machine() -> str:
    """One line saying what ran the benchmark."""
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"Python {sys.version.split()[0]} | {cpu or 'unknown CPU'} | "
        f"{os.cpu_count()} CPUs | {openssl_version()}"
    )


# --------------------------------------------------------------------------
# OpenSSL's libcrypto through ctypes

_c_ubyte_pp = ctypes.POINTER(ctypes.c_void_p)  # unsigned char ** (as void **)


class LibCrypto:
    """The few libcrypto functions the benchmarks call, with exact prototypes."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("crypto")
        if name is None:
            raise Unavailable("libcrypto not found by ctypes.util.find_library('crypto')")
        try:
            lib = ctypes.CDLL(name)
        except OSError as e:
            raise Unavailable(f"cannot load {name}: {e}") from e
        self.name = name
        self.lib = lib
        vp, c_int, c_long, c_size_t, c_char_p = (
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_long,
            ctypes.c_size_t,
            ctypes.c_char_p,
        )

        def bind(fname: str, restype: Any, argtypes: list[Any]) -> Any:
            try:
                f = getattr(lib, fname)
            except AttributeError as e:
                raise Unavailable(f"{name} has no {fname} (OpenSSL < 3.0?)") from e
            f.restype = restype
            f.argtypes = argtypes
            return f

        self.OpenSSL_version = bind("OpenSSL_version", c_char_p, [c_int])
        # void CRYPTO_free(void *ptr, const char *file, int line)  (OPENSSL_free)
        self.CRYPTO_free = bind("CRYPTO_free", None, [vp, c_char_p, c_int])
        self.ERR_get_error = bind("ERR_get_error", ctypes.c_ulong, [])
        self.ERR_error_string_n = bind(
            "ERR_error_string_n", None, [ctypes.c_ulong, c_char_p, c_size_t]
        )
        self.ERR_clear_error = bind("ERR_clear_error", None, [])
        self.OBJ_txt2nid = bind("OBJ_txt2nid", c_int, [c_char_p])
        # OSSL_CMP_MSG *d2i_OSSL_CMP_MSG(OSSL_CMP_MSG **a, const unsigned char **pp, long len)
        self.d2i_OSSL_CMP_MSG = bind("d2i_OSSL_CMP_MSG", vp, [vp, _c_ubyte_pp, c_long])
        # int i2d_OSSL_CMP_MSG(const OSSL_CMP_MSG *a, unsigned char **pp)
        self.i2d_OSSL_CMP_MSG = bind("i2d_OSSL_CMP_MSG", c_int, [vp, _c_ubyte_pp])
        self.OSSL_CMP_MSG_free = bind("OSSL_CMP_MSG_free", None, [vp])
        # OSSL_CRMF_PBMPARAMETER *OSSL_CRMF_pbmp_new(OSSL_LIB_CTX *libctx, size_t slen,
        #                                            int owfnid, size_t itercnt, int macnid)
        self.OSSL_CRMF_pbmp_new = bind(
            "OSSL_CRMF_pbmp_new", vp, [vp, c_size_t, c_int, c_size_t, c_int]
        )
        # int OSSL_CRMF_pbm_new(OSSL_LIB_CTX *libctx, const char *propq,
        #                       const OSSL_CRMF_PBMPARAMETER *pbmp,
        #                       const unsigned char *msg, size_t msglen,
        #                       const unsigned char *sec, size_t seclen,
        #                       unsigned char **mac, size_t *maclen)
        self.OSSL_CRMF_pbm_new = bind(
            "OSSL_CRMF_pbm_new",
            c_int,
            [
                vp,
                c_char_p,
                vp,
                c_char_p,
                c_size_t,
                c_char_p,
                c_size_t,
                _c_ubyte_pp,
                ctypes.POINTER(c_size_t),
            ],
        )
        self.OSSL_CRMF_PBMPARAMETER_free = bind("OSSL_CRMF_PBMPARAMETER_free", None, [vp])
        self.i2d_OSSL_CRMF_PBMPARAMETER = bind(
            "i2d_OSSL_CRMF_PBMPARAMETER", c_int, [vp, _c_ubyte_pp]
        )

    # -- helpers -----------------------------------------------------------

    def version(self) -> str:
        v = self.OpenSSL_version(0)  # OPENSSL_VERSION
        return v.decode() if v else "OpenSSL (unknown version)"

    def last_error(self) -> str:
        code = self.ERR_get_error()
        if not code:
            return "no error queued"
        buf = ctypes.create_string_buffer(256)
        self.ERR_error_string_n(code, buf, len(buf))
        self.ERR_clear_error()
        return buf.value.decode(errors="replace")

    def nid(self, text: str) -> int:
        n = int(self.OBJ_txt2nid(text.encode()))
        if n == 0:
            raise Unavailable(f"OBJ_txt2nid({text!r}) is NID_undef")
        return n

    def _take(self, ptr: ctypes.c_void_p, length: int) -> bytes:
        """Copy ``length`` bytes from an OpenSSL allocation, then free it."""
        try:
            return ctypes.string_at(ptr, length)
        finally:
            self.CRYPTO_free(ptr, None, 0)

    # -- CMP messages ------------------------------------------------------

    def cmp_msg_roundtrip(self, der: bytes) -> bytes:
        """d2i then i2d once, checked, returning OpenSSL's re-encoding."""
        buf = ctypes.create_string_buffer(der, len(der))
        inp = ctypes.c_void_p(ctypes.addressof(buf))
        msg = self.d2i_OSSL_CMP_MSG(None, ctypes.byref(inp), len(der))
        if not msg:
            raise Unavailable(f"d2i_OSSL_CMP_MSG failed: {self.last_error()}")
        try:
            out = ctypes.c_void_p(None)
            n = self.i2d_OSSL_CMP_MSG(msg, ctypes.byref(out))
            if n <= 0:
                raise Unavailable(f"i2d_OSSL_CMP_MSG failed: {self.last_error()}")
            return self._take(out, n)
        finally:
            self.OSSL_CMP_MSG_free(msg)

    def cmp_decode_encode_fn(self, der: bytes) -> Callable[[], object]:
        """A closure doing d2i + i2d (OpenSSL allocates) + OPENSSL_free + MSG_free."""
        buf = ctypes.create_string_buffer(der, len(der))
        addr = ctypes.addressof(buf)
        length = len(der)
        d2i, i2d = self.d2i_OSSL_CMP_MSG, self.i2d_OSSL_CMP_MSG
        msg_free, crypto_free = self.OSSL_CMP_MSG_free, self.CRYPTO_free
        c_void_p, byref = ctypes.c_void_p, ctypes.byref

        def run() -> object:
            inp = c_void_p(addr)
            msg = d2i(None, byref(inp), length)
            out = c_void_p(None)
            i2d(msg, byref(out))
            crypto_free(out, None, 0)
            msg_free(msg)
            return buf  # keeps the input buffer alive with the closure

        return run

    def cmp_decode_fn(self, der: bytes) -> Callable[[], object]:
        """A closure doing d2i + MSG_free: OpenSSL's decode builds every field."""
        buf = ctypes.create_string_buffer(der, len(der))
        addr = ctypes.addressof(buf)
        length = len(der)
        d2i, msg_free = self.d2i_OSSL_CMP_MSG, self.OSSL_CMP_MSG_free
        c_void_p, byref = ctypes.c_void_p, ctypes.byref

        def run() -> object:
            inp = c_void_p(addr)
            msg_free(d2i(None, byref(inp), length))
            return buf

        return run

    def ctypes_call_us(self, plan: TimingPlan) -> float:
        """The cost of one ctypes call into libcrypto that does nothing.

        ``CRYPTO_free(NULL, NULL, 0)`` is a no-op in C, so this is the
        Python → C call overhead that each libcrypto call in the reference
        figures carries.
        """
        f = self.CRYPTO_free
        return measure_us(lambda: f(None, None, 0), plan)

    # -- PBM (RFC 4211 section 4.4) ---------------------------------------

    def pbm_parameter(
        self, salt_len: int, owf: str, iterations: int, mac: str
    ) -> tuple[ctypes.c_void_p, bytes]:
        """OSSL_CRMF_pbmp_new with a fresh random salt; returns it and its salt.

        OpenSSL draws the salt itself: it is read back from the DER of the
        parameter (``PBMParameter ::= SEQUENCE { salt OCTET STRING, ... }``)
        so that our MAC can be computed over the same salt and compared.
        """
        p = self.OSSL_CRMF_pbmp_new(None, salt_len, self.nid(owf), iterations, self.nid(mac))
        if not p:
            raise Unavailable(f"OSSL_CRMF_pbmp_new failed: {self.last_error()}")
        pbmp = ctypes.c_void_p(p)
        out = ctypes.c_void_p(None)
        n = self.i2d_OSSL_CRMF_PBMPARAMETER(pbmp, ctypes.byref(out))
        if n <= 0:
            self.OSSL_CRMF_PBMPARAMETER_free(pbmp)
            raise Unavailable(f"i2d_OSSL_CRMF_PBMPARAMETER failed: {self.last_error()}")
        der = self._take(out, n)
        seq_tag, seq_body, _ = read_tlv(der, 0)
        salt_tag, salt, _ = read_tlv(seq_body, 0)
        if seq_tag != 0x30 or salt_tag != 0x04 or len(salt) != salt_len:
            self.OSSL_CRMF_PBMPARAMETER_free(pbmp)
            raise Unavailable(f"unexpected PBMParameter DER from OpenSSL: {der.hex()}")
        return pbmp, salt

    def pbm(self, pbmp: ctypes.c_void_p, msg: bytes, secret: bytes) -> bytes:
        """One OSSL_CRMF_pbm_new, checked, returning the MAC."""
        out = ctypes.c_void_p(None)
        outlen = ctypes.c_size_t(0)
        ok = self.OSSL_CRMF_pbm_new(
            None,
            None,
            pbmp,
            msg,
            len(msg),
            secret,
            len(secret),
            ctypes.byref(out),
            ctypes.byref(outlen),
        )
        if ok != 1 or not out.value:
            raise Unavailable(f"OSSL_CRMF_pbm_new failed: {self.last_error()}")
        return self._take(out, outlen.value)

    def pbm_fn(self, pbmp: ctypes.c_void_p, msg: bytes, secret: bytes) -> Callable[[], object]:
        """A closure doing OSSL_CRMF_pbm_new + OPENSSL_free of the MAC."""
        f, crypto_free = self.OSSL_CRMF_pbm_new, self.CRYPTO_free
        c_void_p, c_size_t, byref = ctypes.c_void_p, ctypes.c_size_t, ctypes.byref
        msglen, seclen = len(msg), len(secret)

        def run() -> object:
            out = c_void_p(None)
            outlen = c_size_t(0)
            f(None, None, pbmp, msg, msglen, secret, seclen, byref(out), byref(outlen))
            crypto_free(out, None, 0)
            return None

        return run


def read_tlv(der: bytes, pos: int) -> tuple[int, bytes, int]:
    """One DER TLV at ``pos``: (tag byte, contents, position after it)."""
    tag = der[pos]
    length = der[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(der[pos : pos + n], "big")
        pos += n
    return tag, der[pos : pos + length], pos + length


_libcrypto: LibCrypto | None = None
_libcrypto_error: Unavailable | None = None


def libcrypto() -> LibCrypto:
    """The process-wide LibCrypto, or Unavailable saying why not."""
    global _libcrypto, _libcrypto_error
    if _libcrypto is None and _libcrypto_error is None:
        try:
            _libcrypto = LibCrypto()
        except Unavailable as e:
            _libcrypto_error = e
    if _libcrypto is None:
        assert _libcrypto_error is not None
        raise _libcrypto_error
    return _libcrypto


def openssl_version() -> str:
    try:
        return libcrypto().version()
    except Unavailable as e:
        return f"libcrypto: {e}"


# --------------------------------------------------------------------------
# pyasn1 with pyasn1-alt-modules

# Newest CMP module first: RFC 9810 obsoletes RFC 4210 and updates RFC 9480.
_PYASN1_CMP_MODULES = ("rfc9810", "rfc9480", "rfc4210")


def pyasn1_cmp() -> tuple[str, Any, Any, Any]:
    """(module name, PKIMessage class, DER decoder, DER encoder) of pyasn1."""
    try:
        from pyasn1.codec.der import decoder, encoder
    except ImportError as e:
        raise Unavailable(f"pyasn1 not installed ({e}); pip install pyasn1") from e
    for name in _PYASN1_CMP_MODULES:
        try:
            mod = importlib.import_module(f"pyasn1_alt_modules.{name}")
        except ImportError:
            continue
        spec = getattr(mod, "PKIMessage", None)
        if spec is not None:
            return f"pyasn1_alt_modules.{name}", spec, decoder, encoder
    raise Unavailable(
        "pyasn1-alt-modules with a CMP module not installed; pip install pyasn1-alt-modules"
    )


# --------------------------------------------------------------------------
# CMP messages to measure


@dataclass
class Message:
    name: str
    der: bytes | None
    source: str  # where it came from, or why it is missing


def conformance_vector(name: str, filename: str) -> Message:
    path = PROTECT_DATA / filename
    if not SHARED_DIR.is_dir():
        return Message(name, None, f"skipped: {SHARED_DIR} is absent")
    try:
        return Message(name, path.read_bytes(), str(path.relative_to(SHARED_DIR.parent)))
    except OSError as e:
        return Message(name, None, f"skipped: cannot read {path}: {e}")


def capture_exchange() -> tuple[dict[str, bytes], str]:
    """The ir, ip, certConf and pkiconf of one ``openssl cmp -use_mock_srv`` run.

    Returns (messages by name, where they came from). Uses the test suite's
    ``tests/openssl_harness.capture_openssl_messages`` when it is there and
    works, otherwise runs ``openssl cmp`` itself; raises Unavailable when
    neither can.
    """
    why = "tests/openssl_harness.py absent"
    try:
        msgs = _capture_with_test_harness()
        if msgs:
            return msgs, "tests/openssl_harness.capture_openssl_messages"
        if (REPO_ROOT / "tests" / "openssl_harness.py").is_file():
            why = "the test harness gave no certConf/pkiconf"
    except Exception as e:
        why = f"the test harness failed: {type(e).__name__}: {e}"
    source = f"openssl cmp -use_mock_srv, captured at bench start ({why})"
    return _capture_with_openssl_cli(), source


def _capture_with_test_harness() -> dict[str, bytes] | None:
    """certConf and pkiconf (PBM-protected) from ``tests/openssl_harness.py``."""
    tests_dir = REPO_ROOT / "tests"
    if not (tests_dir / "openssl_harness.py").is_file():
        return None
    sys.path.insert(0, str(tests_dir))
    try:
        harness = importlib.import_module("openssl_harness")
    finally:
        sys.path.remove(str(tests_dir))
    with tempfile.TemporaryDirectory(prefix="cmpkit-bench-") as tmp:
        # make_pki(dir) -> Pki; capture_openssl_messages(pki, workdir, protection)
        # -> {PKIBody name: [DER, ...]}, the first of each kind the plainest.
        pki = harness.make_pki(Path(tmp) / "pki")
        result = harness.capture_openssl_messages(pki, Path(tmp) / "capture", "pbm")
    out: dict[str, bytes] = {}
    for kind, blobs in result.items():
        if blobs and isinstance(blobs[0], (bytes, bytearray)):
            out[str(kind).lower()] = bytes(blobs[0])
    return out if {"certconf", "pkiconf"} <= out.keys() else None


def _capture_with_openssl_cli() -> dict[str, bytes]:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise Unavailable("no `openssl` on PATH to capture certConf/pkiconf")
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError as e:
        raise Unavailable(f"`cryptography` is needed to make a throwaway key: {e}") from e
    import datetime

    with tempfile.TemporaryDirectory(prefix="cmpkit-bench-") as tmp:
        d = Path(tmp)
        # The key to certify, and the certificate the mock server hands back
        # (-rsp_cert); both are throwaway, self-signed.
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cmpkit bench")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        (d / "key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        args = [
            openssl,
            "cmp",
            "-config",
            "",
            "-cmd",
            "ir",
            "-use_mock_srv",
            # Throwaway PBM credentials on both sides (no server certificate needed).
            "-secret",
            "pass:x",
            "-ref",
            "1",
            "-srv_secret",
            "pass:x",
            "-srv_ref",
            "1",
            "-rsp_cert",
            "cert.pem",
            "-newkey",
            "key.pem",
            "-subject",
            "/CN=cmpkit bench",
            "-reqout",
            "ir.der,certconf.der",
            "-rspout",
            "ip.der,pkiconf.der",
            "-certout",
            "out.pem",
        ]
        env = dict(os.environ)
        env.pop("OPENSSL_CONF", None)
        try:
            proc = subprocess.run(
                args,
                check=False,
                cwd=d,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Unavailable(f"openssl cmp could not run: {e}") from e
        if proc.returncode != 0:
            tail = " ".join(proc.stderr.strip().splitlines()[-3:])
            raise Unavailable(f"openssl cmp -use_mock_srv exited {proc.returncode}: {tail}")
        out = {}
        for name_ in ("ir", "ip", "certconf", "pkiconf"):
            p = d / f"{name_}.der"
            if not p.is_file():
                raise Unavailable(f"openssl cmp did not write {p.name}")
            out[name_] = p.read_bytes()
        return out


def load_messages() -> list[Message]:
    """ir, ip (OpenSSL's conformance vectors), certConf, pkiconf (captured now)."""
    msgs = [conformance_vector("ir", "IR_protected.der"), conformance_vector("ip", "IP_PBM.der")]
    try:
        captured, source = capture_exchange()
        msgs.append(Message("certConf", captured["certconf"], source))
        msgs.append(Message("pkiconf", captured["pkiconf"], source))
    except Unavailable as e:
        msgs.append(Message("certConf", None, f"skipped: {e}"))
        msgs.append(Message("pkiconf", None, f"skipped: {e}"))
    return msgs
