"""The option table of ``cmpkit``: every option of ``openssl cmp`` 3.0.

One definition drives both the command line (``-name value``) and the keys of
OpenSSL config file sections (``name = value``), as in OpenSSL's apps/cmp.c,
where the same table is walked for both. cmpkit's own options, which ``openssl
cmp`` does not have, are kept apart in :data:`EXTENSIONS` (command line only),
so that :data:`OPTIONS` stays exactly OpenSSL's list. Each :class:`OptionSpec`
says how the argument is parsed and checked, its default, the ``-help`` group
it is listed in and whether a config file may set it.

Numbers follow OpenSSL's two syntaxes: on the command line ``strtol`` with
base 0 (``0x10`` and ``010`` are hex and octal), in config files base 10,
where a value that is empty or not a number counts as not given.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Union

from cmp.errors import CMPError

__all__ = [
    "EXTENSIONS",
    "EXTENSION_GROUP",
    "GROUPS",
    "OPTIONS",
    "ArgKind",
    "OptionError",
    "OptionSpec",
    "OptionValue",
    "check_int_range",
    "normalize_format",
    "parse_cli_int",
    "parse_config_int",
    "split_list",
]

#: The value of one option after parsing: ``True``/``False`` for flags,
#: ``int`` for numbers, ``str`` for everything else, a tuple of ``str`` for
#: options that may be given several times, ``None`` when not set.
OptionValue = Union[bool, int, str, tuple[str, ...], None]


class OptionError(CMPError, ValueError):
    """An option or its argument is wrong: unknown, missing, malformed, out
    of range, or in conflict with another option. The message is one line."""


class ArgKind(enum.Enum):
    """What an option's argument is; decides parsing and later loading."""

    FLAG = "flag"  # no argument: True when given (config files: 0 or 1)
    INT = "int"  # an integer within [minimum, maximum]
    STRING = "string"  # free text: a DN, a URL, OIDs, a section name ...
    CHOICE = "choice"  # one of ``choices``
    PASS = "pass"  # a pass phrase source (openssl-passphrase-options(1))
    FILE = "file"  # one input file or URI
    FILES = "files"  # input files or URIs separated by commas and/or whitespace
    OUTFILE = "outfile"  # one output file
    OUTFILES = "outfiles"  # output files separated by commas and/or whitespace


#: The ``-help`` groups in the order ``openssl cmp -help`` lists them; ``""``
#: is the ungrouped head (-help, -config, -section, -verbosity).
GROUPS: tuple[str, ...] = (
    "",
    "Generic message",
    "Certificate enrollment",
    "Certificate enrollment and revocation",
    "Message transfer",
    "Server authentication",
    "Client authentication",
    "Credentials format",
    "Provider",
    "Random state",
    "TLS connection",
    "Client-side debugging",
    "Mock server",
    "Validation",
)

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class OptionSpec:
    """One option of ``openssl cmp``.

    ``metavar`` is the argument label ``-help`` shows (``val``, ``nonneg``,
    ``int``, ``+int``, ``intmax``, ``outfile``; empty for flags).
    ``minimum``/``maximum``/``excluded`` bound integers; with ``range_at_parse``
    the bounds are enforced while parsing (OpenSSL rejects such a value before
    doing anything), otherwise only where the option is used (the mock server
    options). ``range_text`` describes the bounds in error messages.
    ``empty_resets``: an empty argument unsets the option (OpenSSL's
    ``opt_str()``), with a warning on the command line.
    ``multiple``: each use adds a value instead of replacing the last one.
    """

    name: str
    kind: ArgKind
    group: str
    help: tuple[str, ...]
    default: OptionValue = None
    metavar: str = "val"
    in_config: bool = True
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    excluded: tuple[int, ...] = ()
    range_at_parse: bool = True
    range_text: str = ""
    empty_resets: bool = True
    multiple: bool = False

    @property
    def takes_value(self) -> bool:
        """Whether the option is followed by an argument."""
        return self.kind is not ArgKind.FLAG

    @property
    def flag(self) -> str:
        """The option as typed: ``-name``."""
        return "-" + self.name


