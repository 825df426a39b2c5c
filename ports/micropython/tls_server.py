"""MicroPython port: TLS listeners (certfile, keyfile, cafile, require_certificate,
use_identity_as_username, tls_version) with mbedTLS through the built-in `tls` module (the
C module under `ssl`, whose name this file cannot take); handshakes run inside the poll
loop. loop.py imports it only when a listener has a certfile; tls_setup.py makes the
contexts."""

import errno
import sys

ctxs = {}  # Listener -> its SSLContext (setup())
hs = {}  # TLS socket -> [raw socket, client certificate DER] until its first bytes
tlss = {}  # TLS socket -> length mbedTLS waits to be offered again (send()), else 0
peer = None  # DER of the client certificate the verify callback saw during this read

_CHUNK = 16384  # bytes given to one send() (mbedTLS cuts records at its own maximum)
_CN = b"\x55\x04\x03"  # OID 2.5.4.3, commonName


class TlsError(Exception):
    """A TLS listener cannot be served (the message names the file or option and why)."""


def setup(listeners):
    """Make the SSLContext of every listener with a certfile; returns this module.

    Raises loop.ListenError when one cannot work (the port then exits with 1).
    """
    import tls_setup  # start-up only: dropped again below to give its code back
    try:
        tls_setup.setup(listeners, ctxs)
    except TlsError as e:
        from loop import ListenError
        raise ListenError("Error: %s" % e)
    finally:
        sys.modules.pop("tls_setup", None)
    return sys.modules[__name__]


def cert_seen(cert, depth):
    """The SSLContext's verify_callback: keeps the client's own certificate (depth 0)."""
    # mbedTLS calls this for each certificate of the client's chain while verifying it.
    # It must never raise (it runs inside C code); cert is only valid during the call.
    global peer
    if depth == 0:
        try:
            peer = bytes(cert)
        except MemoryError:
            peer = None
    return 0  # leave the verdict to mbedTLS


def wrap(server, listener, sock, ip, port):
    """The TLS socket for accepted sock (handshake not started), or None (logged, closed)."""
    try:
        s = ctxs[listener].wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    except (OSError, MemoryError) as e:
        server.log("notice", "TLS setup for %s:%d failed: %s" % (ip, port, reason(e)))
        sock.close()
        return None
    hs[s] = [sock, None]  # the raw socket: a failed handshake leaves it open
    tlss[s] = 0
    return s


def forget(sock):
    """Drop what is kept for sock (any socket the loop closes)."""
    hs.pop(sock, None)
    tlss.pop(sock, None)


def read(server, conn):
    """conn.port_data.readinto(server.buf) for any client socket (see read_hs)."""
    sock = conn.port_data
    if sock in hs:
        return read_hs(server, conn)
    return sock.readinto(server.buf)


def read_hs(server, conn):
    """readinto for conn while its handshake runs: None until the first bytes arrive, then
    their count (conn.cert_username set before); 0 after a failed handshake (logged)."""
    global peer
    sock = conn.port_data
    peer = None
    try:
        n = sock.readinto(server.buf)  # mbedTLS advances the handshake inside
    except OSError as e:
        if e.args and e.args[0] == errno.EAGAIN:
            return None
        n = e
    except ValueError as e:  # the client certificate failed verification
        n = e
    st = hs[sock]
    if peer is not None:
        st[1] = peer
        peer = None
    if n is None:
        return None
    if not isinstance(n, int):
        server.log("notice", "TLS handshake with %s:%d failed: %s"
                   % (conn.ip, conn.port, reason(n)))
        st[0].close()  # mbedTLS let go of it without closing it
        return 0
    del hs[sock]
    if n:
        cn = identity(st[1])
        conn.tls_info = {"client_cn": cn} if cn else {}  # capture's tls.* (mbedTLS: no more)
        if conn.listener.use_identity_as_username:
            conn.cert_username = cn  # core/handle_connect.py
    return n


def send(server, sock, out):
    """sock.write(out) for any client socket: bytes taken, or None when it would block.

    After mbedTLS answers "would block" the next call must offer the same length again
    (its record is already made), even if more bytes were queued meanwhile.
    """
    size = tlss.get(sock)
    if size is None:
        return sock.write(out)  # a plain socket
    size = size or min(len(out), _CHUNK)
    # send() is one mbedTLS write; write() may loop and hide a half-sent record
    n = sock.send(memoryview(out)[:size]) if hasattr(sock, "send") else \
        sock.write(memoryview(out)[:min(size, 512)])
    tlss[sock] = size if n is None else 0
    return n


def _tlv(b, i):
    """(tag, start, end) of the value of the DER item at b[i]."""
    tag = b[i]
    n = b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = 0
        while k:
            n = (n << 8) | b[i]
            i += 1
            k -= 1
    return tag, i, i + n


def identity(der):
    """The first commonName of a DER certificate's subject, or None."""
    if not der:
        return None
    try:
        i = _tlv(der, 0)[1]  # Certificate: into it
        i = _tlv(der, i)[1]  # tbsCertificate: into it
        if der[i] == 0xA0:
            i = _tlv(der, i)[2]  # [0] version
        for _ in range(4):  # serialNumber, signature, issuer, validity
            i = _tlv(der, i)[2]
        _, i, end = _tlv(der, i)  # subject: a SEQUENCE of SETs of (OID, value)
        while i < end:
            _, j, set_end = _tlv(der, i)
            while j < set_end:
                _, k, ava_end = _tlv(der, j)
                _, s, e = _tlv(der, k)
                if der[s:e] == _CN:
                    tag, s, e = _tlv(der, e)
                    v = der[s:e]
                    if tag == 0x1E:  # BMPString: UTF-16BE
                        return "".join([chr((v[x] << 8) | v[x + 1])
                                        for x in range(0, len(v) - 1, 2)])
                    return v.decode()
                j = ava_end
            i = set_end
    except (IndexError, UnicodeError):
        return None
    return None


def reason(e):
    """Short text of an mbedTLS, verification or OS error."""
    if isinstance(e, MemoryError):
        return "out of memory"
    a = e.args
    if isinstance(e, OSError) and a:
        if len(a) > 1:
            return str(a[1])  # mbedTLS: (code, "SSL - ...")
        if isinstance(a[0], int):
            if a[0] < 0:
                return "mbedTLS error -0x%04x" % -a[0]
            from loop import errno_text
            return errno_text(e)
    return " ".join(str(e).split())  # the verification reasons come one per line
