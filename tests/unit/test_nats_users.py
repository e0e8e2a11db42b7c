"""The NATS users and permissions are written once: deploy/nats/secure.conf carries the embedded server's block."""

from pathlib import Path

from services.common.nats_users import PROJECTOR_CONSUMERS, USERS, authorization_block, password_variable
from services.projector.group import ProjectionGroup
from services.projector.read_models import PROJECTIONS

SECURE_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "secure.conf"


def test_secure_conf_has_the_generated_authorization_block() -> None:
    text = SECURE_CONF.read_text()
    assert text.endswith(authorization_block()), "regenerate its block from services/common/nats_users.py"


def test_every_password_comes_from_the_servers_environment() -> None:
    block = authorization_block()
    assert [f"password: ${password_variable(user)}" in block for user in USERS] == [True] * len(USERS)
    assert "CRISIS_NATS_QUERY_PASSWORD" in block


def test_only_ingest_and_the_operator_may_publish_events() -> None:
    publishers = {user for user, p in USERS.items() if "crisis.events.>" in p.publish or ">" in p.publish}
    assert publishers == {"ingest", "operator"}
    assert all("crisis.events.>" in p.publish_deny for user, p in USERS.items() if user not in publishers)


def test_the_subscriber_is_denied_every_consumer_the_projector_may_run() -> None:
    groups = [ProjectionGroup.of(PROJECTIONS.values()), *(ProjectionGroup.of([p]) for p in PROJECTIONS.values())]
    assert set(PROJECTOR_CONSUMERS) == {group.durable_name for group in groups}
    denied = USERS["subscriber"].publish_deny
    for consumer in PROJECTOR_CONSUMERS:
        assert f"$JS.API.CONSUMER.MSG.NEXT.CRISIS_EVENTS.{consumer}" in denied
        assert f"$JS.ACK.CRISIS_EVENTS.{consumer}.>" in denied
