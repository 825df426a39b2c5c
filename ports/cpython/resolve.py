"""Host names resolved for the broker's outgoing connections (capture, bridges): in a thread
of their own, as DNS may take seconds and must never stall the loop."""

import socket


def addresses(host, port):
    """[(family, sockaddr)] of host's IPv4 and IPv6 addresses, or the OSError that says why
    there are none (returned, not raised: the caller's thread stores it)."""
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
        return [(i[0], i[4]) for i in infos if i[0] in (socket.AF_INET, socket.AF_INET6)] or \
            OSError("no IPv4 or IPv6 address")
    except OSError as e:
        return e
