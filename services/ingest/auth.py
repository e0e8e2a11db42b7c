"""Who may write: a bearer token with the `events:write` scope; its name is who recorded the event."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.common.auth import ApiToken, Scope
from services.common.bearer import require_scope

Writer = Annotated[ApiToken, Depends(require_scope(Scope.WRITE))]
