"""mosquitto.conf parsing: options, errors with line numbers, mosquitto 2 defaults, -p."""

from core.config import parse_config, Config, ConfigError
from core.listener import Listener


def error_of(text, filename="test.conf"):
    """The ConfigError that parsing text raises (fails the test if none)."""
    try:
        cfg = parse_config(text, filename)
    except ConfigError as e:
        return e
    assert False, "no ConfigError for %r (warnings %r)" % (text, cfg.warnings)


def expect_error(text, lineno, reason, filename="test.conf"):
    e = error_of(text, filename)
    assert (e.filename, e.lineno, e.reason) == (filename, lineno, reason), \
        (e.filename, e.lineno, e.reason)
    assert str(e) == "%s:%d: %s" % (filename, lineno, reason), str(e)


def binds(cfg):
    """(port, bind) of every listener, sorted (None sorts as "")."""
    return sorted((l.port, l.bind or "") for l in cfg.listeners)


# ---------------------------------------------------------------- defaults

def test_config_defaults_are_mosquitto_defaults():
    c = Config()
    assert c.listeners == []
    assert c.allow_anonymous is None
    assert c.max_connections == -1
    assert c.max_inflight_messages == 20
    assert c.max_queued_messages == 1000
    assert c.max_queued_bytes == 0
    assert c.message_size_limit == 0
    assert c.retain_available is True
    assert c.persistent_client_expiration is None
    assert c.max_keepalive == 65535
    assert c.max_packet_size == 0
    assert c.queue_qos0_messages is False
    assert c.upgrade_outgoing_qos is False
    assert c.allow_zero_length_clientid is True
    assert c.auto_id_prefix == "auto-"
    assert c.sys_interval == 10
    assert c.log_types == set(["error", "warning", "notice", "information"])
    assert c.connection_messages is True
    assert c.warnings == []
    assert c.local_only is False


def test_listener_defaults_are_plain_mqtt_without_tls():
    l = Listener(1884, "10.0.0.1")
    assert (l.port, l.bind, l.max_connections, l.protocol) == (1884, "10.0.0.1", -1, "mqtt")
    assert l.mount_point is None and l.bind_interface is None
    assert l.certfile is None and l.keyfile is None and l.cafile is None
    assert l.require_certificate is False and l.use_identity_as_username is False
    assert l.tls_version is None
    l = Listener()
    assert (l.port, l.bind) == (1883, None)
    assert "1883" in repr(l) and "all interfaces" in repr(l)


def test_no_config_file_is_local_only_on_loopback_1883_with_anonymous():
    c = Config()
    assert c.finish() is c
    assert c.local_only is True
    assert binds(c) == [(1883, "127.0.0.1"), (1883, "::1")]
    assert c.allow_anonymous is True
    assert [l.max_connections for l in c.listeners] == [-1, -1]
    assert c.warnings == []


def test_empty_and_comment_only_files_are_local_only():
    for text in ("", "\n\n", "# nothing\n   \n\t# indented\n", "sys_interval 5\n"):
        c = parse_config(text)
        assert c.local_only is True, text
        assert binds(c) == [(1883, "127.0.0.1"), (1883, "::1")], text
        assert c.allow_anonymous is True, text


def test_local_only_keeps_explicit_allow_anonymous_false():
    c = parse_config("allow_anonymous false\n")
    assert c.local_only is True
    assert c.allow_anonymous is False


def test_any_listener_turns_off_local_only_and_anonymous_by_default():
    c = parse_config("listener 1883\n")
    assert c.local_only is False
    assert binds(c) == [(1883, "")]
    assert c.listeners[0].bind is None
    assert c.allow_anonymous is False


def test_allow_anonymous_true_is_kept_with_a_listener():
    c = parse_config("allow_anonymous true\nlistener 1883\n")
    assert c.allow_anonymous is True
    c = parse_config("listener 1883\nallow_anonymous true\nallow_anonymous false\n")
    assert c.allow_anonymous is False  # the latest line wins


