"""Partitions of the event stream: subjects, names and the refusals that need no server."""

from __future__ import annotations

from unittest.mock import patch

import pytest
from nats.js.api import StreamConfig
from typer.testing import CliRunner

from services.cli.app import app
from services.common.eventstream import EventStream, stored_partitions
from services.projector.group import ProjectionGroup, group_covers
from services.projector.partition import NoSuchPartition, Partition
from services.projector.read_models import PROJECTIONS


def test_one_partition_keeps_the_contracts_subjects_and_names() -> None:
    stream = EventStream()
    assert stream.subject_transform is None
    assert stream.stored_subjects == stream.partition_events(0) == "crisis.events.>"
    assert stream.published_subject("crisis.events.kg.ResultsAnnulled") == "crisis.events.kg.ResultsAnnulled"
    group = ProjectionGroup.of(PROJECTIONS.values())
    assert (group.durable_name, group.lease_name) == ("projector-all", "all")
    assert stored_partitions(StreamConfig(name="S")) == 1


def test_partitions_append_a_token_that_filters_and_names_follow() -> None:
    stream = EventStream(partitions=3)
    transform = stream.subject_transform
    assert transform is not None and transform.src == stream.stored_subjects == "crisis.events.*.*"
    assert transform.dest == "crisis.events.{{wildcard(1)}}.{{wildcard(2)}}.{{partition(3,1)}}"
    assert stored_partitions(StreamConfig(name="S", subject_transform=transform)) == 3
    assert stream.partition_events(2) == "crisis.events.*.*.2"
    assert stream.incident_subjects("kg") == "crisis.events.kg.>"  # matches with and without the token
    assert stream.published_subject("crisis.events.kg.ResultsAnnulled.2") == "crisis.events.kg.ResultsAnnulled"
    group = ProjectionGroup.of(PROJECTIONS.values(), Partition(2, 3))
    assert (group.durable_name, group.lease_name) == ("projector-all@2", "all@2")
    assert group.lease_names[0].endswith("@2")
    assert group_covers("all@2", "timeline@2") and not group_covers("all@1", "timeline@2")
    assert not group_covers("all", "timeline@2")


def test_a_partition_outside_the_stream_is_refused_by_name() -> None:
    with pytest.raises(NoSuchPartition, match=r"partition 3 does not exist: the stream has 3 partition\(s\), 0..2"):
        Partition(3, 3)
    with pytest.raises(ValueError, match="partition 1 does not exist"):
        EventStream().partition_events(1)


def test_crisis_up_refuses_a_partitioned_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISIS_STREAM_PARTITIONS", "2")
    with patch("services.cli.app.configure_logging"):
        result = CliRunner().invoke(app, ["up"])
    assert result.exit_code == 2
    assert "crisis up runs one projector" in result.output
