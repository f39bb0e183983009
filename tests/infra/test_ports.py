"""A port is free again as soon as the local cloud stopped (TIME_WAIT connections do not block it)."""
from __future__ import annotations

import socket

from infra.emulator import Emulator


def port_in_time_wait() -> int:
    """A port whose listener is closed and whose last connection, closed by the server first, is in TIME_WAIT."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()          # the server side closes first: its end goes to TIME_WAIT, as after `notifyx up` stops
    client.recv(1)
    client.close()
    server.close()
    return port


def test_a_port_in_time_wait_cannot_be_bound_without_reuse():
    port = port_in_time_wait()
    with socket.socket() as plain:
        try:
            plain.bind(("127.0.0.1", port))
        except OSError:
            return
    raise AssertionError("expected EADDRINUSE: the check below would prove nothing")


def test_the_emulator_starts_at_once_on_a_port_in_time_wait():
    port = port_in_time_wait()
    emulator = Emulator(port).start()
    try:
        assert emulator.port == port
    finally:
        emulator.stop()


def test_a_port_someone_listens_on_is_still_refused():
    import pytest

    from infra.emulator import EmulatorError

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with pytest.raises(EmulatorError, match="Address already in use"):
            Emulator(listener.getsockname()[1]).start()