def test_finish_twice_changes_nothing():
    c = parse_config("listener 1883\nlog_dest stdout\n")
    before = (binds(c), list(c.warnings), c.allow_anonymous, c.local_only)
    c.finish()
    assert (binds(c), list(c.warnings), c.allow_anonymous, c.local_only) == before
    c = Config()
    c.finish()
    c.finish()
    assert binds(c) == [(1883, "127.0.0.1"), (1883, "::1")] and c.allow_anonymous is True


def test_config_built_by_hand_with_a_listener_is_not_local_only():
    c = Config()
    c.listeners.append(Listener(2000))
    c.finish()
    assert c.local_only is False and binds(c) == [(2000, "")] and c.allow_anonymous is False


# ---------------------------------------------------------------- listeners

def test_listener_with_bind_address_and_several_listeners():
    c = parse_config("listener 1883 127.0.0.1\nlistener 8883 ::1\nlistener 1884\n")
    assert binds(c) == [(1883, "127.0.0.1"), (1884, ""), (8883, "::1")]
    assert all(l.protocol == "mqtt" for l in c.listeners)


def test_same_port_on_different_addresses_is_allowed():
    c = parse_config("listener 1883 127.0.0.1\nlistener 1883 ::1\n")
    assert binds(c) == [(1883, "127.0.0.1"), (1883, "::1")]


def test_duplicate_listener_is_an_error_naming_both_lines():
    expect_error("listener 1883\n# x\nlistener 1883\n", 3,
                 "duplicate listener on port 1883 on all interfaces (first defined at line 1)")
    expect_error("listener 1883 ::1\n\nlistener 1884\nlistener 1883 ::1\n", 4,
                 "duplicate listener on port 1883 on ::1 (first defined at line 1)")


def test_listener_port_errors():
    expect_error("listener\n", 1, "missing value for option 'listener'")
    expect_error("listener 0 /tmp/mqtt.sock\n", 1,
                 "listener port 0 (a unix socket) is not supported")
    expect_error("listener 65536\n", 1,
                 "invalid value '65536' for option 'listener': must be between 1 and 65535")
    expect_error("listener -1\n", 1,
                 "invalid value '-1' for option 'listener': must be between 1 and 65535")
    expect_error("listener http\n", 1,
                 "invalid value 'http' for option 'listener': expected an integer")
    expect_error("listener 1883 ::1 extra\n", 1,
                 "too many values for option 'listener' (unexpected 'extra')")
    c = parse_config("listener 1\nlistener 65535\n")
    assert binds(c) == [(1, ""), (65535, "")]


def test_port_option_defines_default_listener_on_all_interfaces():
    c = parse_config("port 1884\n")
    assert c.local_only is False
    assert binds(c) == [(1884, "")]
    assert c.allow_anonymous is False


def test_bind_address_option_defines_default_listener_on_port_1883():
    c = parse_config("bind_address 127.0.0.1\n")
    assert binds(c) == [(1883, "127.0.0.1")]
    assert c.local_only is False
    c = parse_config("port 1999\nbind_address localhost\n")
    assert binds(c) == [(1999, "localhost")]
    c = parse_config("bind_address localhost\nport 1999\n")
    assert binds(c) == [(1999, "localhost")]


def test_port_option_is_global_even_after_listener_lines():
    c = parse_config("listener 8883\nport 1884\nlistener 9000\n")
    assert binds(c) == [(1884, ""), (8883, ""), (9000, "")]


def test_port_given_twice_warns_and_the_latest_wins():
    c = parse_config("port 1884\nport 1885\n", "a.conf")
    assert binds(c) == [(1885, "")]
    assert c.warnings == ["a.conf:2: default listener port given more than once: "
                          "only the latest (1885) is used"]


def test_default_listener_clashing_with_a_listener_is_a_duplicate():
    expect_error("listener 1883\nport 1883\n", 2,
                 "duplicate listener on port 1883 on all interfaces (first defined at line 1)")
    expect_error("bind_address ::1\nlistener 1883 ::1\n", 2,
                 "duplicate listener on port 1883 on ::1 (first defined at line 1)")


def test_port_and_bind_address_value_errors():
    expect_error("port 0\n", 1, "invalid value '0' for option 'port': must be between 1 and 65535")
    expect_error("port 70000\n", 1,
                 "invalid value '70000' for option 'port': must be between 1 and 65535")
    expect_error("port\n", 1, "missing value for option 'port'")
    expect_error("port 1 2\n", 1, "too many values for option 'port' (unexpected '2')")
    expect_error("bind_address\n", 1, "missing value for option 'bind_address'")
    expect_error("bind_address a b\n", 1,
                 "too many values for option 'bind_address' (unexpected 'b')")


