"""An incident at a glance: the headline figures (best supported, with the range) and the key facts."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.domain.casualties import CategoryFigures, Count, Range
from services.domain.detentions import Person
from services.domain.elections import Election


class Headline(BaseModel):
    category: str
    group: str
    best_supported: Count | None
    source: str | None = Field(description="Who gave the best supported figure.")
    range: Range
    sources: int = Field(description="How many sources have a standing figure.")


class Summary(BaseModel):
    headline_figures: list[Headline]
    key_facts: list[str] = Field(description="E.g. the state of each election, and who is detained or released.")


def summarise(figures: list[CategoryFigures], elections: list[Election], people: list[Person]) -> Summary:
    headlines = [
        Headline(
            category=c.category,
            group=c.group,
            best_supported=c.best_supported.figure.count if c.best_supported else None,
            source=c.best_supported.figure.source["name"] if c.best_supported else None,
            range=c.range,
            sources=sum(1 for s in c.sources if s.latest is not None),
        )
        for c in figures
    ]
    facts = [_election_fact(e) for e in elections if e.steps]
    for status in ("detained", "released"):
        names = [p.person.name for p in people if p.status == status]
        if names:
            facts.append(f"{len(names)} {status}: {', '.join(names)}")
    return Summary(headline_figures=headlines, key_facts=facts)


def _election_fact(election: Election) -> str:
    last = election.steps[-1]
    fact = f"election {election.election_id}: {election.state}"
    if last.by:
        fact += f" by {last.by.name}"
    if last.why:
        fact += f" ({last.why})"
    return fact
