"""Options for tests/hil (registered here: pytest reads pytest_addoption only from the
conftest files it loads first, and `pytest tests` does not load tests/hil/conftest.py first)."""


def pytest_addoption(parser):
    g = parser.getgroup("hil", "hardware-in-the-loop tests (tests/hil)")
    g.addoption("--board", metavar="DEVICE", default=None,
                help="run tests/hil on this board (mpremote device: /dev/ttyACM0, "
                     "socket://HOST:PORT, ...); default: a simulated board (tools/simboard.py)")
    g.addoption("--board-host", metavar="HOST", default=None,
                help="address MQTT clients use to reach the board (needed with --board)")
    g.addoption("--board-type", default="esp32", choices=("esp32", "rp2040w"),
                help="board model: config from boards/TYPE/ (default esp32)")
    g.addoption("--board-network", metavar="FILE", default=None,
                help="filled-in network.json for the board (needed with --board)")