def test_max_connections_before_listeners_is_the_default_for_all_listeners():
    c = parse_config("max_connections 10\nlistener 1883\nlistener 1884\nmax_connections 3\n")
    by_port = dict((l.port, l.max_connections) for l in c.listeners)
    assert by_port == {1883: 10, 1884: 3}
    assert c.max_connections == 10


def test_max_connections_after_a_listener_applies_to_that_listener_only():
    c = parse_config("listener 1883\nmax_connections 5\nlistener 1884\n")
    by_port = dict((l.port, l.max_connections) for l in c.listeners)
    assert by_port == {1883: 5, 1884: -1}
    assert c.max_connections == -1


def test_global_max_connections_applies_to_default_and_local_only_listeners():
    c = parse_config("max_connections 7\nport 1884\n")
    assert [l.max_connections for l in c.listeners] == [7]
    c = parse_config("max_connections 7\n")
    assert c.local_only and [l.max_connections for l in c.listeners] == [7, 7]


def test_max_connections_value_errors():
    c = parse_config("listener 1883\nmax_connections -1\nlistener 1884\nmax_connections 0\n")
    assert sorted(l.max_connections for l in c.listeners) == [-1, 0]
    expect_error("max_connections -2\n", 1,
                 "invalid value '-2' for option 'max_connections': must be at least -1")
    expect_error("listener 1883\nmax_connections many\n", 2,
                 "invalid value 'many' for option 'max_connections': expected an integer")


def test_protocol_mqtt_applies_to_current_listener():
    c = parse_config("listener 1883\nprotocol mqtt\n")
    assert c.listeners[0].protocol == "mqtt" and c.warnings == []


def test_protocol_websockets_listener_is_started_with_http_dir():
    c = parse_config("listener 1883\nlistener 8080\nprotocol websockets\n"
                     "http_dir /srv/www/\nwebsockets_headers_size 2048\n", "w.conf")
    assert binds(c) == [(1883, ""), (8080, "")]
    assert [l.protocol for l in c.listeners] == ["mqtt", "websockets"]
    assert c.listeners[1].http_dir == "/srv/www" and c.listeners[0].http_dir is None
    assert c.websockets_headers_size == 2048 and c.warnings == []


def test_websockets_only_config_is_not_local_only():
    c = parse_config("listener 8080\nprotocol websockets\n")
    assert binds(c) == [(8080, "")] and c.local_only is False and c.allow_anonymous is False
    assert c.warnings == []


def test_http_dir_on_an_mqtt_listener_warns():
    c = parse_config("listener 1883\nhttp_dir www\n", "h.conf")
    assert c.warnings == ["h.conf:1: http_dir of the listener on port 1883 on all "
                          "interfaces is ignored: it needs protocol websockets"]


def test_protocol_value_errors():
    expect_error("listener 1\nprotocol websocket\n", 2,
                 "invalid value 'websocket' for option 'protocol': expected mqtt or websockets")
    expect_error("listener 1\nprotocol\n", 2, "missing value for option 'protocol'")


def test_mount_point_and_bind_interface_apply_to_current_listener():
    c = parse_config("listener 1883\nlistener 1884\nmount_point site1/\nbind_interface eth0\n")
    l1, l2 = sorted(c.listeners, key=lambda l: l.port)
    assert (l1.mount_point, l1.bind_interface) == (None, None)
    assert (l2.mount_point, l2.bind_interface) == ("site1/", "eth0")


def test_mount_point_rejects_wildcards():
    for v in ("a/#", "a/+/", "+", "x#y"):
        expect_error("listener 1\nmount_point %s\n" % v, 2,
                     "invalid value '%s' for option 'mount_point': wildcards + and # "
                     "are not allowed" % v)


def test_per_listener_option_before_listeners_applies_to_default_listener():
    c = parse_config("mount_point dev/\nprotocol mqtt\nport 1884\n")
    assert binds(c) == [(1884, "")]
    assert c.listeners[0].mount_point == "dev/"
    assert c.warnings == []  # mount_point is supported: no warning


