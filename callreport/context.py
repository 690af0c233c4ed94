"""What a handler gets besides its parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from callreport.principal import Principal
from callreport.settings import Settings


@dataclass(frozen=True)
class Ctx:
    """The caller, the engine, the storage and the settings of one request."""

    principal: Principal
    engine: Engine
    settings: Settings
    storage: Any
    request_id: str
