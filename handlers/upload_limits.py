"""Upload limits: a per-uploader byte quota per time window, and expiry of uploads nothing references."""

from __future__ import annotations

import logging
import math
from datetime import timedelta

from handlers.background import start_periodic
from handlers.context import Deps
from models.attachments import AttachmentRecord
from models.errors import RateLimited
from storage.attachments import AttachmentStore

log = logging.getLogger("deskline.attachments")

EXPIRE_BATCH = 200


class UploadQuota:
    """Bytes an uploader (``user:<id>`` or ``workspace:<id>``) may upload per fixed window of time."""

    def __init__(self, deps: Deps, store: AttachmentStore) -> None:
        self.deps = deps
        self.store = store
        self.quota = deps.settings.attachment_quota_bytes
        self.window_seconds = deps.settings.attachment_quota_window_hours * 3600

    def _window(self) -> tuple[int, float]:
        """Return the current window's number and the seconds until the next one."""
        now = self.deps.clock().timestamp()
        window = math.floor(now / self.window_seconds)
        return window, (window + 1) * self.window_seconds - now

    async def check_room(self, owner: str) -> None:
        """Refuse before reading the file when the uploader's window is already full (a shortcut, not the check)."""
        window, left = self._window()
        if self.quota and await self.store.usage(owner, window) >= self.quota:
            raise self._over(left)

    async def add(self, owner: str, record: AttachmentRecord) -> None:
        """Store the record, counted in the uploader's window atomically; over the quota drop the bytes and raise."""
        if not self.quota:
            await self.store.add(record)
            return
        window, left = self._window()
        if not await self.store.add_within_quota(record, owner, window, self.quota):
            await self.store.delete_bytes(record.id)
            raise self._over(left)

    def _over(self, left: float) -> RateLimited:
        """Return the error of a full window."""
        retry = math.ceil(left)
        return RateLimited(
            f"upload quota of {self.quota} bytes used up; try again in {retry} s",
            {"retry_after_seconds": retry, "quota_bytes": self.quota},
        )


async def expire_unlinked(deps: Deps, store: AttachmentStore) -> int:
    """Delete uploads older than ``UNLINKED_UPLOAD_TTL_HOURS`` that nothing references; return how many this run did.

    Safe with several instances: each deletion is conditional, so one instance deletes each upload.
    """
    settings = deps.settings
    cutoff = deps.clock() - timedelta(hours=settings.unlinked_upload_ttl_hours)
    deleted = 0
    for attachment_id in await store.unlinked_before(cutoff, EXPIRE_BATCH):
        if await store.delete_if_unlinked(attachment_id):
            deleted += 1
    window_seconds = settings.attachment_quota_window_hours * 3600
    await store.drop_usage_before(math.floor(deps.clock().timestamp() / window_seconds))
    if deleted:
        log.info("event=expire_uploads deleted=%s", deleted)
    return deleted


def start_expiry(deps: Deps, store: AttachmentStore) -> None:
    """Run ``expire_unlinked`` every ``UNLINKED_UPLOAD_SWEEP_SECONDS`` until the app stops."""

    async def job() -> None:
        await expire_unlinked(deps, store)

    start_periodic(deps, "expire_uploads", deps.settings.unlinked_upload_sweep_seconds, job)
