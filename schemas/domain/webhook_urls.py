"""Where a webhook may be sent: pure checks of a URL and of the addresses its host resolves
to. The resolution itself happens at every delivery (``activities.webhooks.sender``), so a
name that later points inside the network is refused then, not only at registration."""

import ipaddress
from urllib.parse import urlsplit

# Names that are local whatever DNS says.
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
LOCAL_SUFFIXES = (".localhost", ".local", ".internal")


def url_refusal(url: str, allow_private: bool) -> str | None:
    """Why ``url`` cannot be an endpoint (None: it can, as far as the URL shows)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the URL cannot be parsed"
    del port
    if parts.scheme not in ("https", "http"):
        return "the URL must be https"
    if parts.scheme != "https" and not allow_private:
        return "the URL must be https"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username or parts.password:
        return "the URL must not carry credentials"
    if parts.fragment:
        return "the URL must not have a fragment"
    if allow_private:
        return None
    host = parts.hostname.rstrip(".").lower()
    if host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES):
        return "the URL's host is local"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host.replace(".", "").isdigit():
            # 2130706433, 127.1, 0177.0.0.1: not a name, and the system's resolver reads each
            # as some address (here 127.0.0.1).
            return "the URL's host is not a canonical IP address"
        return None  # a name: its addresses are checked when it is resolved
    return address_refusal(address, allow_private)


def address_refusal(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool
) -> str | None:
    """Why a delivery must not connect to ``address``: anything not globally routable
    (loopback, private, link-local with the cloud metadata service, shared, reserved,
    multicast, unspecified), an IPv4 address mapped into IPv6 judged as itself."""
    if allow_private:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_global and not address.is_multicast:
        return None
    return f"the URL's host resolves to a non-public address ({address})"
