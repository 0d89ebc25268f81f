"""``Client`` and ``AsyncClient``: CMP transactions over a transport.

Both drive the same sans-I/O :class:`cmp.transaction.Transaction`; they only
do what it asks: send a message, wait (polling), return the result. As in
httpx, a client holds a transport (HTTP by default, built from ``server``) and
closes it when it is closed::

    config = TransactionConfig(secret=b"...", ref=b"...", trusted=[root])
    with Client("ca.example/pkix/", config=config) as client:
        result = client.enroll(new_key, subject=name)

    async with AsyncClient("ca.example/pkix/", config=config) as client:
        results = await asyncio.gather(*(client.enroll(k, subject=n) for k, n in todo))

Each transaction runs in a session of the transport: over HTTP, all its
messages go over one connection, as ``openssl cmp`` sends them (OpenSSL's
mock server keeps a transaction with its connection).

Every wait is bounded: each request-response round trip by ``msg_timeout``
(``-msg_timeout``, 120 s by default), the whole transaction by the config's
``total_timeout`` (``-total_timeout``), and each polling wait by the
transaction (checkAfter, capped by ``max_check_after`` and the time left).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Union

from cryptography import x509

from cmp.asn1 import InfoTypeAndValue
from cmp.message import PKIMessage
from cmp.requests import EnrollRequest, GeneralRequest, Request, RevokeRequest
from cmp.transaction import (
    Done,
    Send,
    TotalTimeoutError,
    Transaction,
    TransactionConfig,
    TransactionResult,
    Wait,
)
from cmp.transport import (
    DEFAULT_MAX_RESPONSE_SIZE,
    AsyncBaseTransport,
    AsyncHTTPTransport,
    BaseTransport,
    Exchange,
    HTTPTransport,
    TLSConfig,
    TransportTimeout,
)

__all__ = ["DEFAULT_MSG_TIMEOUT", "AsyncClient", "Client"]

DEFAULT_MSG_TIMEOUT = 120.0
"""Seconds one request-response round trip may take unless ``msg_timeout`` says
otherwise (``None``: unbounded, as ``openssl cmp -msg_timeout 0``)."""

Step = Union[Send, Wait, Done]


class _ClientBase:
    """What both clients share: configuration, requests, timeouts."""

    def __init__(self, config: TransactionConfig | None, msg_timeout: float | None) -> None:
        if msg_timeout is not None and msg_timeout <= 0:
            raise ValueError("msg_timeout must be positive, or None for no bound")
        self.config = config
        self.msg_timeout = msg_timeout

    def _transaction(self, request: Request, config: TransactionConfig | None) -> Transaction:
        config = config if config is not None else self.config
        if config is None:
            raise ValueError("no TransactionConfig: give config= to the client or the call")
        return Transaction(request, config)

    def _round_trip_timeout(self, tx: Transaction) -> tuple[float | None, bool]:
        """(timeout of the next round trip, whether total_timeout sets it)."""
        remaining = tx.remaining()
        if remaining is None:
            return self.msg_timeout, False
        if remaining <= 0:
            raise _total_timeout(tx)
        if self.msg_timeout is None or remaining < self.msg_timeout:
            return remaining, True
        return self.msg_timeout, False

    @staticmethod
    def _replayed(tx: Transaction, exchange: Exchange) -> None:
        # A -reqin request or -rspin response is not the message the
        # transaction built or expects: as openssl cmp does, the transaction
        # takes over the response's transactionID and recipNonce first.
        if exchange.replayed:
            header = PKIMessage.from_der(exchange.response).header
            tx.adopt_ids(header.transaction_id, header.recip_nonce)


def _total_timeout(tx: Transaction) -> TotalTimeoutError:
    return TotalTimeoutError(f"total_timeout of {tx.config.total_timeout:g} s exceeded")


def _enroll(cmd: str, new_key: Any, options: dict[str, Any]) -> EnrollRequest:
    return EnrollRequest(cmd=cmd, new_key=new_key, **options)


def _revoke(
    cert: x509.Certificate | None,
    reason: int,
    csr: x509.CertificateSigningRequest | None,
    issuer: x509.Name | None,
    serial: int | None,
) -> RevokeRequest:
    return RevokeRequest(cert=cert, reason=reason, csr=csr, issuer=issuer, serial=serial)


def _general(
    itavs: Sequence[InfoTypeAndValue], infotypes: Sequence[str], options: dict[str, Any]
) -> GeneralRequest:
    if infotypes:
        if itavs:
            raise ValueError("give itavs or infotypes, not both")
        return GeneralRequest.for_infotypes(*infotypes, **options)
    return GeneralRequest(tuple(itavs), **options)


class Client(_ClientBase):
    """Runs CMP transactions one after the other (thread-safe over an HTTP pool).

    ``server`` with ``path``, ``tls``, ``proxy``, ``no_proxy``, ``trust_env``
    and ``keep_alive`` builds an :class:`~cmp.transport.HTTPTransport` (see
    there); ``transport`` replaces it (files, in-process, your own). ``config``
    is the :class:`~cmp.transaction.TransactionConfig` of every call that
    does not bring its own. The client closes its transport when closed.
    """

    def __init__(
        self,
        server: str | None = None,
        *,
        config: TransactionConfig | None = None,
        transport: BaseTransport | None = None,
        msg_timeout: float | None = DEFAULT_MSG_TIMEOUT,
        path: str | None = None,
        tls: TLSConfig | None = None,
        proxy: str | None = None,
        no_proxy: str | Sequence[str] | None = None,
        trust_env: bool = True,
        keep_alive: int = 1,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        super().__init__(config, msg_timeout)
        if transport is None:
            if server is None:
                raise ValueError("give the server to talk to, or a transport")
            transport = HTTPTransport(
                server,
                path=path,
                tls=tls,
                proxy=proxy,
                no_proxy=no_proxy,
                trust_env=trust_env,
                keep_alive=keep_alive,
                max_response_size=max_response_size,
            )
        elif server is not None:
            raise ValueError("give server or transport, not both")
        if not isinstance(transport, BaseTransport):
            raise TypeError(f"Client needs a synchronous transport, not {type(transport).__name__}")
        self.transport = transport

    # --- the transaction loop ----------------------------------------------------------------

    def run(
        self, request: Request, *, config: TransactionConfig | None = None
    ) -> TransactionResult:
        """Run the transaction for ``request`` to its end and return its result.

        Raises what the transaction raises (:class:`cmp.status.ServerError`,
        :class:`cmp.transaction.ResponseError`, ...), :class:`TransportError`
        and :class:`TransportTimeout`, or :class:`TotalTimeoutError`.
        """
        tx = self._transaction(request, config)
        step: Step = tx.start()
        with self.transport.session() as session:
            while not isinstance(step, Done):
                try:
                    if isinstance(step, Wait) and step.seconds > 0:
                        time.sleep(step.seconds)
                    response = self._exchange(session, tx, step.message.to_der())
                except BaseException as exc:
                    tx.fail(exc)
                    raise
                step = tx.receive(response)
        return step.result

    def _exchange(self, session: BaseTransport, tx: Transaction, request: bytes) -> bytes:
        timeout, total = self._round_trip_timeout(tx)
        try:
            exchange = session.transfer(request, timeout)
        except TransportTimeout as exc:
            if total:
                raise _total_timeout(tx) from exc
            raise
        self._replayed(tx, exchange)
        return exchange.response

    # --- one method per command ------------------------------------------------------------

    def enroll(self, new_key: Any = None, **options: Any) -> TransactionResult:
        """ir (``-cmd ir``): ``options`` are the other fields of
        :class:`~cmp.requests.EnrollRequest` (``subject``, ``sans``, ``csr``, ...)
        and ``config``."""
        config = options.pop("config", None)
        return self.run(_enroll("ir", new_key, options), config=config)

    def certify(self, new_key: Any = None, **options: Any) -> TransactionResult:
        """cr (``-cmd cr``), with the options of :meth:`enroll`."""
        config = options.pop("config", None)
        return self.run(_enroll("cr", new_key, options), config=config)

    def key_update(self, new_key: Any = None, **options: Any) -> TransactionResult:
        """kur (``-cmd kur``) of ``oldcert`` (default: the config's ``cert``)."""
        config = options.pop("config", None)
        return self.run(_enroll("kur", new_key, options), config=config)

    def p10cr(self, csr: x509.CertificateSigningRequest, **options: Any) -> TransactionResult:
        """p10cr (``-cmd p10cr``): enroll the PKCS#10 ``csr`` as it is."""
        config = options.pop("config", None)
        return self.run(_enroll("p10cr", None, {"csr": csr, **options}), config=config)

    def revoke(
        self,
        cert: x509.Certificate | None = None,
        *,
        reason: int = -1,
        csr: x509.CertificateSigningRequest | None = None,
        issuer: x509.Name | None = None,
        serial: int | None = None,
        config: TransactionConfig | None = None,
    ) -> TransactionResult:
        """rr (``-cmd rr``): revoke ``cert`` (or the one ``csr``, or
        ``issuer`` and ``serial``, name) with CRLReason ``reason`` (-1: none)."""
        return self.run(_revoke(cert, reason, csr, issuer, serial), config=config)

    def general_message(
        self,
        itavs: Sequence[InfoTypeAndValue] = (),
        *,
        infotypes: Sequence[str] = (),
        config: TransactionConfig | None = None,
        **options: Any,
    ) -> TransactionResult:
        """genm (``-cmd genm``) with ``itavs``, or asking for ``infotypes`` by
        name (``-infotype``); the genp's ITAVs are ``result.genp_itavs``."""
        return self.run(_general(itavs, infotypes, options), config=config)

    # --- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the transport (its connections)."""
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient(_ClientBase):
    """The asyncio form of :class:`Client`, same options and methods (awaitable).

    Transactions started concurrently (``asyncio.gather``, tasks) run side by
    side over one connection pool; each is its own :class:`Transaction`.
    """

    def __init__(
        self,
        server: str | None = None,
        *,
        config: TransactionConfig | None = None,
        transport: AsyncBaseTransport | None = None,
        msg_timeout: float | None = DEFAULT_MSG_TIMEOUT,
        path: str | None = None,
        tls: TLSConfig | None = None,
        proxy: str | None = None,
        no_proxy: str | Sequence[str] | None = None,
        trust_env: bool = True,
        keep_alive: int = 1,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        super().__init__(config, msg_timeout)
        if transport is None:
            if server is None:
                raise ValueError("give the server to talk to, or a transport")
            transport = AsyncHTTPTransport(
                server,
                path=path,
                tls=tls,
                proxy=proxy,
                no_proxy=no_proxy,
                trust_env=trust_env,
                keep_alive=keep_alive,
                max_response_size=max_response_size,
            )
        elif server is not None:
            raise ValueError("give server or transport, not both")
        if not isinstance(transport, AsyncBaseTransport):
            raise TypeError(
                f"AsyncClient needs an asynchronous transport, not {type(transport).__name__}"
            )
        self.transport = transport

    async def run(
        self, request: Request, *, config: TransactionConfig | None = None
    ) -> TransactionResult:
        """Run the transaction for ``request``; see :meth:`Client.run`."""
        tx = self._transaction(request, config)
        step: Step = tx.start()
        async with self.transport.asession() as session:
            while not isinstance(step, Done):
                try:
                    if isinstance(step, Wait) and step.seconds > 0:
                        await asyncio.sleep(step.seconds)
                    response = await self._exchange(session, tx, step.message.to_der())
                except BaseException as exc:
                    tx.fail(exc)
                    raise
                step = tx.receive(response)
        return step.result

    async def _exchange(
        self, session: AsyncBaseTransport, tx: Transaction, request: bytes
    ) -> bytes:
        timeout, total = self._round_trip_timeout(tx)
        try:
            exchange = await session.atransfer(request, timeout)
        except TransportTimeout as exc:
            if total:
                raise _total_timeout(tx) from exc
            raise
        self._replayed(tx, exchange)
        return exchange.response

    async def enroll(self, new_key: Any = None, **options: Any) -> TransactionResult:
        """ir; see :meth:`Client.enroll`."""
        config = options.pop("config", None)
        return await self.run(_enroll("ir", new_key, options), config=config)

    async def certify(self, new_key: Any = None, **options: Any) -> TransactionResult:
        """cr; see :meth:`Client.certify`."""
        config = options.pop("config", None)
        return await self.run(_enroll("cr", new_key, options), config=config)

    async def key_update(self, new_key: Any = None, **options: Any) -> TransactionResult:
        """kur; see :meth:`Client.key_update`."""
        config = options.pop("config", None)
        return await self.run(_enroll("kur", new_key, options), config=config)

    async def p10cr(self, csr: x509.CertificateSigningRequest, **options: Any) -> TransactionResult:
        """p10cr; see :meth:`Client.p10cr`."""
        config = options.pop("config", None)
        return await self.run(_enroll("p10cr", None, {"csr": csr, **options}), config=config)

    async def revoke(
        self,
        cert: x509.Certificate | None = None,
        *,
        reason: int = -1,
        csr: x509.CertificateSigningRequest | None = None,
        issuer: x509.Name | None = None,
        serial: int | None = None,
        config: TransactionConfig | None = None,
    ) -> TransactionResult:
        """rr; see :meth:`Client.revoke`."""
        return await self.run(_revoke(cert, reason, csr, issuer, serial), config=config)

    async def general_message(
        self,
        itavs: Sequence[InfoTypeAndValue] = (),
        *,
        infotypes: Sequence[str] = (),
        config: TransactionConfig | None = None,
        **options: Any,
    ) -> TransactionResult:
        """genm; see :meth:`Client.general_message`."""
        return await self.run(_general(itavs, infotypes, options), config=config)

    async def aclose(self) -> None:
        """Close the transport (its connections)."""
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
