"""Refusals of an operator's request: the CLI prints the message and exits non-zero; nothing was changed."""

from collections.abc import Mapping

from services.projector.projection import Projection


class OperatorError(Exception):
    pass


def select_projections(name: str, projections: Mapping[str, Projection]) -> list[Projection]:
    """`all` or one projection by name."""
    if name == "all":
        return list(projections.values())
    if name not in projections:
        raise OperatorError(f"unknown projection {name!r}; expected one of: all, {', '.join(projections)}")
    return [projections[name]]
