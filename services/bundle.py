"""``Services``: every service, built once by ``wiring.py`` and handed to each domain's ``register``."""

from __future__ import annotations

from dataclasses import dataclass

from config import Settings
from models.clock import Clock
from services.accounts import AccountService
from services.attachments import AttachmentService
from services.calls import CallService
from services.chat import ChatService
from services.demo import DemoService
from services.emitter import Emitter
from services.helpdesk import HelpdeskService
from services.helpdesk_stats import HelpdeskStatsService
from services.notify import NotifyService
from services.pool import PoolService
from services.presence import PresenceService
from services.profiles import ProfileService
from services.queue import QueueServices
from services.recovery import RecoveryService
from services.support import SupportService
from services.turn import TurnService
from services.widget import WidgetService
from services.widget_live import WidgetLiveService
from services.workspaces import WorkspaceService


@dataclass(frozen=True, slots=True)
class Services:
    """The built services (typed fields only; a converted domain adds its own field here, in alphabetical order)."""

    settings: Settings
    clock: Clock  # already cut to milliseconds (``models.clock.millis_clock``)
    emitter: Emitter
    accounts: AccountService
    attachments: AttachmentService
    calls: CallService
    chat: ChatService
    demo: DemoService
    helpdesk: HelpdeskService
    helpdesk_stats: HelpdeskStatsService
    notify: NotifyService
    pool: PoolService
    presence: PresenceService
    profiles: ProfileService
    queue: QueueServices
    recovery: RecoveryService
    support: SupportService
    turn: TurnService
    widget: WidgetService
    widget_live: WidgetLiveService
    workspaces: WorkspaceService
