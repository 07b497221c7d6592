"""Profile events: ``get_profile`` and ``update_profile``."""

from __future__ import annotations

from handlers.access import SIGNED_IN
from handlers.context import EventContext
from handlers.events import EventRouter
from models.profiles import GetProfilePayload, Profile, UpdateProfilePayload
from services.bundle import Services


def register(router: EventRouter, services: Services) -> None:
    """Declare the profile events."""
    profiles = services.profiles

    @router.on("get_profile", GetProfilePayload, access=SIGNED_IN)
    async def get_profile(ctx: EventContext, p: GetProfilePayload) -> Profile:
        return await profiles.profile(ctx.require(), p.user_id)

    @router.on("update_profile", UpdateProfilePayload, access=SIGNED_IN)
    async def update_profile(ctx: EventContext, p: UpdateProfilePayload) -> Profile:
        return await profiles.update(ctx.require(), p)