def test_per_listener_option_without_default_listener_warns_it_is_ignored():
    c = parse_config("# x\nmount_point dev/\nlistener 1883\n", "d.conf")
    assert c.listeners[0].mount_point is None
    assert "d.conf:2: option 'mount_point' before any 'listener' line applies " \
        "to the default listener, which only 'port' or 'bind_address' creates: it is ignored" \
        in c.warnings
    c = parse_config("bind_interface eth0\n")
    assert c.local_only and all(l.bind_interface is None for l in c.listeners)
    assert c.warnings and all("'bind_interface'" in w for w in c.warnings)


# ---------------------------------------------------------------- global options

BOOLS = ("allow_anonymous", "allow_zero_length_clientid", "connection_messages",
         "queue_qos0_messages", "retain_available", "upgrade_outgoing_qos")


def test_every_boolean_option_takes_true_and_false():
    for opt in BOOLS:
        for word, value in (("true", True), ("false", False)):
            c = parse_config("%s %s\n" % (opt, word))
            assert getattr(c, opt) is value, (opt, word)


def test_booleans_must_be_exactly_true_or_false():
    for opt in BOOLS:
        for bad in ("TRUE", "yes", "1", "on", "False"):
            expect_error("\n%s %s\n" % (opt, bad), 2,
                         "invalid value '%s' for option '%s': expected true or false"
                         % (bad, opt))


# (option, lowest, highest or None for no limit)
INTS = (("max_inflight_messages", 0, 65535), ("max_keepalive", 10, 65535),
        ("max_packet_size", 20, 268435460), ("max_queued_bytes", 0, None),
        ("max_queued_messages", 0, None), ("message_size_limit", 0, 268435455),
        ("sys_interval", 0, 65535))


def test_every_integer_option_accepts_its_range_limits():
    for opt, lo, hi in INTS:
        for v in (lo, hi if hi is not None else 10 ** 12):
            c = parse_config("%s %d\n" % (opt, v))
            assert getattr(c, opt) == v, (opt, v)


def test_every_integer_option_rejects_values_out_of_range():
    for opt, lo, hi in INTS:
        rng = "between %d and %d" % (lo, hi) if hi is not None else "at least %d" % lo
        expect_error("%s %d\n" % (opt, lo - 1), 1,
                     "invalid value '%d' for option '%s': must be %s" % (lo - 1, opt, rng))
        if hi is not None:
            expect_error("%s %d\n" % (opt, hi + 1), 1,
                         "invalid value '%d' for option '%s': must be %s" % (hi + 1, opt, rng))


def test_integers_must_be_plain_decimal():
    for opt, lo, hi in INTS:
        for bad in ("abc", "5x", "0x10", "1_000", "+5", "-", "1.5", "\u00b2"):
            expect_error("%s %s\n" % (opt, bad), 1,
                         "invalid value '%s' for option '%s': expected an integer" % (bad, opt))


def test_auto_id_prefix_is_a_single_word():
    assert parse_config("auto_id_prefix edge-\n").auto_id_prefix == "edge-"
    expect_error("auto_id_prefix\n", 1, "missing value for option 'auto_id_prefix'")
    expect_error("auto_id_prefix a b\n", 1,
                 "too many values for option 'auto_id_prefix' (unexpected 'b')")


def test_persistent_client_expiration_units_hour_day_week_month_year():
    for text, seconds in (("1h", 3600), ("2h", 7200), ("14d", 14 * 86400),
                          ("1w", 7 * 86400), ("2m", 60 * 86400), ("1y", 365 * 86400)):
        c = parse_config("persistent_client_expiration %s\n" % text)
        assert c.persistent_client_expiration == seconds, text


def test_persistent_client_expiration_rejects_what_mosquitto_rejects():
    # checked against mosquitto 2.0.11: bare seconds, zero, 's', upper case all fail
    for bad in ("3600", "0d", "2s", "1H", "-1d", "d", "1.5d", "1dd"):
        expect_error("persistent_client_expiration %s\n" % bad, 1,
                     "invalid value '%s' for option 'persistent_client_expiration': expected "
                     "a positive number followed by h, d, w, m or y (hour, day, week, month, "
                     "year), e.g. 14d" % bad)


