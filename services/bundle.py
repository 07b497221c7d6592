"""``Services``: every service, built once by ``wiring.py`` and handed to each domain's ``register``."""

from __future__ import annotations

from dataclasses import dataclass

from config import Settings
from models.clock import Clock
from services.accounts import AccountService
from services.chat import ChatService
from services.emitter import Emitter
from services.helpdesk import HelpdeskService
from services.notify import NotifyService
from services.recovery import RecoveryService
from services.support import SupportService
from services.widget import WidgetService


@dataclass(frozen=True, slots=True)
class Services:
    """The built services (typed fields only; a converted domain adds its own field here, in alphabetical order)."""

    settings: Settings
    clock: Clock  # already cut to milliseconds (``models.clock.millis_clock``)
    emitter: Emitter
    accounts: AccountService
    chat: ChatService
    helpdesk: HelpdeskService
    notify: NotifyService
    recovery: RecoveryService
    support: SupportService
    widget: WidgetService
