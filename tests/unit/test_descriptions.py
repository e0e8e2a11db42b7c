"""A readable line for every report whose source gave no description, derived from its payload."""

from __future__ import annotations

from schemas.events.observers import ObserverFindingsPublished
from schemas.events.political import OfficialAppointed, StateOfEmergencyDeclared
from schemas.values import ActorKind, ActorRef
from services.domain.descriptions import description

PRESIDENT = ActorRef(id="jeenbekov", name="Sooronbai Jeenbekov", kind=ActorKind.PERSON, role="President")


def test_a_report_without_a_description_reads_from_its_fields() -> None:
    emergency = StateOfEmergencyDeclared.model_validate(
        {"declared_by": PRESIDENT, "area": "Bishkek", "until": "2020-10-21T08:00:00+06:00", "measures": ["curfew"]}
    )
    assert description(emergency) == (
        "State of emergency declared: declared by Sooronbai Jeenbekov (President); area Bishkek; "
        "until 2020-10-21T08:00:00+06:00; measures curfew"
    )
    appointed = OfficialAppointed(person=PRESIDENT, office="Prime Minister")
    assert description(appointed) == "Official appointed: person Sooronbai Jeenbekov (President); office Prime Minister"


def test_the_source_s_own_account_comes_first() -> None:
    osce = ActorRef(id="osce", name="OSCE", kind=ActorKind.INTERNATIONAL_ORG)
    findings = ObserverFindingsPublished(observer=osce, findings=["vote-buying"], quote="Credible allegations")
    assert description(findings) == "Credible allegations"
    assert (
        description(findings.model_copy(update={"quote": None}))
        == "Observer findings published: observer OSCE; findings vote-buying"
    )
