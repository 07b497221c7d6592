"""The demo: a workspace with its widget, a category, a line manager and two staff accounts, made idempotently."""

from __future__ import annotations

import logging
import secrets

from models.accounts import User
from models.clock import Clock
from models.demo import (
    DEMO_AGENT_EMAIL,
    DEMO_CATEGORY,
    DEMO_MANAGER_EMAIL,
    DEMO_PRODUCT,
    DEMO_WORKSPACE,
    DemoLogin,
    DemoSite,
)
from models.roles import Principal, Role
from models.support import LineManager
from models.workspaces import CreateWorkspacePayload
from services.accounts import AccountService, public
from services.helpdesk import HelpdeskService
from services.workspaces import WorkspaceService
from storage.database import new_id
from storage.line_managers import LineManagerStore

log = logging.getLogger("deskline.demo")


class DemoService:
    """Makes (or finds again) the demo workspace; ``site`` is what the demo page shows once ``ensure`` ran."""

    def __init__(
        self,
        accounts: AccountService,
        workspaces: WorkspaceService,
        helpdesk: HelpdeskService,
        line: LineManagerStore,
        clock: Clock,
    ) -> None:
        self.accounts = accounts
        self.workspaces = workspaces
        self.helpdesk = helpdesk
        self.line = line
        self.clock = clock
        self.site: DemoSite | None = None

    async def ensure(self) -> DemoSite:
        """Make what is missing of the demo and give both accounts new random passwords; return the site.

        Running it again finds the same accounts and workspace (through the manager's membership).
        """
        logins: list[DemoLogin] = []
        manager = await self._account(DEMO_MANAGER_EMAIL, "Demo Manager", Role.MANAGER, logins)
        agent = await self._account(DEMO_AGENT_EMAIL, "Demo Agent", Role.AGENT, logins)
        as_manager = Principal(user_id=manager.id, role=Role.MANAGER, name=manager.name)
        workspace_id = await self._workspace(as_manager, agent)
        if not await self.helpdesk.categories(workspace_id):
            await self.helpdesk.create_category(as_manager, workspace_id, DEMO_CATEGORY, "Anything about the demo")
        if await self.line.get(workspace_id, agent.id) is None:  # widget tickets go to the agent
            line = LineManager(
                id=new_id(),
                user_id=agent.id,
                positions_in_a_line=1,
                average_serving_time=5,
                ticket_count=0,
                workspace_id=workspace_id,
                created_at=self.clock(),
            )
            await self.line.create(line)
        record = await self.workspaces.store.find(workspace_id)
        assert record is not None and record.widget_token, "a workspace made here has a widget token"
        self.site = DemoSite(
            workspace_id=workspace_id,
            workspace_name=record.name,
            widget_token=record.widget_token,
            product=DEMO_PRODUCT,
            logins=logins,
        )
        log.info("event=demo_ready workspace=%s", workspace_id)
        return self.site

    async def _account(self, email: str, name: str, role: Role, logins: list[DemoLogin]) -> User:
        """Return the demo account of ``email`` (made if missing) with a new random password, noted in ``logins``."""
        password = secrets.token_urlsafe(18)
        found = await self.accounts.store.find_by_contact(email, None)
        if found is None:
            user = await self.accounts.create(email, None, name, password, role, self.clock())
        else:
            user = public(found)
            await self.accounts.set_password(user, password)
        logins.append(DemoLogin(role=role.value, email=email, password=password))
        return user

    async def _workspace(self, as_manager: Principal, agent: User) -> str:
        """Return the demo workspace's id (the manager's first membership), made with both members if missing."""
        memberships = await self.workspaces.store.memberships(as_manager.user_id)
        if memberships:
            workspace_id = memberships[0].workspace_id
        else:
            payload = CreateWorkspacePayload(name=DEMO_WORKSPACE, products=[DEMO_PRODUCT])
            workspace_id = (await self.workspaces.create(as_manager, payload)).workspace.id
        for user_id in (as_manager.user_id, agent.id):
            if await self.workspaces.store.get_member(workspace_id, user_id) is None:
                await self.workspaces.add_member(workspace_id, user_id, [])
        return workspace_id
