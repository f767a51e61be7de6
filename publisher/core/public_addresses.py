"""Which network addresses the service may fetch from: public ones only.

A URL someone typed (a blog post, a feed) must not make the service reach
into its own network: the cloud metadata service at 169.254.169.254, a
database on 10.x, an admin page on 127.0.0.1. So every address a host name
resolves to is checked, and the connection is made to the address that was
checked, never to the name again (a second lookup could answer otherwise).
Loopback may be allowed for tests; private, link-local, unspecified,
multicast and reserved addresses never are.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: IPv6 addresses that carry an IPv4 one a router may forward to: NAT64's well-known prefix.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class AddressRule:
    """What a connection may reach: public addresses (``public``) and loopback ones (``loopback``)."""

    public: bool = True
    loopback: bool = False

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be reached ("a private address: only public …"), or None when it may."""
        ip = _embedded_ipv4(ipaddress.ip_address(address.split("%", 1)[0]))
        if ip.is_loopback and self.loopback:
            return None
        kind = kind_of(ip)
        if kind is None:
            return None if self.public else "a public address: plain http reaches loopback addresses only"
        stands_for = "" if str(ip) == address else f" (it stands for {ip})"
        return f"{kind} address{stands_for}: only public addresses are fetched"


def kind_of(ip: IPAddress) -> str | None:
    """The kind of a non-public address, with its article ("a private"); None for a public one."""
    # Order matters: loopback and link-local addresses are private too, and
    # the most precise name is the most useful one in a message.
    if ip.is_loopback:
        return "a loopback"
    if ip.is_unspecified:
        return "an unspecified"
    if ip.is_link_local:
        return "a link-local"
    if ip.is_multicast:
        return "a multicast"
    if ip.is_private:
        return "a private"
    if ip.is_reserved or not ip.is_global:
        return "a reserved (not public)"
    return None


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), which is where its packets end up."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip
