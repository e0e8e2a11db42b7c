"""The minimum nats-server version is enforced with a message that names it."""

from types import SimpleNamespace
from typing import Any

import pytest
from nats.aio.client import Client

from services.common.eventstream import NatsTooOld, check_server_version


def client_of_version(major: int, minor: int, patch: int) -> Any:
    version = SimpleNamespace(major=major, minor=minor, patch=patch)
    return SimpleNamespace(connected_server_version=version)


def test_a_server_older_than_2_11_is_refused_naming_the_minimum() -> None:
    with pytest.raises(NatsTooOld, match=r"nats-server 2\.9\.10 is too old.*>= 2\.11\.0"):
        check_server_version(client_of_version(2, 9, 10))


@pytest.mark.parametrize("version", [(2, 11, 0), (2, 15, 1), (3, 0, 0)])
def test_current_servers_pass(version: tuple[int, int, int]) -> None:
    client: Client = client_of_version(*version)
    check_server_version(client)