_HEAD, _GEN, _ENR, _REV, _MSG, _SRV, _CLI, _FMT, _PROV, _RAND, _TLS, _DBG, _MOCK, _VAL = GROUPS


def _flag(name: str, group: str, *help_lines: str) -> OptionSpec:
    return OptionSpec(name, ArgKind.FLAG, group, help_lines, default=False, metavar="")


def _str(
    name: str,
    kind: ArgKind,
    group: str,
    *help_lines: str,
    default: str | None = None,
    metavar: str = "val",
    choices: tuple[str, ...] = (),
    empty_resets: bool = True,
    multiple: bool = False,
) -> OptionSpec:
    return OptionSpec(
        name,
        kind,
        group,
        help_lines,
        default=default,
        metavar=metavar,
        choices=choices,
        empty_resets=empty_resets,
        multiple=multiple,
    )


def _int(
    name: str,
    group: str,
    *help_lines: str,
    metavar: str,
    default: int | None = None,
    maximum: int | None = None,
    minimum: int | None = None,
    excluded: tuple[int, ...] = (),
    range_at_parse: bool = True,
    range_text: str = "",
) -> OptionSpec:
    # The metavar says the sign rule OpenSSL applies while parsing.
    if minimum is None:
        minimum = {"nonneg": 0, "+int": 1}.get(metavar)
    if minimum is None:
        minimum = _INT64_MIN if metavar == "intmax" else _INT32_MIN
    if maximum is None:
        maximum = _INT64_MAX if metavar == "intmax" else _INT32_MAX
    return OptionSpec(
        name,
        ArgKind.INT,
        group,
        help_lines,
        default=default,
        metavar=metavar,
        minimum=minimum,
        maximum=maximum,
        excluded=excluded,
        range_at_parse=range_at_parse,
        range_text=range_text,
    )


_S, _F, _FS, _O, _OS, _P, _C = (
    ArgKind.STRING,
    ArgKind.FILE,
    ArgKind.FILES,
    ArgKind.OUTFILE,
    ArgKind.OUTFILES,
    ArgKind.PASS,
    ArgKind.CHOICE,
)

#: Commands of ``-cmd``.
COMMANDS: tuple[str, ...] = ("ir", "cr", "kur", "p10cr", "rr", "genm")
#: Chain purposes ``-purpose`` accepts (X509_PURPOSE short names of 3.0).
PURPOSES: tuple[str, ...] = (
    "sslclient",
    "sslserver",
    "nssslserver",
    "smimesign",
    "smimeencrypt",
    "crlsign",
    "any",
    "ocsphelper",
    "timestampsign",
)
#: Named verification parameter sets ``-verify_name`` accepts.
VERIFY_NAMES: tuple[str, ...] = ("default", "pkcs7", "smime_sign", "ssl_client", "ssl_server")

