"""The demo workspace (``--demo`` / ``DESKLINE_DEMO``): what is made, and what the demo page and the console print."""

from __future__ import annotations

from models.common import Document

DEMO_WORKSPACE = "Deskline Demo"
DEMO_PRODUCT = "demo"
DEMO_CATEGORY = "General"
DEMO_MANAGER_EMAIL = "manager@demo.example.com"
DEMO_AGENT_EMAIL = "agent@demo.example.com"


class DemoLogin(Document):
    """One demo account: its role, email and the password set at this start (shown once, never logged)."""

    role: str
    email: str
    password: str


class DemoSite(Document):
    """The demo workspace and the accounts that try it."""

    workspace_id: str
    workspace_name: str
    widget_token: str
    product: str
    logins: list[DemoLogin]
