"""Categories of a workspace (signed-in ``create_category``…; Dowell topics are categories of kind ``topic``)."""

from __future__ import annotations

from typing import Any

from models.helpdesk import Category
from models.roles import Principal
from services.ticket_access import TicketAccess
from storage.database import new_id


class CategoryCases(TicketAccess):
    """The category use cases of the signed-in helpdesk (its admins and managers change them)."""

    async def create_category(self, who: Principal, workspace_id: str, name: str, description: str) -> Category:
        """Add a category to a workspace (its admins and managers only)."""
        await self.workspaces.get(workspace_id)
        await self.require_manager_of(who, workspace_id)
        at = self.clock()
        category = Category(
            id=new_id(), workspace_id=workspace_id, name=name, description=description, created_at=at, updated_at=at
        )
        return await self.category_store.create(category)

    async def update_category(self, who: Principal, category_id: str, name: Any, description: Any) -> Category:
        """Rename or describe a category."""
        category = await self.category_store.get(category_id)
        await self.require_manager_of(who, category.workspace_id)
        return await self.category_store.update(category_id, name, description, self.clock())

    async def delete_category(self, who: Principal, category_id: str) -> dict[str, Any]:
        """Delete a category."""
        category = await self.category_store.get(category_id)
        await self.require_manager_of(who, category.workspace_id)
        await self.category_store.delete(category_id)
        return {"category_id": category_id, "deleted": True}

    async def category(self, category_id: str) -> Category:
        """Return one category; ``NotFound`` if unknown."""
        return await self.category_store.get(category_id)

    async def categories(self, workspace_id: str) -> list[Category]:
        """Return a workspace's categories."""
        await self.workspaces.get(workspace_id)
        return await self.category_store.list_by_name(workspace_id)
