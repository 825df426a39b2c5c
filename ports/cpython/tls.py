"""CPython port: TLS listeners with the ssl module (mosquitto's certfile, keyfile, cafile,
require_certificate, use_identity_as_username, tls_version), handshakes without blocking."""

import selectors
import ssl

# tls_version is the oldest version a listener accepts (mosquitto 2); unset: TLS 1.2
VERSIONS = {"tlsv1.1": ssl.TLSVersion.TLSv1_1, "tlsv1.2": ssl.TLSVersion.TLSv1_2,
             "tlsv1.3": ssl.TLSVersion.TLSv1_3}

# raised by a non-blocking SSL socket that needs the peer before it can go on
WANT = (ssl.SSLWantReadError, ssl.SSLWantWriteError)


class TlsError(Exception):
    """A listener's certificate, key or CA file cannot be used (the message says why)."""


def context(listener):
    """A server-side SSLContext for listener, or None when it has no certfile."""
    if listener.certfile is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = VERSIONS[listener.tls_version or "tlsv1.2"]
    load_cert(ctx, listener)
    if listener.cafile is not None:
        try:
            ctx.load_verify_locations(listener.cafile)
        except (OSError, ssl.SSLError) as e:
            raise TlsError("Unable to load CA certificates from cafile %s: %s"
                           % (listener.cafile, reason(e)))
    # as in mosquitto, a client certificate is asked for only with require_certificate
    ctx.verify_mode = ssl.CERT_REQUIRED if listener.require_certificate else ssl.CERT_NONE
    return ctx


def load_cert(ctx, listener):
    """(Re)load the listener's certfile and keyfile into ctx; TlsError if unusable."""
    try:
        ctx.load_cert_chain(listener.certfile, listener.keyfile)
    except (OSError, ssl.SSLError) as e:
        raise TlsError("Unable to load server certificate %s and key %s: %s"
                       % (listener.certfile, listener.keyfile, reason(e)))


def wrap(ctx, sock):
    """The server side of a TLS connection on accepted socket sock (handshake not started)."""
    return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)


def handshake(sock):
    """Advance the handshake: 0 once done, else the selector events to wait for.

    Raises ssl.SSLError or OSError when the handshake fails.
    """
    try:
        sock.do_handshake()
    except ssl.SSLWantReadError:
        return selectors.EVENT_READ
    except ssl.SSLWantWriteError:
        return selectors.EVENT_WRITE
    return 0


def identity(sock):
    """The CN of the verified client certificate, or None."""
    cert = sock.getpeercert()
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def info(sock):
    """conn.tls_info for capture (core/README.md): version, cipher and the client certificate."""
    d = {}
    v = sock.version()  # "TLSv1.3"
    if v:
        d["version"] = v[4:] if v.startswith("TLSv") else v
    c = sock.cipher()
    if c:
        d["cipher"] = c[0]
    cert = sock.getpeercert()
    if cert:
        parts = []
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                parts.append("%s=%s" % (_DN_KEYS.get(key, key), value))
                if key == "commonName":
                    d["client_cn"] = value
        if parts:
            d["client_subject"] = ",".join(parts)
        if cert.get("serialNumber"):
            d["client_serial"] = cert["serialNumber"]
    return d


# the short attribute names of a distinguished name (RFC 4514) for the subject text
_DN_KEYS = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
            "countryName": "C", "stateOrProvinceName": "ST", "localityName": "L"}


def reason(e):
    """Short text of an ssl or OS error."""
    if isinstance(e, ssl.SSLError) and e.reason:
        return "%s (%s)" % (e.reason, e.library or "ssl")
    return getattr(e, "strerror", None) or str(e)
