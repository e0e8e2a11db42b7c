"""Who may write: a bearer token with the `events:write` scope; its name is who recorded the event."""

from __future__ import annotations

from services.common.auth import Scope
from services.common.bearer import require_scope

# Called by the rate limit (ratelimit.py) rather than declared as a dependency of its own: each level of FastAPI's
# dependency solving cost single-event ingest about 5% of its CPU.
authorised_writer = require_scope(Scope.WRITE)