_TABLE: tuple[OptionSpec, ...] = (
    OptionSpec("help", ArgKind.FLAG, _HEAD, ("Display this summary",), False, "", in_config=False),
    OptionSpec(
        "config",
        ArgKind.FILE,
        _HEAD,
        ('Config file to read options from; "" = none. Default: environment OPENSSL_CONF',),
        in_config=False,
        empty_resets=False,
    ),
    OptionSpec(
        "section",
        ArgKind.STRING,
        _HEAD,
        ("Config file section(s) to read options from; \"\" = 'default'. Default 'cmp'",),
        default="cmp",
        in_config=False,
        empty_resets=False,
    ),
    _int(
        "verbosity",
        _HEAD,
        "Logging level: 3=ERR, 4=WARN, 6=INFO, 7=DEBUG, 8=TRACE. Default 6 = INFO",
        metavar="nonneg",
        default=6,
        maximum=8,
        range_text="0 .. 8",
    ),
    # Generic message
    _str("cmd", _C, _GEN, "CMP request to send: ir/cr/kur/p10cr/rr/genm", choices=COMMANDS),
    _str(
        "infotype",
        _S,
        _GEN,
        "InfoType name of the info requested with genm, e.g. 'signKeyPairTypes'",
    ),
    _str(
        "geninfo",
        _S,
        _GEN,
        "Integer value with OID to place in the generalInfo of the request header",
        'in the form <OID>:int:<n>, e.g. "1.2.3.4:int:56789"',
    ),
    # Certificate enrollment
    _str(
        "newkey",
        _F,
        _ENR,
        "Private or public key for the requested cert. Default: CSR key or client key",
    ),
    _str("newkeypass", _P, _ENR, "Pass phrase source of the -newkey key"),
    _str(
        "subject",
        _S,
        _ENR,
        "Subject DN to put into the requested certificate template",
        "For kur, default is the subject of the -csr or the reference cert (see -oldcert);",
        "ir and cr use this default only when no Subject Alt Names are given",
    ),
    _str(
        "issuer",
        _S,
        _ENR,
        "Issuer DN to put into the requested certificate template;",
        "also the recipient if neither -recipient nor -srvcert is given",
    ),
    _int(
        "days",
        _ENR,
        "Requested validity of the new certificate in days",
        metavar="nonneg",
        default=0,
    ),
    _str(
        "reqexts",
        _S,
        _ENR,
        "Config file section with the extensions to request.",
        "Adds to or replaces the extensions of the CSR given with -csr",
    ),
    _str(
        "sans",
        _S,
        _ENR,
        "Subject Alt Names (IP address/DNS name/URI) to request, 'critical' to flag them",
    ),
    _flag(
        "san_nodefault", _ENR, "Do not copy the SANs of the reference certificate (see -oldcert)"
    ),
    _str("policies", _S, _ENR, "Config file section with the certificate policies to request"),
    _str("policy_oids", _S, _ENR, "Certificate policy OID(s) to request"),
    _flag("policy_oids_critical", _ENR, "Flag the policies of -policy_oids as critical"),
    _int(
        "popo",
        _ENR,
        "Proof-of-Possession (POPO) method for ir/cr/kur:",
        "-1 = NONE, 0 = RAVERIFIED, 1 = SIGNATURE (default), 2 = KEYENC",
        metavar="int",
        minimum=-1,
        maximum=2,
        range_text="-1 .. 2",
    ),
    _str(
        "csr",
        _F,
        _ENR,
        "PKCS#10 CSR (PEM or DER) to use in p10cr or to convert into ir/cr/kur/rr",
        empty_resets=False,
    ),
    _str(
        "out_trusted", _FS, _ENR, "Certificates to trust when verifying newly enrolled certificates"
    ),
    _flag("implicit_confirm", _ENR, "Request implicit confirmation of newly enrolled certificates"),
    _flag(
        "disable_confirm",
        _ENR,
        "Do not confirm a newly enrolled certificate, without requesting implicit",
        "confirmation. WARNING: this violates RFC 4210",
    ),
    _str("certout", _O, _ENR, "File to write the newly enrolled certificate to"),
    _str("chainout", _O, _ENR, "File to write the chain of the newly enrolled certificate to"),
    # Certificate enrollment and revocation
    _str(
        "oldcert",
        _F,
        _REV,
        "Certificate to update (default: -cert) or to revoke with rr;",
        "also the reference (default: -cert) for the subject DN and SANs.",
        "Its issuer is the recipient unless -recipient, -srvcert or -issuer is given",
    ),
    _int(
        "revreason",
        _REV,
        "Reason code to put into the revocation request (rr):",
        "0..6, 8..10 (RFC 5280, 5.3.1) or -1. Default -1 = none",
        metavar="int",
        default=-1,
        minimum=-1,
        maximum=10,
        excluded=(7,),
        range_text="-1 .. 6, 8 .. 10",
    ),
    # Message transfer
    _str(
        "server",
        _S,
        _MSG,
        "[http[s]://]address[:port][/path] of the CMP server. Default port 80 or 443.",
        "The address may be a DNS name or an IP address; -path overrides the path",
    ),
    _str(
        "proxy",
        _S,
        _MSG,
        "[http[s]://]address[:port][/path] of the HTTP(S) proxy; the path is ignored",
    ),
    _str(
        "no_proxy",
        _S,
        _MSG,
        "Addresses of servers to reach without the HTTP(S) proxy",
        "Default from environment variable 'no_proxy', else 'NO_PROXY', else none",
    ),
    _str(
        "recipient",
        _S,
        _MSG,
        "DN of the CA. Default: subject of -srvcert, -issuer, issuer of -oldcert or -cert",
    ),
    _str(
        "path", _S, _MSG, 'HTTP path (CMP alias) at the CMP server. Default from -server, else "/"'
    ),
    _int(
        "keep_alive",
        _MSG,
        "Persistent HTTP connections. 0: no, 1 (the default): request, 2: require",
        metavar="nonneg",
        default=1,
        maximum=2,
        range_text="0, 1, or 2",
    ),
    _int(
        "msg_timeout",
        _MSG,
        "Seconds allowed per CMP message round trip, 0 for no limit",
        metavar="nonneg",
    ),
    _int(
        "total_timeout",
        _MSG,
        "Seconds an enrollment including polling may take. Default 0 = no limit",
        metavar="nonneg",
    ),
    # Server authentication
    _str(
        "trusted",
        _FS,
        _SRV,
        "Trust anchors for verifying signature-protected CMP responses",
        "unless -srvcert is given",
    ),
    _str(
        "untrusted",
        _FS,
        _SRV,
        "Intermediate CA certs for building CMP, TLS and enrolled cert chains",
    ),
    _str(
        "srvcert",
        _F,
        _SRV,
        "Server cert to pin and trust directly when verifying signed CMP responses",
    ),
    _str(
        "expect_sender",
        _S,
        _SRV,
        "DN of the expected sender of responses. Default: subject of -srvcert",
    ),
    _flag(
        "ignore_keyusage",
        _SRV,
        "Ignore the key usage of the CMP signer cert (else digitalSignature is required)",
    ),
    _flag(
        "unprotected_errors",
        _SRV,
        "Accept missing or invalid protection of error messages and negative",
        "certificate responses (ip/cp/kup), revocation responses (rp), and PKIConf",
        "WARNING: this allows violating RFC 4210",
    ),
    _str("extracertsout", _O, _SRV, "File to write the certificates of the extraCerts field to"),
    _str(
        "cacertsout", _O, _SRV, "File to write the CA certificates of the caPubs field of 'ip' to"
    ),
    # Client authentication
    _str("ref", _S, _CLI, "Reference value to use as senderKID when no -cert is given"),
    _str(
        "secret",
        _P,
        _CLI,
        "Pass phrase source of the secret for PBM protection (preferred over -key)",
    ),
    _str(
        "cert",
        _F,
        _CLI,
        "Client's CMP signer certificate; its public key must match -key.",
        "Also the default reference for subject DN and SANs.",
        "Further certificates in it are added to the untrusted certs",
    ),
    _str(
        "own_trusted",
        _FS,
        _CLI,
        "Optional trust anchors for checking the chain of the own CMP signer cert",
    ),
    _str("key", _F, _CLI, "CMP signer private key, not used when -secret is given"),
    _str("keypass", _P, _CLI, "Pass phrase source of the client key (and cert and old cert)"),
    _str("digest", _S, _CLI, 'Digest for message protection and POPO signatures. Default "sha256"'),
    _str("mac", _S, _CLI, 'MAC algorithm for PBM-based message protection. Default "hmac-sha1"'),
    _str(
        "extracerts",
        _FS,
        _CLI,
        "Certificates to add to the extraCerts field of outgoing messages,",
        "e.g. the chain of the CMP signer cert",
    ),
    _flag("unprotected_requests", _CLI, "Send request messages without CMP-level protection"),
    # Credentials format
    _str(
        "certform",
        _C,
        _FMT,
        "Format (PEM or DER) of the certificate files written. Default PEM",
        default="PEM",
        choices=("PEM", "DER"),
    ),
    _str(
        "keyform",
        _C,
        _FMT,
        "Format of the key input: PEM, DER or P12 (ENGINE is not available)",
        choices=("PEM", "DER", "P12", "ENGINE"),
    ),
    _str("otherpass", _P, _FMT, "Pass phrase source for the certificate files of others"),
    _str(
        "engine",
        _S,
        _FMT,
        "Crypto engine to use (not available in cmpkit).",
        "Engines may also be defined in the config file engine section.",
    ),
    # Provider
    _str("provider-path", _S, _PROV, "Provider load path (not used by cmpkit)", empty_resets=False),
    _str(
        "provider",
        _S,
        _PROV,
        "Provider to load (may be given several times; not used by cmpkit)",
        empty_resets=False,
        multiple=True,
    ),
    _str(
        "propquery",
        _S,
        _PROV,
        "Property query for fetching algorithms (not used by cmpkit)",
        empty_resets=False,
    ),
    # Random state
    _str(
        "rand",
        _FS,
        _RAND,
        "Files to load into the random number generator (not needed by cmpkit)",
        empty_resets=False,
    ),
    _str(
        "writerand",
        _O,
        _RAND,
        "File to write random data to",
        metavar="outfile",
        empty_resets=False,
    ),
    # TLS connection
    _flag("tls_used", _TLS, "Use TLS (also when no other TLS option is given)"),
    _str(
        "tls_cert",
        _F,
        _TLS,
        "Client's TLS certificate, possibly with the chain to send to the TLS server",
    ),
    _str("tls_key", _F, _TLS, "Private key of the client's TLS certificate"),
    _str("tls_keypass", _P, _TLS, "Pass phrase source of the client's TLS key (and TLS cert)"),
    _str("tls_extra", _FS, _TLS, "Extra certificates to send to the TLS server in the handshake"),
    _str(
        "tls_trusted",
        _FS,
        _TLS,
        "Trust anchors for verifying the TLS server certificate;",
        "this implies host name validation",
    ),
    _str("tls_host", _S, _TLS, "Address to check (instead of -server) in TLS host name validation"),
    # Client-side debugging
    _flag("batch", _DBG, "Never prompt for input, e.g. for a missing pass phrase"),
    _int(
        "repeat",
        _DBG,
        "Run the transaction the given positive number of times. Default 1",
        metavar="+int",
        default=1,
    ),
    _str("reqin", _FS, _DBG, "Take the sequence of CMP requests to send from file(s)"),
    _flag("reqin_new_tid", _DBG, "Use a fresh transactionID for the CMP requests read with -reqin"),
    _str("reqout", _OS, _DBG, "Write the sequence of CMP requests sent to file(s)"),
    _str(
        "rspin", _FS, _DBG, "Take the sequence of CMP responses from file(s), skipping the server"
    ),
    _str("rspout", _OS, _DBG, "Write the sequence of CMP responses received to file(s)"),
    _flag("use_mock_srv", _DBG, "Use the built-in mock server in-process, bypassing HTTP"),
    # Mock server
    _str("port", _S, _MOCK, "Act as HTTP mock server listening on the given port"),
    _int(
        "max_msgs",
        _MOCK,
        "Number of messages the HTTP mock server handles. Default 0 = no limit",
        metavar="nonneg",
        default=0,
    ),
    _str(
        "srv_ref",
        _S,
        _MOCK,
        "Reference value the server uses as senderKID when no -srv_cert is given",
    ),
    _str("srv_secret", _P, _MOCK, "Pass phrase source of the server's PBM secret"),
    _str("srv_cert", _F, _MOCK, "Certificate of the server"),
    _str("srv_key", _F, _MOCK, "Private key the server signs messages with"),
    _str("srv_keypass", _P, _MOCK, "Pass phrase source of the server key (and cert)"),
    _str("srv_trusted", _FS, _MOCK, "Trust anchors for authenticating clients"),
    _str(
        "srv_untrusted",
        _FS,
        _MOCK,
        "Intermediate certs for verifying the CMP protection of requests",
    ),
    _str("rsp_cert", _F, _MOCK, "Certificate the mock server returns as enrollment result"),
    _str(
        "rsp_extracerts", _FS, _MOCK, "Extra certificates to put into mock certification responses"
    ),
    _str("rsp_capubs", _FS, _MOCK, "CA certificates to put into mock ip responses"),
    _int(
        "poll_count",
        _MOCK,
        "Number of times the client must poll before getting the certificate",
        metavar="nonneg",
        default=0,
    ),
    _int(
        "check_after",
        _MOCK,
        "checkAfter value (seconds to wait) to put into poll responses",
        metavar="nonneg",
        default=1,
    ),
    _flag(
        "grant_implicitconf", _MOCK, "Grant implicit confirmation of newly enrolled certificates"
    ),
    _int(
        "pkistatus",
        _MOCK,
        "PKIStatus to put into server responses: 0..6",
        metavar="nonneg",
        default=0,
        maximum=6,
        range_at_parse=False,
        range_text="0 .. 6",
    ),
    _int(
        "failure",
        _MOCK,
        "Single failure info bit number to put into server responses: 0..26",
        metavar="nonneg",
        maximum=26,
        range_at_parse=False,
        range_text="0 .. 26",
    ),
    _int(
        "failurebits",
        _MOCK,
        "Failure info bits to put into server responses: 0..2^27 - 1",
        metavar="nonneg",
        default=0,
        maximum=2**27 - 1,
        range_at_parse=False,
        range_text="0 .. 2^27 - 1",
    ),
    _str("statusstring", _S, _MOCK, "Status string to put into server responses"),
    _flag("send_error", _MOCK, "Answer every request with an error message"),
    _flag("send_unprotected", _MOCK, "Send response messages without CMP-level protection"),
    _flag(
        "send_unprot_err",
        _MOCK,
        "Send negative responses unprotected: error messages,",
        "certificate responses (ip/cp/kup), and revocation responses (rp).",
        "WARNING: this violates RFC 4210",
    ),
    _flag("accept_unprotected", _MOCK, "Accept requests with missing or invalid protection"),
    _flag("accept_unprot_err", _MOCK, "Accept unprotected error messages from clients"),
    _flag("accept_raverified", _MOCK, "Accept RAVERIFIED as proof-of-possession (POPO)"),
    # Validation (OpenSSL's verification options, for CMP and TLS)
    _str(
        "policy",
        _S,
        _VAL,
        "Add a policy to the acceptable policy set",
        empty_resets=False,
        multiple=True,
    ),
    _str(
        "purpose",
        _C,
        _VAL,
        "Purpose the certificate chain must be fit for",
        choices=PURPOSES,
        empty_resets=False,
    ),
    _str(
        "verify_name",
        _C,
        _VAL,
        "Named set of verification parameters",
        choices=VERIFY_NAMES,
        empty_resets=False,
    ),
    _int("verify_depth", _VAL, "Limit of the chain depth", metavar="int"),
    _int("auth_level", _VAL, "Security level required of chain authentication", metavar="int"),
    _int("attime", _VAL, "Verify at this time (seconds since the epoch)", metavar="intmax"),
    _str("verify_hostname", _S, _VAL, "Expected peer host name", empty_resets=False),
    _str("verify_email", _S, _VAL, "Expected peer email address", empty_resets=False),
    _str("verify_ip", _S, _VAL, "Expected peer IP address", empty_resets=False),
    _flag("ignore_critical", _VAL, "Permit unhandled critical extensions"),
    _flag("issuer_checks", _VAL, "(deprecated)"),
    _flag("crl_check", _VAL, "Check the revocation status of the leaf certificate"),
    _flag("crl_check_all", _VAL, "Check the revocation status of the whole chain"),
    _flag("policy_check", _VAL, "Do RFC 5280 policy checks"),
    _flag("explicit_policy", _VAL, "Set the policy variable require-explicit-policy"),
    _flag("inhibit_any", _VAL, "Set the policy variable inhibit-any-policy"),
    _flag("inhibit_map", _VAL, "Set the policy variable inhibit-policy-mapping"),
    _flag("x509_strict", _VAL, "Disable certificate compatibility work-arounds"),
    _flag("extended_crl", _VAL, "Enable extended CRL features"),
    _flag("use_deltas", _VAL, "Use delta CRLs"),
    _flag("policy_print", _VAL, "Print policy processing diagnostics"),
    _flag("check_ss_sig", _VAL, "Check the self-signatures of root CAs"),
    _flag("trusted_first", _VAL, "Search the trust store first (default)"),
    _flag("suiteB_128_only", _VAL, "Suite B 128-bit-only mode"),
    _flag("suiteB_128", _VAL, "Suite B 128-bit mode allowing 192-bit algorithms"),
    _flag("suiteB_192", _VAL, "Suite B 192-bit-only mode"),
    _flag("partial_chain", _VAL, "Accept chains anchored by intermediate CAs of the trust store"),
    _flag("no_alt_chains", _VAL, "(deprecated)"),
    _flag("no_check_time", _VAL, "Ignore the validity times of certificates"),
    _flag("allow_proxy_certs", _VAL, "Allow proxy certificates"),
)

