"""Who is asking: a leaf that every layer may import (no SQL, no hashing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Principal:
    """Who is asking: their account, permissions and agent limit."""

    account_id: str
    account_name: str
    account_tz: str
    user_id: str
    permissions: frozenset[str]
    agents: tuple[str, ...] | None

    @property
    def sees_numbers(self) -> bool:
        """Whether full phone numbers may be shown to this user."""
        return "VIEW_NUMBER" in self.permissions

    @property
    def is_admin(self) -> bool:
        """Whether this user manages every export request of the account."""
        return "ADMIN" in self.permissions

    def snapshot(self) -> dict[str, Any]:
        """The principal as JSON-able values (stored with an export request for its worker)."""
        return {
            "account_id": self.account_id,
            "account_name": self.account_name,
            "account_tz": self.account_tz,
            "user_id": self.user_id,
            "permissions": sorted(self.permissions),
            "agents": list(self.agents) if self.agents is not None else None,
        }

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any]) -> Principal:
        """The principal that snapshot() described."""
        agents = snap.get("agents")
        return cls(
            account_id=snap["account_id"],
            account_name=snap["account_name"],
            account_tz=snap["account_tz"],
            user_id=snap["user_id"],
            permissions=frozenset(snap["permissions"]),
            agents=tuple(agents) if agents is not None else None,
        )
