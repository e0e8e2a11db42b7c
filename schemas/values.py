"""Value objects shared by the envelope and the payloads: sources, places, precise times, fuzzy quantities."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, model_validator

from schemas import vocabulary
from schemas.bounds import Count

# A lowercase slug: safe as a single NATS subject token (no dots, spaces or wildcards).
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class Model(BaseModel):
    """Base of every contract model: strict about unknown fields, immutable once built, and no infinite or NaN
    number (JSON has none: they would be stored as null)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TimePrecision(StrEnum):
    """How precisely `occurred_at` is known: a report often says only "on Monday evening"."""

    SECOND = "second"
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"
    YEAR = "year"


class SourceKind(StrEnum):
    GOVERNMENT = "government"
    STATE_BODY = "state_body"
    MEDIA = "media"
    NGO = "ngo"
    INTERNATIONAL_ORG = "international_org"
    POLITICAL_PARTY = "political_party"
    WITNESS = "witness"
    OTHER = "other"


class Source(Model):
    """Who reported the fact (not who recorded it): "the government", "Interfax", "local media"."""

    name: Name
    kind: SourceKind
    url: HttpUrl | None = None
    via: Name | None = Field(default=None, description="An intermediary, e.g. the news agency that relayed it.")


class Location(Model):
    name: Name
    country: CountryCode = Field(description="ISO 3166-1 alpha-2 country code.")
    admin_area: Name | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _coordinates_come_in_pairs(self) -> Self:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        return self


class Quantity(Model):
    """A count as reported: exact (`value`), a range (`min`/`max`), or words (`text`) read through the vocabulary."""

    value: Count | None = None
    min: Count | None = None
    max: Count | None = None
    text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = Field(
        default=None,
        description='The source\'s words, kept verbatim ("Hundreds", "more than 200", "около 1 200"). Without '
        "min/max, the bounds are read from them, case- and spacing-insensitively, through the vocabulary in "
        "`x-vocabulary`; words outside it are kept and read as unknown bounds (never as an open range): give min "
        'and/or max with them. "about N" marks the figure approximate.',
        json_schema_extra={"x-vocabulary": vocabulary.published()},
    )

    @model_validator(mode="after")
    def _is_exact_range_or_vague(self) -> Self:
        if self.value is not None:
            if self.min is not None or self.max is not None:
                raise ValueError("give either value, or min/max, not both")
            return self
        if self.min is None and self.max is None and self.text is None:
            raise ValueError("give value, min/max, or text")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self

    @property
    def bounds(self) -> tuple[int | None, int | None]:
        """(lower, upper) implied by the figure: exact, the explicit min/max, else the words' reading; (None,
        None) when the words are not in the vocabulary (unknown), an upper of None when open-ended."""
        if self.value is not None:
            return self.value, self.value
        if self.min is None and self.max is None and self.text is not None:
            reading = vocabulary.read(self.text)
            return (None, None) if reading is None else (reading.lower, reading.upper)
        return self.min, self.max


class ActorKind(StrEnum):
    """`ngo` is new in version 2 of every type that names actors (NAMES_ACTORS_SINCE_V2)."""

    PERSON = "person"
    PARTY = "party"
    STATE_BODY = "state_body"
    SECURITY_FORCE = "security_force"
    INTERNATIONAL_ORG = "international_org"
    NGO = "ngo"
    MEDIA = "media"
    GROUP = "group"


class ActorRef(Model):
    """An actor named by a report: its registry id, plus the name and kind that register it when it is new."""

    id: Slug = Field(description="Registry id, e.g. almazbek-atambayev; the same id always names the same actor.")
    name: Name
    kind: ActorKind
    role: Name | None = Field(default=None, description="The role the report gives the actor at the time.")


class VerificationStatus(StrEnum):
    REPORTED = "reported"
    CORROBORATED = "corroborated"
    CONFIRMED = "confirmed"
    DISPUTED = "disputed"
    RETRACTED = "retracted"
