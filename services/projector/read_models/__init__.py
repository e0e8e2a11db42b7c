"""The read models, one module each; PROJECTIONS lists them in the order they are run."""

from services.projector.projection import Projection
from services.projector.read_models.actors import actors
from services.projector.read_models.casualties import casualties
from services.projector.read_models.detentions import detentions
from services.projector.read_models.elections import elections
from services.projector.read_models.event_log import event_log
from services.projector.read_models.facts import facts
from services.projector.read_models.incidents import incidents
from services.projector.read_models.statements import statements

PROJECTIONS: dict[str, Projection] = {
    p.name: p for p in (event_log, incidents, facts, casualties, elections, detentions, statements, actors)
}