#: Every option by name (without the leading dash), in ``-help`` order.
OPTIONS: dict[str, OptionSpec] = {spec.name: spec for spec in _TABLE}


def split_list(text: str) -> list[str]:
    """Split a list argument (``-section``, ``-trusted``, ``-sans`` ...) at
    commas and/or whitespace, as OpenSSL's ``next_item()`` does."""
    items: list[str] = []
    current: list[str] = []
    for char in text:
        if char == "," or char.isspace():
            if current:
                items.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        items.append("".join(current))
    return items


_C_SPACE = " \t\n\v\f\r"


def _strtol(text: str, base: int) -> tuple[int, str] | None:
    """C ``strtol``: the number read and the unparsed tail, or None if no
    digit was read (the tail would be the whole string)."""
    pos = 0
    while pos < len(text) and text[pos] in _C_SPACE:
        pos += 1
    sign = 1
    if pos < len(text) and text[pos] in "+-":
        sign = -1 if text[pos] == "-" else 1
        pos += 1
    digits_of = "0123456789abcdef"
    if base == 0:
        if text[pos : pos + 2].lower() == "0x" and text[pos + 2 : pos + 3].lower() in tuple(
            digits_of
        ):
            base, pos = 16, pos + 2
        elif text[pos : pos + 1] == "0":
            base = 8
        else:
            base = 10
    elif base == 16 and text[pos : pos + 2].lower() == "0x":
        pos += 2
    start = pos
    value = 0
    while pos < len(text):
        digit = digits_of.find(text[pos].lower())
        if digit < 0 or digit >= base:
            break
        value = value * base + digit
        pos += 1
    if pos == start:
        return None
    return sign * value, text[pos:]


