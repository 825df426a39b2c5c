"""The command line every port shares (core/cli.py): flags to options or an exit code, and the
hicap fork's HICAP_HOST / HICAP_PORT variables."""

from core import cli
from core.config import parse_config


def run(argv, hidden=None):
    """command_line(argv) with its output captured: (result, stdout text, stderr text)."""
    out = []
    err = []
    r = cli.command_line(argv, hidden, out.append, err.append)
    return r, "".join(out), "".join(err)


def test_command_line_returns_the_options_and_writes_nothing():
    r, out, err = run(["-c", "b.conf", "-p", "1884", "-v"])
    assert (out, err) == ("", "")
    assert (r["config"], r["ports"], r["verbose"], r["help"]) == ("b.conf", [1884], True, False)


def test_command_line_help_writes_the_usage_to_stdout_and_exits_0():
    r, out, err = run(["-h"])
    assert (r, err) == (0, "")
    assert out == cli.USAGE and "Usage: main.py [-c config_file]" in out


def test_command_line_unknown_flag_writes_error_and_usage_to_stderr_and_exits_3():
    r, out, err = run(["-x"])
    assert (r, out) == (3, "")
    assert err == "Error: Unknown option '-x'.\n\n" + cli.USAGE


def test_command_line_missing_value_exits_3():
    r, out, err = run(["-c"])
    assert r == 3
    assert err.startswith("Error: -c argument given but no file specified.\n\n")


def test_command_line_daemon_mode_is_refused_with_exit_1_without_usage():
    r, out, err = run(["-d"])
    assert (r, out) == (1, "")
    assert err.startswith("Error: -d (daemon mode) is not supported") and cli.USAGE not in err


def test_command_line_takes_a_ports_hidden_options_with_their_minimum():
    hidden = {"--out-limit": ("out_limit", 0, 4096), "--recv-size": ("recv_size", 64, 2048)}
    r, _, _ = run(["--out-limit", "100"], hidden)
    assert (r["out_limit"], r["recv_size"]) == (100, 2048)
    r, _, _ = run(["--recv-size", "512"], hidden)
    assert (r["out_limit"], r["recv_size"]) == (4096, 512)
    r, _, err = run(["--recv-size", "10"], hidden)
    assert r == 3 and "--recv-size" in err


def test_hicap_variables_turn_capture_on_where_the_config_leaves_it_off():
    for conf, values, want in (
        ("", {"HICAP_HOST": "10.0.0.5", "HICAP_PORT": "5044"}, "10.0.0.5:5044"),
        ("", {"HICAP_PORT": "6000"}, "127.0.0.1:6000"),  # a port alone: this host
        ("", {"HICAP_HOST": "logs.example"}, "logs.example:12345"),  # the fork's port
        ("", {"HICAP_HOST": "::1", "HICAP_PORT": "7000"}, "[::1]:7000"),
        ("capture_address 192.0.2.1:5000\n", {"HICAP_HOST": "10.0.0.5"}, "192.0.2.1:5000"),
        ("", {}, None),
    ):
        cfg = parse_config("listener 1883\n" + conf, "t.conf")
        cli.capture_from_env(cfg, values.get)
        assert cfg.capture_address == want, (conf, values, cfg.capture_address)
