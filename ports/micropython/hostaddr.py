"""Start-up helpers of the port's outgoing connections (capture, bridges): whether an
address needs DNS, and this machine's name. Imported while they are set up and dropped
again (listeners.open_all)."""

import sys


def numeric(host):
    """True for an IPv4 or IPv6 address (dns.is_address, without importing dns.py), and for
    localhost, which getaddrinfo answers from /etc/hosts on the unix port without DNS."""
    if ":" in host or host == "localhost":
        return True
    parts = host.split(".")
    return len(parts) == 4 and not [p for p in parts if not p or len(p) > 3
                                    or [c for c in p if c not in "0123456789"] or int(p) > 255]


def host_name():
    """The network host name, /etc/hostname on unix, else the platform."""
    try:
        import network
        return network.hostname()
    except (ImportError, AttributeError, OSError, ValueError):
        pass
    try:
        with open("/etc/hostname") as f:
            n = f.read().strip()
            if n:
                return n
    except OSError:
        pass
    return "micropython-" + sys.platform
