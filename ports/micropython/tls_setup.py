"""MicroPython port, TLS listeners at start: the SSLContext of each listener from its
certfile, keyfile, cafile, require_certificate, use_identity_as_username and tls_version.
tls_server.setup() imports it and drops it again: its code is not needed afterwards."""

import binascii

try:
    import tls as _tls  # MicroPython >= 1.23: the C module that ssl.py wraps
except ImportError:
    _tls = None

from tls_server import TlsError, cert_seen, reason

_KEYS = (b"PRIVATE KEY", b"EC PRIVATE KEY", b"RSA PRIVATE KEY")


def setup(listeners, ctxs):
    """Put the SSLContext of every listener with a certfile in ctxs; TlsError if one
    cannot work."""
    for l in listeners:
        if l.certfile is not None:
            ctxs[l] = context(l)


def context(l):
    """A server-side context for listener l from its certfile, keyfile and cafile."""
    if _tls is None:
        raise TlsError("certfile %s: this MicroPython has no tls module (ssl with mbedTLS), "
                       "so it cannot serve TLS listeners" % l.certfile)
    ctx = _tls.SSLContext(_tls.PROTOCOL_TLS_SERVER)
    _chain(ctx, l.certfile, l.keyfile, "server certificate")
    if l.cafile is not None:
        _trust(ctx, l.cafile, "cafile")
    # as in mosquitto, a client certificate is asked for only with require_certificate
    ctx.verify_mode = _tls.CERT_REQUIRED if l.require_certificate else _tls.CERT_NONE
    if l.use_identity_as_username:
        try:
            ctx.verify_callback = cert_seen
        except (AttributeError, TypeError):
            raise TlsError("use_identity_as_username true on listener port %d: this "
                           "MicroPython's ssl module cannot show the client certificate"
                           % l.port)
    if l.tls_version == "tlsv1.3":
        _tls13(ctx, "tls_version tlsv1.3 on listener port %d" % l.port)
    return ctx


def client_context(c):
    """A client-side context for bridge c (core.bridge.conf.Bridge): the upstream's
    certificate verified against bridge_cafile or the files of bridge_capath, and
    bridge_certfile / bridge_keyfile presented when set."""
    if _tls is None:
        raise TlsError("bridge %s: this MicroPython has no tls module (ssl with mbedTLS), "
                       "so it cannot connect with TLS" % c.name)
    ctx = _tls.SSLContext(_tls.PROTOCOL_TLS_CLIENT)
    if c.certfile is not None:
        _chain(ctx, c.certfile, c.keyfile, "bridge %s certificate" % c.name)
    if c.cafile is not None:
        _trust(ctx, c.cafile, "bridge_cafile")
    if c.capath is not None:
        import os
        names = [n for n in os.listdir(c.capath) if not n.startswith(".")]
        for n in names:
            _trust(ctx, c.capath + "/" + n, "bridge_capath")
        if not names:
            raise TlsError("bridge %s: bridge_capath %s holds no certificate"
                           % (c.name, c.capath))
    ctx.verify_mode = _tls.CERT_REQUIRED
    if c.tls_version == "tlsv1.3":
        _tls13(ctx, "bridge %s: bridge_tls_version tlsv1.3" % c.name)
    # tlsv1.2 / tlsv1.1 (the oldest accepted): mbedTLS 3 offers nothing older than 1.2
    return ctx


def _chain(ctx, certfile, keyfile, name):
    """Load the one certificate of certfile and the key of keyfile into ctx."""
    what = "%s %s and key %s" % (name, certfile, keyfile)
    certs = _der(_read(certfile, what), (b"CERTIFICATE",), certfile, what)
    keys = _der(_read(keyfile, what), _KEYS, keyfile, what)
    if len(certs) > 1:
        # mbedTLS takes one DER certificate here: intermediates would be dropped silently
        raise TlsError("Unable to load %s: certfile holds %d certificates; the MicroPython "
                       "port presents the certificate alone, without a chain"
                       % (what, len(certs)))
    if len(keys) > 1:
        raise TlsError("Unable to load %s: keyfile holds %d keys" % (what, len(keys)))
    try:
        ctx.load_cert_chain(certs[0], keys[0])
    except (ValueError, OSError) as e:
        raise TlsError("Unable to load %s: %s" % (what, reason(e)))


def _trust(ctx, path, option):
    """Trust the CA certificates of file path (named by option in errors)."""
    what = "CA certificates from %s %s" % (option, path)
    for der in _der(_read(path, what), (b"CERTIFICATE",), path, what):
        try:
            ctx.load_verify_locations(der)  # each call adds to the trusted list
        except (ValueError, OSError) as e:
            raise TlsError("Unable to load %s: %s" % (what, reason(e)))


def _tls13(ctx, where):
    """Only TLS 1.3 suites in ctx (older versions cannot be agreed); TlsError without."""
    names = getattr(ctx, "get_ciphers", list)()
    tls13 = [c for c in names if c.startswith("TLS1-3")]
    if not tls13:
        raise TlsError("%s: this MicroPython's mbedTLS (%s) has no TLS 1.3"
                       % (where, _tls.MBEDTLS_VERSION))
    ctx.set_ciphers(tls13)


def _read(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        from loop import errno_text
        raise TlsError("Unable to load %s: %s: %s" % (what, path, errno_text(e)))


def _der(data, labels, path, what):
    """The DER items of a file: a DER file as it is, or the PEM blocks with these labels.

    This build's mbedTLS parses DER only, so PEM is decoded here.
    """
    if b"-----BEGIN " not in data:
        if not data:
            raise TlsError("Unable to load %s: %s is empty" % (what, path))
        return [data]  # DER: mbedTLS checks it
    out = []
    body = None  # base64 lines of the block being read; None outside a wanted block
    for line in data.split(b"\n"):
        line = line.strip()
        if line.startswith(b"-----BEGIN "):
            label = line[11:].rstrip(b"-")
            if label == b"ENCRYPTED PRIVATE KEY":
                raise TlsError("Unable to load %s: %s is encrypted; the MicroPython port "
                               "needs a key without a passphrase" % (what, path))
            body = [] if label in labels else None
        elif line.startswith(b"-----END "):
            if body is not None:
                try:
                    out.append(binascii.a2b_base64(b"".join(body)))
                except ValueError:
                    raise TlsError("Unable to load %s: %s: bad base64 in a PEM block"
                                   % (what, path))
            body = None
        elif body is not None and line:
            if b":" in line:  # an RFC 1421 header: Proc-Type: 4,ENCRYPTED and the like
                if b"ENCRYPTED" in line:
                    raise TlsError("Unable to load %s: %s is encrypted; the MicroPython "
                                   "port needs a key without a passphrase" % (what, path))
                continue
            body.append(line)
    if not out:
        raise TlsError("Unable to load %s: no %s in %s"
                       % (what, b" or ".join(labels).decode(), path))
    return out
