"""Which network addresses are public: where the platform may send notices, and
where a record a reviewer is sent to fetch may be. A host that is loopback,
private, link-local (cloud metadata), CGNAT, multicast or reserved, in any
spelling, would let a tenant aim the platform, or a reviewer's client, at
someone's internals."""

from __future__ import annotations

import ipaddress
import socket

# IPv6 prefixes that carry an IPv4 address in their last 32 bits, which a translator
# or relay on the way (NAT64 on an IPv6-only cluster, 6to4) turns into that IPv4
# address: the address they carry is the one checked.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052, the well-known prefix
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765/6145 (SIIT): "IPv4-translated"
# Refused whatever they carry: local-use NAT64 (RFC 8215: embedded at any of several
# lengths, for a network's own translators) and the deprecated IPv4-compatible form.
_REFUSED_V6 = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("::/96"))
# Not public, though Python's `is_global` says so (its registry lags): site-local IPv6
# (deprecated, still routed inside some networks), IPv6 documentation (RFC 9637), SRv6
# segment ids (RFC 9602), and the IETF protocol assignments block of IPv4.
_NOT_PUBLIC = (ipaddress.ip_network("fec0::/10"), ipaddress.ip_network("3fff::/20"), ipaddress.ip_network("5f00::/16"),
               ipaddress.ip_network("192.0.0.0/24"))


def address_allowed(address: str) -> bool:
    """Whether notices may be sent to this IP address: a public one only, never
    loopback, private, link-local (cloud metadata), CGNAT, multicast or
    reserved, in whatever form it is written (IPv4 carried in IPv6 included:
    mapped, translated, NAT64, 6to4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _REFUSED_V6):
            return False
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64 or ip in _TRANSLATED:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global and not ip.is_multicast and not any(ip.version == net.version and ip in net
                                                            for net in _NOT_PUBLIC)


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host name spells literally, in any form a resolver accepts
    (127.1, 2130706433 and 0x7f000001 are all 127.0.0.1); None for a real name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))  # pure parsing, no lookup
    except OSError:
        return None


# Names that are never public (special-use and private-use domains: RFC 6761, 6762
# appendix G, 8375, ICANN's .internal; and a cluster's own service names).
_INTERNAL_SUFFIXES = (".internal", ".local", ".localdomain", ".home.arpa", ".lan", ".intranet", ".corp",
                      ".private", ".svc", ".cluster.local", ".test", ".invalid")


def internal_host_problem(host: str) -> str | None:
    """Why a URL's host (as urlsplit reads it) is not a public one by its spelling, or
    None: `localhost` and its subdomains, a name of a private-use domain or of one label
    (resolved through the local search domains), or an address literal that is not
    public. What a real name resolves to is the caller's to check where it connects."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "must not name localhost: it is each machine's own network"
    # The host is not echoed: a record's URI may carry anything, a patient's name included.
    if name.endswith(_INTERNAL_SUFFIXES) or name in {s.lstrip(".") for s in _INTERNAL_SUFFIXES}:
        suffix = next((s for s in _INTERNAL_SUFFIXES if name.endswith(s) or name == s.lstrip(".")))
        return f"must name a public host: its host is in a private-use domain ({suffix}, a network's own names)"
    if literal_address(name) is None and "." not in name and not name.startswith("["):
        return "must name a public host: its host has one label, resolved through a network's own search domains"
    address = literal_address(name)
    if address is not None and not address_allowed(str(address)):
        return ("must not point at a loopback, private or link-local address, nor any other that is not public "
                "(CGNAT, multicast, reserved, documentation)")
    return None