def test_first_log_type_replaces_defaults_and_later_lines_add():
    c = parse_config("log_type error\nlog_type subscribe\n")
    assert c.log_types == set(["error", "subscribe"])
    c = parse_config("log_type error warning debug\n")
    assert c.log_types == set(["error", "warning", "debug"])


def test_log_type_all_and_none():
    c = parse_config("log_type all\n")
    assert c.log_types == set(["debug", "error", "warning", "notice", "information",
                               "subscribe", "unsubscribe", "websockets"])
    assert parse_config("log_type none\n").log_types == set()
    assert parse_config("log_type all\nlog_type none\nlog_type error\n").log_types \
        == set(["error"])


def test_log_type_errors():
    e = error_of("log_type errors\n")
    assert e.lineno == 1 and e.reason.startswith("invalid value 'errors' for option 'log_type'")
    assert "information" in e.reason
    expect_error("log_type\n", 1, "missing value for option 'log_type'")


def test_persistence_options_are_read_and_persistence_file_is_a_plain_name():
    c = parse_config("persistence true\npersistence_location /var/lib/mqtt-edge/\n"
                     "persistence_file broker.db\nautosave_interval 5\n"
                     "autosave_on_changes true\npersistence_journal_limit 65536\n")
    o = c.persist
    assert (o.enabled, o.location, o.file) == (True, "/var/lib/mqtt-edge/", "broker.db")
    assert (o.autosave_interval, o.autosave_on_changes, o.journal_limit) == (5, True, 65536)
    assert c.warnings == []
    assert parse_config("sys_interval 3\n").persist is None
    d = parse_config("autosave_interval 0\n").persist
    assert (d.enabled, d.file, d.autosave_interval, d.journal_limit) == \
        (False, "mqtt-edge.db", 0, None)
    for opt in ("persistence", "autosave_on_changes"):
        expect_error("%s yes\n" % opt, 1, "invalid value 'yes' for option '%s': expected "
                     "true or false" % opt)
    expect_error("autosave_interval -1\n", 1, "invalid value '-1' for option "
                 "'autosave_interval': must be at least 0")
    expect_error("persistence_journal_limit 4095\n", 1, "invalid value '4095' for option "
                 "'persistence_journal_limit': must be at least 4096")
    expect_error("persistence_file a/b.db\n", 1, "invalid value 'a/b.db' for option "
                 "'persistence_file': a file name without '/' (the folder is "
                 "persistence_location)")


def test_per_listener_settings_false_is_accepted_true_warns():
    c = parse_config("per_listener_settings false\n")
    assert c.warnings == []
    c = parse_config("per_listener_settings true\n", "p.conf")
    assert c.warnings == ["p.conf:1: option 'per_listener_settings true' is not supported yet "
                          "and is ignored: security options apply to all listeners"]
    expect_error("per_listener_settings 1\n", 1,
                 "invalid value '1' for option 'per_listener_settings': expected true or false")


SINGLE_VALUE = BOOLS + tuple(o for o, lo, hi in INTS) + (
    "auto_id_prefix", "persistent_client_expiration", "port", "bind_address",
    "max_connections", "protocol", "mount_point", "bind_interface", "per_listener_settings",
    "password_file", "acl_file", "http_dir", "websockets_headers_size", "persistence",
    "persistence_location", "persistence_file", "autosave_interval", "autosave_on_changes",
    "persistence_journal_limit")


def test_every_single_value_option_rejects_missing_and_extra_values():
    for opt in SINGLE_VALUE:
        expect_error("listener 1\n%s\n" % opt, 2, "missing value for option '%s'" % opt)
        expect_error("listener 1\n%s\t \n" % opt, 2, "missing value for option '%s'" % opt)
        expect_error("listener 1\n%s 1 2\n" % opt, 2,
                     "too many values for option '%s' (unexpected '2')" % opt)


# ---------------------------------------------------------------- file syntax

