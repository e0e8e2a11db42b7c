"""NATS credentials from settings: the same choice reaches nats.connect and faststream's broker."""

from pathlib import Path

from faststream.nats.security import NatsNKey, NatsToken, NatsUserPassword
from pydantic import SecretStr

from services.common.eventstream import broker_options, connect_options
from services.common.nats_auth import nats_security
from services.common.settings import Settings


def test_no_credentials_configured_adds_none(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert nats_security(settings) is None
    assert "user" not in connect_options(settings, "t") and "token" not in connect_options(settings, "t")


def test_user_and_password_reach_both_clients(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, nats_user="ingest", nats_password=SecretStr("pw-secret"))
    options = connect_options(settings, "t")
    assert (options["user"], options["password"]) == ("ingest", "pw-secret")
    assert isinstance(broker_options(settings, "t")["security"], NatsUserPassword)


def test_the_strongest_configured_method_wins(tmp_path: Path) -> None:
    seed = tmp_path / "ingest.nk"
    seed.write_text("SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIP3LUM\n")
    settings = Settings(data_dir=tmp_path, nats_token=SecretStr("t0ken"), nats_nkey_seed_file=seed)
    assert isinstance(nats_security(settings), NatsNKey)
    assert connect_options(settings, "t")["nkeys_seed"] == str(seed)
    assert isinstance(nats_security(Settings(data_dir=tmp_path, nats_token=SecretStr("t0ken"))), NatsToken)
