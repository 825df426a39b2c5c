"""The capture_* options of mosquitto.conf, for the config parser (core.config_parse), which
imports this module by its name (core.config.OPTION_MODULES) at the first capture_* line."""

from core import config_parse
from core.config import _Invalid, _int_range, MAX_PAYLOAD
from core.capture.conf import KINDS, FORMATS, PAYLOADS, parse_address

NAMES = ("capture_address", "capture_format", "capture_events", "capture_payload",
         "capture_payload_limit", "capture_topic", "capture_queue_size", "capture_broker_id",
         "capture_stats_interval", "capture_tls", "capture_cafile", "capture_deliveries")


def option(p, opt, args):
    """One capture_* line: its values checked and stored in the Config (core.config)."""
    if opt not in NAMES:
        raise _Invalid("unknown option '%s'" % opt)
    cfg = p.cfg
    if opt == "capture_events":
        if not args:
            config_parse._one(opt, args)
        kinds = []
        for w in " ".join(args).replace(",", " ").split():
            if w == "all":
                kinds.extend(KINDS)
            elif w in KINDS:
                kinds.append(w)
            else:
                raise _Invalid("invalid value '%s' for option 'capture_events': expected a "
                               "comma list of %s, or all" % (w, ", ".join(KINDS)))
        cfg.capture_events = kinds
        return
    v = config_parse._one(opt, args)
    if opt == "capture_address":
        try:
            parse_address(v)
        except ValueError as e:
            raise _Invalid("invalid value for option 'capture_address': %s" % e)
        cfg.capture_address = v
    elif opt == "capture_format":
        if v not in FORMATS:
            raise _Invalid("invalid value '%s' for option 'capture_format': expected ecs or "
                           "hicap" % v)
        cfg.capture_format = v
    elif opt == "capture_payload":
        if v not in PAYLOADS:
            raise _Invalid("invalid value '%s' for option 'capture_payload': expected none, "
                           "base64 or sha256" % v)
        cfg.capture_payload = v
    elif opt == "capture_payload_limit":
        cfg.capture_payload_limit = _int_range(opt, v, 0, MAX_PAYLOAD)
    elif opt == "capture_topic":
        from core.topic import check_filter
        from core.errors import ProtocolError
        try:
            check_filter(v)
        except ProtocolError as e:
            raise _Invalid("invalid value '%s' for option 'capture_topic': %s" % (v, e))
        cfg.capture_topics.append(v)
    elif opt == "capture_queue_size":
        cfg.capture_queue_size = _int_range(opt, v, 1024)
    elif opt == "capture_broker_id":
        cfg.capture_broker_id = v
    elif opt == "capture_stats_interval":
        cfg.capture_stats_interval = _int_range(opt, v, 0, 86400)
    elif opt == "capture_tls":
        cfg.capture_tls = config_parse._bool(opt, v)  # a port without TLS refuses it at start
    elif opt == "capture_deliveries":
        cfg.capture_deliveries = config_parse._bool(opt, v)
    elif opt == "capture_cafile":
        cfg.capture_cafile = v
