"""The heavy reads' parts that rest on no server: the answer encoded in pieces, and the bounded slots."""

from __future__ import annotations

import asyncio

import pytest

from services.common.http import Unavailable
from services.domain.casualties import casualty_figures
from services.domain.summary import summarise
from services.query.heavy_reads import HeavyReadSlots, json_pieces
from services.query.models import Casualties
from tests.unit.test_domain_casualties import T0, row


def test_the_answer_in_pieces_is_the_answer_pydantic_writes() -> None:
    rows = [row("Ministry of Health", "government", value=590), row("Red Crescent", "ngo", low=500, high=700)]
    rows.append(row("Witness", "witness", text="hundreds", low=200, minute=3, verification="disputed"))
    answers = [
        Casualties(incident_id="kg", as_of=T0, categories=casualty_figures(rows)),
        Casualties(incident_id="kg", as_of=None, categories=[]),
        summarise(casualty_figures(rows), [], []),
    ]
    for answer in answers:
        assert "".join(json_pieces(answer)) == answer.model_dump_json()


async def test_a_read_past_the_slots_waits_then_is_unavailable_naming_them() -> None:
    slots = HeavyReadSlots(1, timeout_s=0.05)
    async with slots.slot():
        with pytest.raises(Unavailable, match=r"1 heavy reads .* are running; none ended within 0\.05s"):
            async with slots.slot():
                pass
    async with asyncio.timeout(1), slots.slot():  # released: the next one runs
        pass
