"""PKIStatusInfo as people read it, and :class:`ServerError`, the error a CMP
server's negative answer becomes.

The text is OpenSSL's (``OSSL_CMP_snprint_PKIStatusInfo()``), so that logs
and scripts written for ``openssl cmp`` keep working::

    PKIStatus: rejection; PKIFailureInfo: badRequest; StatusString: "text"
"""

from __future__ import annotations

from collections.abc import Sequence

from cmp.asn1 import FailInfo, PKIStatus, PKIStatusInfo
from cmp.errors import CMPError

__all__ = ["ServerError", "format_status_info", "status_text"]

_STATUS_TEXT: dict[int, str] = {
    PKIStatus.accepted: "accepted",
    PKIStatus.grantedWithMods: "granted with modifications",
    PKIStatus.rejection: "rejection",
    PKIStatus.waiting: "waiting",
    PKIStatus.revocationWarning: "revocation warning - a revocation of the cert is imminent",
    PKIStatus.revocationNotification: (
        "revocation notification - a revocation of the cert has occurred"
    ),
    PKIStatus.keyUpdateWarning: "key update warning - update already done for the cert",
}


def status_text(status: int) -> str:
    """OpenSSL's words for a PKIStatus value (``rejection``, ``waiting``, ...)."""
    return _STATUS_TEXT.get(status, f"unknown status {status}")


def format_status_info(si: PKIStatusInfo) -> str:
    """A PKIStatusInfo as OpenSSL prints it: status, failure bits by name,
    then the statusStrings quoted."""
    parts = [f"PKIStatus: {status_text(si.status)}"]
    names = FailInfo.names_of(si.fail_info or 0)
    if names:
        parts.append("PKIFailureInfo: " + ", ".join(names))
    elif si.status not in (PKIStatus.accepted, PKIStatus.grantedWithMods):
        parts.append("<no failure info>")
    strings = si.status_string or ()
    if strings:
        label = "StatusStrings" if len(strings) > 1 else "StatusString"
        parts.append(f"{label}: " + ", ".join(f'"{s}"' for s in strings))
    return "; ".join(parts)


class ServerError(CMPError):
    """The server refused: an ``error`` body, or a rejection (or otherwise
    unusable) status in ip/cp/kup/rp.

    ``status_info`` is what the server sent; ``status``, ``fail_info``,
    ``fail_info_names`` and ``status_strings`` read it. ``error_code`` and
    ``error_details`` come from an ``error`` body. ``str()`` reads like
    ``openssl cmp``: ``received error: PKIStatus: rejection; PKIFailureInfo:
    badRequest; StatusString: "..."``.
    """

    def __init__(
        self,
        status_info: PKIStatusInfo,
        *,
        body_type: str = "error",
        error_code: int | None = None,
        error_details: Sequence[str] | None = None,
        reason: str | None = None,
    ) -> None:
        self.status_info = status_info
        self.body_type = body_type
        self.error_code = error_code
        self.error_details = tuple(error_details or ())
        if reason is None:
            reason = "received error" if body_type == "error" else "request rejected by server"
        self.reason = reason
        super().__init__(self._text())

    @property
    def status(self) -> int:
        return self.status_info.status

    @property
    def fail_info(self) -> int:
        return self.status_info.fail_info or 0

    @property
    def fail_info_names(self) -> list[str]:
        return FailInfo.names_of(self.fail_info)

    @property
    def status_strings(self) -> tuple[str, ...]:
        return tuple(self.status_info.status_string or ())

    def _text(self) -> str:
        text = f"{self.reason}: {format_status_info(self.status_info)}"
        if self.error_code is not None:
            text += f"; errorCode: {self.error_code & 0xFFFFFFFF:08X}"
        if self.error_details:
            text += "; errorDetails: " + ", ".join(self.error_details)
        return text
