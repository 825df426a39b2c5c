"""The addresses of one network interface, for a listener's bind_interface (mosquitto.conf(5)).

getifaddrs(3) through ctypes: the standard library has no interface address list, and
the C call gives every address of every family (secondary IPv4 addresses and IPv6
included), on Linux and the BSDs / macOS alike.
"""

import ctypes
import ctypes.util
import errno
import socket
import sys


class NetifError(Exception):
    """The interface does not exist, has no address, or its addresses cannot be read."""


class _Sockaddr(ctypes.Structure):
    _fields_ = [("head", ctypes.c_uint16)]  # Linux: sa_family; BSD: sa_len, sa_family


class _Ifaddrs(ctypes.Structure):
    pass


_Ifaddrs._fields_ = [("ifa_next", ctypes.POINTER(_Ifaddrs)), ("ifa_name", ctypes.c_char_p),
                     ("ifa_flags", ctypes.c_uint), ("ifa_addr", ctypes.POINTER(_Sockaddr)),
                     ("ifa_netmask", ctypes.c_void_p), ("ifa_ifu", ctypes.c_void_p),
                     ("ifa_data", ctypes.c_void_p)]

_BSD = sys.platform.startswith(("darwin", "freebsd", "openbsd", "netbsd", "dragonfly"))


def _family(sa):
    raw = ctypes.string_at(ctypes.addressof(sa.contents), 2)
    return raw[1] if _BSD else int.from_bytes(raw, sys.byteorder)


def _all():
    """[(interface name, family, packed address, IPv6 scope id)] of this machine."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    head = ctypes.POINTER(_Ifaddrs)()
    if libc.getifaddrs(ctypes.byref(head)) != 0:
        e = ctypes.get_errno()
        raise NetifError("getifaddrs failed: %s" % errno.errorcode.get(e, e))
    out = []
    try:
        p = head
        while p:
            ifa = p.contents
            if ifa.ifa_addr:
                fam = _family(ifa.ifa_addr)
                base = ctypes.addressof(ifa.ifa_addr.contents)
                if fam == socket.AF_INET:
                    out.append((ifa.ifa_name.decode(), fam, ctypes.string_at(base + 4, 4), 0))
                elif fam == socket.AF_INET6:
                    raw = ctypes.string_at(base, 28)  # sockaddr_in6
                    out.append((ifa.ifa_name.decode(), fam, raw[8:24],
                                int.from_bytes(raw[24:28], sys.byteorder)))
            p = ifa.ifa_next
    finally:
        libc.freeifaddrs(head)
    return out


def addresses(name, port):
    """[(family, sockaddr)] to bind for every address of interface name (IPv4 first);
    NetifError when there is no such interface or it has no address."""
    found = [(fam, packed, scope) for n, fam, packed, scope in _all() if n == name]
    try:
        socket.if_nametoindex(name)
    except OSError:
        if not found:
            raise NetifError("no such network interface")
    picked = []
    for fam, packed, scope in sorted(found, key=lambda a: a[0] != socket.AF_INET):
        text = socket.inet_ntop(fam, packed)
        addr = (text, port) if fam == socket.AF_INET else (text, port, 0, scope)
        if (fam, addr) not in picked:
            picked.append((fam, addr))
    if not picked:
        raise NetifError("the interface has no address")
    return picked
