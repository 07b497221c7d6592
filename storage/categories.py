"""Category repository: a workspace's categories, of kind ``category`` (signed in) or ``topic`` (Dowell topics).

Names are unique per workspace and kind, case-insensitive. The store also migrates the tables/collections
today's main wrote (``hd_categories``, ``support_topics``) once on ``init``, recorded in ``migrations``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from models.helpdesk import TOPIC_KIND, Category
from models.support import Topic
from storage.database import Database

MIGRATION = "categories-one"


def topic_category(topic: Topic) -> Category:
    """Return the category (kind ``topic``) a Dowell topic is stored as."""
    at = topic.created_at
    return Category(
        id=topic.id, workspace_id=topic.workspace_id, kind=TOPIC_KIND, name=topic.name, created_at=at, updated_at=at
    )


def topic_of(category: Category) -> Topic:
    """Return the Dowell shape of a category of kind ``topic``."""
    return Topic(id=category.id, name=category.name, workspace_id=category.workspace_id, created_at=category.created_at)


class CategoryStore(Protocol):
    """Domain operations on categories; raises ``NotFound`` and ``Conflict``."""

    async def init(self) -> None:
        """Create the table/collection and indexes if missing, then migrate the old ones once."""

    async def create(self, category: Category) -> Category:
        """Store a category; ``Conflict`` if the workspace has one of that kind and name (any case)."""

    async def get(self, category_id: str) -> Category:
        """Return one category; ``NotFound`` if unknown."""

    async def list_by_name(self, workspace_id: str) -> list[Category]:
        """Return the workspace's categories of every kind, by name."""

    async def list_kind(self, workspace_id: str, kind: str) -> list[Category]:
        """Return the workspace's categories of one kind, in creation order."""

    async def update(self, category_id: str, name: str | None, description: str | None, now: datetime) -> Category:
        """Change the given fields; ``NotFound``, or ``Conflict`` on a duplicate name."""

    async def delete(self, category_id: str) -> None:
        """Delete a category no ticket uses; ``NotFound``, or ``Conflict`` while tickets use it."""


def make_category_store(db: Database) -> CategoryStore:
    """Return the category store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.categories import MongoCategoryStore

        return MongoCategoryStore(db)  # type: ignore[arg-type]
    from storage.sqlite.categories import SqliteCategoryStore

    return SqliteCategoryStore(db)  # type: ignore[arg-type]