def parse_cli_int(spec: OptionSpec, text: str) -> int:
    """Parse a command-line number like OpenSSL's ``opt_int()``/``opt_intmax()``
    (``strtol`` base 0), then apply the sign rule of the metavar and, where
    ``range_at_parse``, the option's own bounds. Raises :class:`OptionError`."""
    parsed = _strtol(text, 0)
    # opt_long() and opt_intmax() both read 64 bits here; opt_int() then
    # narrows to an int.
    if parsed is None or parsed[1] != "" or not _INT64_MIN <= parsed[0] <= _INT64_MAX:
        lowered = text.lstrip(_C_SPACE).lstrip("+-")
        radix = (
            "a hexadecimal"
            if lowered.lower().startswith("0x")
            else "an octal"
            if lowered.startswith("0")
            else "a"
        )
        raise OptionError(f'Can\'t parse "{text}" as {radix} number for option {spec.flag}')
    value = parsed[0]
    if spec.metavar != "intmax" and not _INT32_MIN <= value <= _INT32_MAX:
        raise OptionError(f'Value "{text}" outside integer range for option {spec.flag}')
    if spec.metavar == "nonneg" and value < 0:
        raise OptionError(f'Negative number "{text}" for option {spec.flag}')
    if spec.metavar == "+int" and value <= 0:
        raise OptionError(f'Non-positive number "{text}" for option {spec.flag}')
    if spec.range_at_parse:
        check_int_range(spec, value)
    return value


