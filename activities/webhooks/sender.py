"""One signed webhook POSTed to a tenant's endpoint, whose receiver is untrusted.

The receiver chooses where its name points, how fast it answers and what it answers, so:

- the URL is checked (``url_refusal``) before anything is sent, and the host's addresses
  are checked when it is resolved, at every delivery (``PublicOnlyResolver``): aiohttp
  connects to exactly the addresses the check saw, so a DNS answer that changes between
  the check and the connection cannot reach inside the network;
- a redirect is an answer (its status), never followed;
- the whole exchange, from the connection to the last byte kept, fits in the attempt's
  timeout, and at most ``RESPONSE_EXCERPT_BYTES`` of the answer's body are read;
- no proxy from the environment, no cookies kept, no connection reused.

Nothing here logs the body or the headers: they carry the signatures.
"""

import asyncio
import errno
import ipaddress
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver

from schemas.domain.webhook_urls import address_refusal
from schemas.domain.webhook_urls import url_refusal
from schemas.webhook_endpoints import ATTEMPT_TIMEOUT
from schemas.webhook_endpoints import RESPONSE_EXCERPT_BYTES

USER_AGENT = "paysaga-webhooks/1"


@dataclass(frozen=True)
class SendResult:
    """What came of one POST. ``status_code``: the answer's status (None: no answer), a 3xx
    included. ``excerpt``: the first ``RESPONSE_EXCERPT_BYTES`` of the answer's body ("" for an
    empty one). ``error``: why the exchange did not complete (no connection, no answer, or an
    answer cut off or too slow after its status); a delivery succeeded only with a 2xx status
    and no error."""

    status_code: int | None
    latency_ms: int
    excerpt: str | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


class AddressRefused(Exception):
    """A host resolved to an address a webhook must not reach. Not an ``OSError``: aiohttp
    would report that as a failed DNS lookup."""

    def __init__(self, refusal: str) -> None:
        super().__init__(refusal)
        self.refusal = refusal


class PublicOnlyResolver(AbstractResolver):
    """The system's resolution (``getaddrinfo``, as aiohttp's ``ThreadedResolver``), refused
    as a whole when any address is one a webhook must not reach: a name answering both a
    public and a private address would otherwise be reached on the private one when the
    public one does not answer."""

    def __init__(self, allow_private: bool, resolver: AbstractResolver | None = None) -> None:
        self._allow_private = allow_private
        self._resolver = resolver or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self._resolver.resolve(host, port, family)
        for address in addresses:
            try:
                ip = ipaddress.ip_address(address["host"])
            except ValueError:
                raise AddressRefused(f"the URL's host resolves to {address['host']!r}") from None
            refusal = address_refusal(ip, self._allow_private)
            if refusal is not None:
                raise AddressRefused(refusal)
        return addresses

    async def close(self) -> None:
        await self._resolver.close()


class WebhookSender:
    """Owns the aiohttp sessions (one per running event loop and ``allow_private``), created
    on first use; ``aclose()`` with the worker."""

    def __init__(self) -> None:
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session(self, allow_private: bool) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a session serves one loop only
            self._sessions = {}
            self._loop = loop
        session = self._sessions.get(allow_private)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                resolver=PublicOnlyResolver(allow_private),
                # Every delivery resolves its host again, and is checked again.
                use_dns_cache=False,
                # A connection serves one delivery: the next one is checked from its name, and a
                # receiver holds no idle socket of ours.
                force_close=True,
                # The worker's activity slots bound the deliveries in flight; a wait for a pool
                # slot would spend an attempt's time on someone else's slow receiver.
                limit=0,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                # ``send`` bounds each exchange itself (asyncio.timeout).
                timeout=aiohttp.ClientTimeout(total=None),
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                # The excerpt is of the bytes received: a compressed answer cannot expand past
                # the bound in memory.
                auto_decompress=False,
                raise_for_status=False,
            )
            self._sessions[allow_private] = session
        return session

    async def send(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        allow_private: bool,
        time_limit: timedelta = ATTEMPT_TIMEOUT,
    ) -> SendResult:
        """POST ``body`` with ``headers`` (the signature's) to ``url``. Never raises for what
        the receiver does: every outcome is a ``SendResult``."""
        refusal = url_refusal(url, allow_private)
        if refusal is not None:
            return SendResult(status_code=None, latency_ms=0, error=f"refused: {refusal}")
        request_headers = {
            "Content-Type": "application/json",
            **headers,
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",
        }
        started = time.monotonic()
        status_code: int | None = None
        excerpt = bytearray()
        error: str | None = None
        try:
            async with asyncio.timeout(time_limit.total_seconds()):
                async with self._session(allow_private).post(
                    url, data=body, headers=request_headers, allow_redirects=False
                ) as response:
                    status_code = response.status
                    try:
                        while len(excerpt) < RESPONSE_EXCERPT_BYTES:
                            chunk = await response.content.read(
                                RESPONSE_EXCERPT_BYTES - len(excerpt)
                            )
                            if not chunk:
                                break
                            excerpt += chunk
                    finally:
                        # The rest of the body is never read: the connection goes with it.
                        response.close()
        except TimeoutError:
            error = f"timed out after {time_limit.total_seconds():g} s"
        except AddressRefused as e:
            error = f"refused: {e.refusal}"
        except aiohttp.ClientError as e:
            error = _transport_error(e)
        latency_ms = round((time.monotonic() - started) * 1000)
        return SendResult(
            status_code=status_code,
            latency_ms=latency_ms,
            excerpt=None if status_code is None else excerpt.decode("utf-8", errors="replace"),
            error=error,
        )

    async def aclose(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            if not session.closed:
                await session.close()


def _transport_error(error: aiohttp.ClientError) -> str:
    """Why there was no (complete) answer, in words a tenant can act on. The exception's own
    text is not used: some carry the request's URL with its query."""
    if isinstance(error, aiohttp.InvalidURL):
        return "refused: the URL cannot be used"
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return "the URL's host could not be resolved"
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return f"the TLS certificate was not accepted ({error.certificate_error})"
    if isinstance(error, aiohttp.ClientSSLError):
        return "the TLS handshake failed"
    if isinstance(error, aiohttp.ClientConnectorError):
        if error.os_error.errno == errno.ECONNREFUSED:
            return "connection refused"
        return f"could not connect ({error.os_error.strerror or type(error.os_error).__name__})"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "the connection was closed before the answer"
    if isinstance(error, aiohttp.ClientPayloadError):
        return "the answer's body was cut off"
    if isinstance(error, aiohttp.ClientResponseError):
        return "the answer was not valid HTTP"
    return f"the request failed ({type(error).__name__})"
