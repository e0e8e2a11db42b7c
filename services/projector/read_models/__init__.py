"""The read models, one module each; PROJECTIONS lists them in the order they are run."""

from services.projector.projection import Projection
from services.projector.read_models.event_log import event_log
from services.projector.read_models.incidents import incidents

PROJECTIONS: dict[str, Projection] = {p.name: p for p in (event_log, incidents)}