def test_unknown_option_is_an_error_with_its_line_number():
    expect_error("# comment\n\nsys_interval 5\nfoo bar\n", 4, "unknown option 'foo'")
    expect_error("Port 1883\n", 1, "unknown option 'Port'")  # names are case-sensitive
    expect_error("store_clean_interval 10\n", 1, "unknown option 'store_clean_interval'")
    expect_error("auth_opt_ x\n", 1, "unknown option 'auth_opt_'")


def test_error_filename_is_the_one_given():
    expect_error("\n\nbogus\n", 3, "unknown option 'bogus'", "/etc/mosquitto/mosquitto.conf")
    e = error_of("bogus\n", "x.conf")
    assert isinstance(e, Exception) and e.args == ("x.conf:1: unknown option 'bogus'",)


def test_config_error_without_line_number_has_short_form():
    e = ConfigError("f.conf", 0, "cannot read")
    assert str(e) == "f.conf: cannot read"
    assert (e.filename, e.lineno, e.reason) == ("f.conf", 0, "cannot read")
    e = ConfigError("f.conf", 12, "bad")
    assert str(e) == "f.conf:12: bad"


def test_comments_whitespace_and_line_endings():
    text = ("# header\r\n"
            "   # indented comment\r\n"
            "\tsys_interval\t  20   \r\n"
            "allow_anonymous true # trailing comment\r\n"
            "\r\n"
            "listener 1883   #main\n"
            "max_connections 4")  # no newline at end of file
    c = parse_config(text)
    assert c.sys_interval == 20 and c.allow_anonymous is True
    assert binds(c) == [(1883, "")] and c.listeners[0].max_connections == 4


def test_word_starting_with_hash_starts_a_comment_even_where_a_value_is_due():
    expect_error("listener 1\nmount_point #\n", 2, "missing value for option 'mount_point'")
    assert parse_config("auto_id_prefix a#b\n").auto_id_prefix == "a#b"


def test_line_numbers_count_crlf_lines_once():
    expect_error("# a\r\n# b\r\nnope 1\r\n", 3, "unknown option 'nope'")


def test_utf8_bytes_and_byte_order_mark_are_accepted():
    c = parse_config(b"\xef\xbb\xbfauto_id_prefix gr\xc3\xbc\xc3\x9f-\n")
    assert c.auto_id_prefix == "gr\u00fc\u00df-"
    c = parse_config(bytearray(b"sys_interval 3\n"))
    assert c.sys_interval == 3


def test_parse_config_returns_a_finished_config():
    c = parse_config("sys_interval 3\n")
    assert c.allow_anonymous is True and c.listeners
    assert c.filename == "mosquitto.conf"


# ---------------------------------------------------------------- unsupported options

# Every option of mosquitto.conf(5) for mosquitto 2.0 (plus the undocumented aliases
# plugin, clientid, username, password, retry_interval it still accepts): none may be
# an "unknown option"; each is either handled or warned about.
MOSQUITTO_2_0_OPTIONS = (
    "acl_file", "allow_anonymous", "allow_duplicate_messages", "allow_zero_length_clientid",
    "auth_plugin", "auth_plugin_deny_special_chars", "auto_id_prefix", "autosave_interval",
    "autosave_on_changes", "check_retain_source", "clientid_prefixes", "connection_messages",
    "include_dir", "log_dest", "log_facility", "log_timestamp", "log_timestamp_format",
    "log_type", "max_inflight_bytes", "max_inflight_messages", "max_keepalive",
    "max_packet_size", "max_queued_bytes", "max_queued_messages", "memory_limit",
    "message_size_limit", "password_file", "per_listener_settings", "persistence",
    "persistence_file", "persistence_location", "persistent_client_expiration", "pid_file",
    "psk_file", "queue_qos0_messages", "retain_available", "set_tcp_nodelay", "sys_interval",
    "upgrade_outgoing_qos", "user", "bind_address", "bind_interface", "http_dir", "listener",
    "max_connections", "max_qos", "max_topic_alias", "mount_point", "port", "protocol",
    "socket_domain", "use_username_as_clientid", "websockets_log_level",
    "websockets_headers_size", "cafile", "capath", "certfile", "ciphers", "ciphers_tls1.3",
    "crlfile", "dhparamfile", "keyfile", "require_certificate", "tls_engine",
    "tls_engine_kpass_sha1", "tls_keyform", "tls_version", "use_identity_as_username",
    "use_subject_as_username", "psk_hint", "address", "addresses",
    "bridge_attempt_unsubscribe", "bridge_bind_address", "bridge_max_packet_size",
    "bridge_outgoing_retain", "bridge_protocol_version", "cleansession",
    "local_cleansession", "connection", "keepalive_interval", "idle_timeout",
    "local_clientid", "local_password", "local_username", "notifications",
    "notifications_local_only", "notification_topic", "remote_clientid", "remote_password",
    "remote_username", "restart_timeout", "round_robin", "start_type", "threshold", "topic",
    "try_private", "bridge_alpn", "bridge_cafile", "bridge_capath", "bridge_certfile",
    "bridge_identity", "bridge_insecure", "bridge_keyfile", "bridge_psk",
    "bridge_require_ocsp", "bridge_tls_version",
    "plugin", "clientid", "username", "password", "retry_interval",
    "auth_opt_db_host", "plugin_opt_path",
)


