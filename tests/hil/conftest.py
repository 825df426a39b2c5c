"""Fixtures for tests/hil: the target board and the broker running on it.

Default target: a simulated board (tools/simboard.py, started here and powered off at the
end); the ROMFS tests add a second one with a ROMFS partition (simboard --romfs).
`pytest tests/hil --board /dev/ttyACM0 --board-host 192.168.4.1 --board-network
my-network.json [--board-type rp2040w]` runs the same tests on a real board.
"""

import os

import pytest

from hiltarget import BoardBroker, Target, start_simboard


@pytest.fixture(scope="session")
def target(request, tmp_path_factory):
    """The board under test, flashed and reachable; a simulated one unless --board."""
    opt = request.config.getoption
    device, board_type = opt("--board"), opt("--board-type")
    if device is None:
        t = start_simboard(board_type, str(tmp_path_factory.mktemp("simboard")))
    else:
        host, network = opt("--board-host"), opt("--board-network")
        if not host:
            pytest.exit("--board needs --board-host HOST (the board's IP address)", 3)
        if not network or not os.path.isfile(network):
            pytest.exit("--board needs --board-network FILE (a filled-in copy of "
                        "boards/%s/network.json)" % board_type, 3)
        t = Target(device, host, board_type, network_path=network)
    yield t
    t.close()


@pytest.fixture(scope="session")
def board(target, tmp_path_factory):
    """The broker on the target (BoardBroker); stopped at the end of the session."""
    b = BoardBroker(target, str(tmp_path_factory.mktemp("board")))
    yield b
    if b.running():
        b.stop()


@pytest.fixture(scope="session")
def romfs_target(request, tmp_path_factory):
    """A simulated board whose firmware has a 192 KB ROMFS partition (simboard --romfs);
    skipped on a real board, whose firmware the tests cannot choose."""
    if request.config.getoption("--board") is not None:
        pytest.skip("ROMFS tests run on a simulated board (tools/simboard.py --romfs); on a "
                    "real board with ROMFS firmware use tools/deploy.py --romfs by hand")
    t = start_simboard(request.config.getoption("--board-type"),
                       str(tmp_path_factory.mktemp("simboard-romfs")), romfs="192k")
    yield t
    t.close()


@pytest.fixture(scope="session")
def romfs_board(romfs_target, tmp_path_factory):
    """The broker on the ROMFS board, deployed with --romfs; stopped at the end."""
    b = BoardBroker(romfs_target, str(tmp_path_factory.mktemp("board-romfs")), romfs=True)
    yield b
    if b.running():
        b.stop()


@pytest.fixture
def broker(board):
    """The broker, running (started again if a test stopped it)."""
    if not board.running():
        board.start()
    return board


@pytest.fixture
def idle_board(board):
    """The board with the broker stopped (for deploy tests: mpremote needs the console)."""
    if board.running():
        board.stop()
    return board