def parse_config_int(spec: OptionSpec, text: str) -> int | None:
    """Parse a config file number as OpenSSL's apps/cmp.c does: base 10, the
    whole (trimmed) value; ``None`` when empty or not a number, which OpenSSL
    takes as "option not given". Sign and bounds errors raise
    :class:`OptionError`."""
    if text == "":
        return None
    parsed = _strtol(text, 10)
    if parsed is None or parsed[1] != "" or not -(2**63) < parsed[0] < 2**63 - 1:
        return None
    value = parsed[0]
    if spec.metavar == "+int" and value <= 0:
        raise OptionError(f'Non-positive number "{text}" for option {spec.flag}')
    if spec.metavar == "nonneg" and value < 0:
        raise OptionError(f'Negative number "{text}" for option {spec.flag}')
    if (
        spec.kind is ArgKind.INT
        and spec.metavar != "intmax"
        and not (_INT32_MIN <= value <= _INT32_MAX)
    ):
        raise OptionError(f'Integer value "{text}" out of range for option {spec.flag}')
    if spec.kind is ArgKind.INT and spec.range_at_parse:
        check_int_range(spec, value)
    return value


def check_int_range(spec: OptionSpec, value: int) -> None:
    """Raise :class:`OptionError` unless ``value`` lies within the option's
    bounds."""
    low = spec.minimum if spec.minimum is not None else _INT64_MIN
    high = spec.maximum if spec.maximum is not None else _INT64_MAX
    if not low <= value <= high or value in spec.excluded:
        allowed = spec.range_text or f"{low} .. {high}"
        raise OptionError(f"{spec.flag} {value} out of range; valid values are {allowed}")


