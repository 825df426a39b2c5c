"""The bridge options of mosquitto.conf (core/bridge/options.py), through core.config's parser."""

from core.config import parse_config, ConfigError
from core.bridge.conf import OUT, IN, BOTH


def error_of(text):
    try:
        parse_config(text, "b.conf")
    except ConfigError as e:
        return (e.lineno, e.reason)
    raise AssertionError("no ConfigError")


def test_a_connection_section_holds_its_options_with_mosquittos_defaults():
    c = parse_config("listener 1883\nconnection cloud\naddress a.example:8883 10.0.0.2\n"
                     "topic # both 2\ntopic sensors/+ out 1 site/ edge/\n"
                     "topic \"\" in 0 local/cmd remote/cmd\nremote_username u\n"
                     "remote_password p\nbridge_cafile /ca.crt\nmax_queued_messages 50\n")
    (b,) = c.bridges
    assert b.name == "cloud" and b.line == 2
    assert b.addresses == [("a.example", 8883), ("10.0.0.2", 1883)]
    assert b.topics == [("#", "#", BOTH, 2, "", ""),
                        ("site/sensors/+", "edge/sensors/+", OUT, 1, "site/", "edge/"),
                        ("local/cmd", "remote/cmd", IN, 0, "local/cmd", "remote/cmd")]
    assert (b.remote_username, b.remote_password, b.tls()) == ("u", "p", True)
    assert (b.cleansession, b.keepalive_interval, b.restart_base, b.restart_cap,
            b.try_private, b.notifications, b.protocol_version) == (False, 60, 5, 30, True,
                                                                    True, 4)
    assert c.max_queued_messages == 50  # a global option after the section stays global
    assert c.warnings == []


def test_topic_defaults_to_out_at_qos_0_and_restart_timeout_may_be_constant():
    c = parse_config("connection a\naddress h\ntopic x/y\nrestart_timeout 20\n"
                     "connection b\naddress h\ntopic z in\n")
    a, b = c.bridges
    assert a.topics == [("x/y", "x/y", OUT, 0, "", "")] and b.topics[0][2] == IN
    assert (a.restart_base, a.restart_cap) == (20, None)


def test_bad_bridge_lines_stop_the_broker_with_file_line_and_reason():
    assert error_of("address h\n") == (
        1, "option 'address' belongs to a bridge: it must follow a 'connection' line")
    assert error_of("connection a\ntopic # sideways\naddress h\n")[0] == 2
    assert error_of("connection a\naddress h\ntopic # out 3\n")[0] == 3
    assert error_of("connection a\naddress h\ntopic # out 1 onlylocal/\n")[0] == 3
    assert error_of("connection a\naddress h\ntopic \"\" out 1 \"\" r/\n")[0] == 3
    assert error_of("connection a\naddress h\ntopic # out 1 l/+/ r/\n")[0] == 3
    assert error_of("connection a\naddress h:99999\n")[0] == 2
    assert error_of("connection a\naddress h\nkeepalive_interval 4\n")[0] == 3
    assert error_of("connection a\naddress h\nbridge_protocol_version mqttv50\n")[0] == 3
    assert error_of("connection a\naddress h\nconnection a\naddress h\n") == (
        3, "duplicate bridge connection 'a' (first at line 1)")
    assert error_of("listener 1\nconnection a\ntopic # out\n") == (2, "bridge 'a': no address")
    assert error_of("connection a\naddress h\nremote_password p\n") == (
        1, "bridge 'a': remote_password needs remote_username")
    assert error_of("connection a\naddress h\nbridge_certfile c\nbridge_keyfile k\n") == (
        1, "bridge 'a': TLS options need bridge_cafile or bridge_capath")
    assert error_of("connection a\naddress h\nbridge_nonsense 1\n") == (
        3, "unknown option 'bridge_nonsense'")


def test_mosquitto_bridge_options_not_implemented_warn():
    c = parse_config("connection a\naddress h\ntopic #\nbridge_bind_address 10.0.0.1\n",
                     "w.conf")
    assert c.warnings == [
        "w.conf:4: option 'bridge_bind_address' is not supported yet and is ignored"]


def test_start_type_lazy_with_threshold_and_idle_timeout():
    c = parse_config("connection a\naddress h\ntopic #\nstart_type lazy\nthreshold 3\n"
                     "idle_timeout 30\n", "w.conf")
    b = c.bridges[0]
    assert (b.start_type, b.threshold, b.idle_timeout, c.warnings) == ("lazy", 3, 30, [])
    b = parse_config("connection a\naddress h\ntopic #\n", "w.conf").bridges[0]
    assert (b.threshold, b.idle_timeout) == (10, 60)  # mosquitto.conf(5)'s defaults
    assert error_of("connection a\naddress h\nthreshold 0\n")[0] == 3


def test_a_config_without_connection_loads_no_bridge_code():
    import sys
    for m in [m for m in sys.modules if m.startswith("core.bridge")]:
        del sys.modules[m]
    parse_config("listener 1883\ncapture_address h\nconnection_messages false\n")
    assert not [m for m in sys.modules if m.startswith("core.bridge")]