def test_no_mosquitto_2_option_is_unknown():
    for opt in MOSQUITTO_2_0_OPTIONS:
        try:
            parse_config("listener 1\n%s x\n" % opt)
        except ConfigError as e:
            assert "unknown" not in e.reason, (opt, e.reason)


def test_unsupported_options_warn_with_file_and_line_and_are_ignored():
    from core.bridge.options import NAMES as BRIDGE  # a bridge's: they need its section
    supported = set(SINGLE_VALUE + ("listener", "log_type", "certfile", "keyfile", "cafile",
                                     "require_certificate", "use_identity_as_username",
                                     "tls_version", "max_qos", "max_topic_alias"))
    for opt in MOSQUITTO_2_0_OPTIONS:
        if opt in supported or opt in BRIDGE:
            continue
        c = parse_config("listener 1\n\n%s some value\n" % opt, "u.conf")
        assert c.warnings == ["u.conf:3: option '%s' is not supported yet and is ignored"
                              % opt], (opt, c.warnings)
        assert binds(c) == [(1, "")]


def test_tls_options_are_read_into_their_listener():
    c = parse_config("listener 8883\ncertfile /c.pem\nkeyfile /k.pem\ncafile /ca.pem\n"
                     "require_certificate true\nuse_identity_as_username true\n"
                     "tls_version tlsv1.2\nlistener 1883\n", "t.conf")
    l, plain = sorted(c.listeners, key=lambda l: -l.port)
    assert (l.certfile, l.keyfile, l.cafile, l.tls_version) == \
        ("/c.pem", "/k.pem", "/ca.pem", "tlsv1.2")
    assert l.require_certificate is True and l.use_identity_as_username is True
    assert plain.certfile is None and plain.require_certificate is False
    assert c.warnings == []


def test_max_qos_and_max_topic_alias_are_listener_options():
    c = parse_config("listener 1883\nmax_qos 1\nmax_topic_alias 0\nlistener 1884\n")
    a, b = sorted(c.listeners, key=lambda l: l.port)
    assert (a.max_qos, a.max_topic_alias, b.max_qos, b.max_topic_alias) == (1, 0, 2, 10)
    expect_error("listener 1\nmax_qos 3\n", 2, "invalid value '3' for option 'max_qos': "
                 "must be between 0 and 2")
    expect_error("listener 1\nmax_topic_alias 65536\n", 2, "invalid value '65536' for "
                 "option 'max_topic_alias': must be between 0 and 65535")


def test_include_dir_warns():
    c = parse_config("include_dir /etc/mosquitto/conf.d\n")
    assert c.warnings == ["mosquitto.conf:1: option 'include_dir' is not supported yet "
                          "and is ignored"]


def test_unsupported_option_without_value_is_an_error():
    expect_error("password_file\n", 1, "missing value for option 'password_file'")


# ---------------------------------------------------------------- -p (add_port)

def test_p_without_config_listens_on_loopback_only():
    c = Config()
    c.add_port(1884)
    c.add_port("1885")  # straight from argv
    c.finish()
    assert c.local_only is True and c.allow_anonymous is True
    assert binds(c) == [(1884, "127.0.0.1"), (1884, "::1"), (1885, "127.0.0.1"),
                        (1885, "::1")]