# OpenSSL's opt_format() decides by the first letter, with full names for P*.
_FORMAT_NAMES: dict[str, str] = {
    "pem": "PEM",
    "p": "PEM",
    "p12": "P12",
    "pkcs12": "P12",
}


def normalize_format(spec: OptionSpec, text: str) -> str:
    """The format named by ``text`` (``-certform``/``-keyform``), spelled as
    in ``spec.choices``, accepting OpenSSL's spellings (``DER``, ``der``,
    ``d``, ``PEM``, ``pem``, ``P12``, ``PKCS12``, ``ENGINE`` ...). Raises
    :class:`OptionError` for a format the option does not take."""
    lowered = text.lower()
    name: str | None = None
    if lowered in _FORMAT_NAMES:
        name = _FORMAT_NAMES[lowered]
    elif lowered[:1] == "d":
        name = "DER"
    elif lowered[:1] == "e":
        name = "ENGINE"
    if name is None or name not in spec.choices:
        raise OptionError(
            f'Bad format "{text}" for option {spec.flag}; use one of {", ".join(spec.choices)}'
        )
    return name


# --- cmpkit's own options ------------------------------------------------------------------

EXTENSION_GROUP = "cmpkit extension"
"""The ``-help`` group of :data:`EXTENSIONS`, listed after OpenSSL's groups."""


