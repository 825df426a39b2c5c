"""CPython port: read password_file and acl_file, install them, and re-read them on SIGHUP."""

from core import auth
from core.auth import SecurityError


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def load(cfg):
    """(Passwords or None, Acl or None) from the files cfg names; SecurityError if bad."""
    return auth.load(cfg, _read)


def start(broker, cfg):
    """Load and install the files at start; SecurityError stops the broker."""
    passwords, acl = load(cfg)
    auth.install(broker, passwords, acl)


def reload(broker, cfg, log):
    """SIGHUP: re-read both files; on any error keep the rules in use and say why."""
    if cfg.password_file is None and cfg.acl_file is None:
        log("notice", "Received SIGHUP: no password_file or acl_file to reload.")
        return
    try:
        passwords, acl = load(cfg)
    except SecurityError as e:
        log("error", "Error: reload after SIGHUP failed, keeping the current password and "
            "ACL rules: %s" % e)
        return
    auth.install(broker, passwords, acl)
    log("notice", "Received SIGHUP: reloaded%s%s." % (
        (" password_file %s (%d users)" % (cfg.password_file, len(passwords)))
        if passwords is not None else "",
        (" acl_file %s" % cfg.acl_file) if acl is not None else ""))