def test_p_after_finish_replaces_the_default_1883():
    c = Config().finish()
    c.add_port(1999)
    assert binds(c) == [(1999, "127.0.0.1"), (1999, "::1")]
    assert c.allow_anonymous is True and c.warnings == []


def test_p_with_config_file_without_listeners_listens_on_loopback():
    c = parse_config("sys_interval 5\nmax_connections 9\n")
    c.add_port(1884)
    assert c.local_only and binds(c) == [(1884, "127.0.0.1"), (1884, "::1")]
    assert [l.max_connections for l in c.listeners] == [9, 9]


def test_p_is_ignored_with_a_warning_when_config_defines_listeners():
    for text in ("listener 8883\n", "port 8883\n", "bind_address ::1\nport 8883\n"):
        c = parse_config(text, "m.conf")
        c.add_port(1884)
        assert [l.port for l in c.listeners] == [8883], text
        assert c.warnings == ["command line: -p 1884 is ignored because m.conf defines "
                              "listeners"], (text, c.warnings)
        c.finish()
        assert len(c.warnings) == 1


def test_p_keeps_explicit_allow_anonymous_false():
    c = parse_config("allow_anonymous false\n")
    c.add_port(1884)
    assert c.local_only and c.allow_anonymous is False


def test_p_bad_port_is_an_error():
    for bad in (0, 65536, -1, "abc", "", "1e3"):
        c = Config()
        try:
            c.add_port(bad)
        except ConfigError as e:
            assert e.filename == "command line" and e.lineno == 0
            assert e.reason.startswith("invalid value '%s' for option '-p'" % bad), e.reason
            assert str(e).startswith("command line: invalid value")
        else:
            assert False, bad


def test_p_same_port_twice_is_an_error():
    c = Config()
    c.add_port(1884)
    try:
        c.add_port("1884")
    except ConfigError as e:
        assert str(e) == "command line: -p 1884 given twice"
    else:
        assert False


# ---------------------------------------------------------------- a realistic file

def test_realistic_mosquitto_conf():
    text = """# Edge broker
per_listener_settings false
allow_anonymous true
persistent_client_expiration 14d
max_queued_messages 200
max_inflight_messages 10
message_size_limit 65536
log_type error
log_type warning
log_dest stdout
sys_interval 30
connection_messages false

listener 1883
max_connections 16

listener 8883 192.168.1.10
max_connections 4
mount_point secure/
certfile /etc/mosquitto/cert.pem
keyfile /etc/mosquitto/key.pem
"""
    c = parse_config(text, "edge.conf")
    assert c.allow_anonymous is True and c.local_only is False
    assert c.persistent_client_expiration == 14 * 86400
    assert (c.max_queued_messages, c.max_inflight_messages, c.message_size_limit) == \
        (200, 10, 65536)
    assert c.log_types == set(["error", "warning"])
    assert c.sys_interval == 30 and c.connection_messages is False
    l1, l2 = sorted(c.listeners, key=lambda l: l.port)
    assert (l1.port, l1.bind, l1.max_connections, l1.mount_point) == (1883, None, 16, None)
    assert (l2.port, l2.bind, l2.max_connections, l2.mount_point) == \
        (8883, "192.168.1.10", 4, "secure/")
    assert c.warnings == [
        "edge.conf:10: option 'log_dest' is not supported yet and is ignored",
    ]
    assert (l2.certfile, l2.keyfile) == ("/etc/mosquitto/cert.pem", "/etc/mosquitto/key.pem")


def test_settings_snapshot_keeps_every_public_value_and_no_code():
    from core.settings import snapshot
    cfg = parse_config("listener 1884 127.0.0.1\nmax_inflight_messages 7\n", "s.conf")
    s = snapshot(cfg)
    assert s.max_inflight_messages == 7  # set by the file (an instance value)
    assert s.max_queued_messages == 1000  # a class default of Config
    assert [(l.port, l.bind) for l in s.listeners] == [(1884, "127.0.0.1")]
    assert s.listeners[0].where() == "port 1884 on 127.0.0.1"  # Listener lives on
    assert not hasattr(s, "finish") and not hasattr(s, "add_port")
    assert not hasattr(s, "_default") and not hasattr(s, "_configured")
