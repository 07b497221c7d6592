"""Profiles: what a user tells about themselves (name, city, region, picture), and the profile events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from models.common import Document, Identifier, Name, Payload
from models.pushes import Push

Place = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
PROFILE_PICTURE_KIND = "profile"  # the attachments' ``ticket_kind`` of a picture in use (its ``ticket_id``: the user)
PICTURE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


class ProfileRecord(Document):
    """What the profile store keeps beside the account: city, region and the picture in use."""

    user_id: str
    city: str = ""
    region: str = ""
    picture_attachment_id: str | None = None
    updated_at: datetime | None = None


class Profile(Document):
    """A user's profile as clients see it; ``picture_url`` downloads the picture (``GET /api/attachments/<id>``)."""

    user_id: str
    name: str
    role: str
    city: str = ""
    region: str = ""
    picture_attachment_id: str | None = None
    picture_url: str | None = None
    updated_at: datetime | None = None


class ProfileChanges(Document):
    """The fields an ``update_profile`` changes (None: unchanged); ``remove_picture`` clears the picture."""

    name: str | None = None
    city: str | None = None
    region: str | None = None
    picture_attachment_id: str | None = None
    remove_picture: bool = False


class GetProfilePayload(Payload):
    """``get_profile``: the caller's own profile, or that of a user they may see."""

    user_id: Identifier | None = None


class UpdateProfilePayload(Payload):
    """``update_profile``: change the caller's own name, city, region or picture (an image they uploaded)."""

    name: Name | None = None
    city: Place | None = None
    region: Place | None = None
    picture_attachment_id: Identifier | None = None
    remove_picture: bool = Field(False, description="clear the picture (not with picture_attachment_id)")

    @model_validator(mode="after")
    def _one_picture_change(self) -> UpdateProfilePayload:
        if self.remove_picture and self.picture_attachment_id:
            raise ValueError("give picture_attachment_id or remove_picture, not both")
        return self


PROFILE_UPDATED = Push("profile_updated", Profile)