def _command_line_only(spec: OptionSpec) -> OptionSpec:
    return dataclasses.replace(spec, in_config=False)


_EXTENSION_TABLE: tuple[OptionSpec, ...] = tuple(
    _command_line_only(spec)
    for spec in (
        _str(
            "batch_file",
            _F,
            EXTENSION_GROUP,
            "File of enrollments for -cmd ir or cr, one a line (# starts a comment):",
            "  <subject> [newkey=FILE] [certout=FILE] [chainout=FILE] [sans=NAMES]",
            'fields quoted with "..." may hold spaces. A missing newkey/certout/chainout',
            "comes from -newkey/-certout/-chainout, where {n} stands for the line number",
            "and {cn} for the subject's CN. A newkey file that does not exist gets a new",
            "EC P-256 key, written with the certificate. Failed lines do not stop the rest",
            metavar="infile",
            empty_resets=False,
        ),
        _int(
            "concurrency",
            EXTENSION_GROUP,
            "Transactions in flight at once: for -batch_file (default 8) and for -repeat",
            "(default 1, one after the other as in OpenSSL; more runs them as a batch)",
            metavar="+int",
        ),
        _flag(
            "stats",
            EXTENSION_GROUP,
            "Print count, throughput, latency percentiles and errors by kind at the end",
            "(always done for -batch_file and for -repeat with -concurrency)",
        ),
        _flag(
            "progress",
            EXTENSION_GROUP,
            "Show a progress bar on stderr (done for -batch_file and for -repeat with",
            "-concurrency when stderr is a terminal and -verbosity is 4 to 6)",
        ),
    )
)

#: cmpkit's own options (``-batch_file``, ``-concurrency``, ``-stats``,
#: ``-progress``): parsed like OpenSSL's, listed by ``cmpkit -help`` under
#: their own heading, not read from config files.
EXTENSIONS: dict[str, OptionSpec] = {spec.name: spec for spec in _EXTENSION_TABLE}
