"""Signed-in helpdesk: categories, tickets with a status workflow, chat, typing and read receipts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.context import Deps, EventContext
from handlers.events import EventRouter, parse_payload
from handlers.helpdesk_access import STAFF, HelpdeskAccess
from handlers.support import MESSAGE, SupportService, late_failure
from models.clock import to_millis
from models.errors import Conflict, Forbidden, InvalidPayload, NotFound
from models.helpdesk import (
    TRANSITIONS,
    Category,
    CategoryIdPayload,
    CreateCategoryPayload,
    ListTicketsPayload,
    MarkReadPayload,
    ReadMarker,
    ReassignPayload,
    SetStatusPayload,
    SubmitTicketPayload,
    Ticket,
    TicketIdPayload,
    TicketMessage,
    TicketMessagePayload,
    TicketStatus,
    TypingPayload,
    UpdateCategoryPayload,
    WorkspaceRefPayload,
)
from models.roles import Role
from models.rooms import presence_room, ticket_room, workspace_admins_room, workspace_room, workspace_staff_room
from storage.cursor import decode_cursor, encode_cursor
from storage.database import new_id
from storage.helpdesk import make_helpdesk_store
from storage.support import make_support_store

HISTORY = 200


async def setup(deps: Deps) -> EventRouter:
    """Register the signed-in helpdesk events."""
    store = make_helpdesk_store(deps.db)
    await store.init()
    workspaces = deps.services.workspaces.store
    access = HelpdeskAccess(deps, store, workspaces)
    support = SupportService(deps, make_support_store(deps.db), workspaces)
    files = deps.services.attachments
    router = EventRouter(deps)

    def now() -> datetime:
        return to_millis(deps.clock())

    @router.on("create_category", CreateCategoryPayload, roles=(Role.MANAGER, Role.ADMIN))
    async def create_category(ctx: EventContext, p: CreateCategoryPayload) -> Category:
        await workspaces.get(p.workspace_id)
        await access.require_manager_of(ctx.require(), p.workspace_id)
        at = now()
        category = Category(
            id=new_id(),
            workspace_id=p.workspace_id,
            name=p.name,
            description=p.description,
            created_at=at,
            updated_at=at,
        )
        return await store.create_category(category)

    @router.on("update_category", UpdateCategoryPayload, roles=(Role.MANAGER, Role.ADMIN))
    async def update_category(ctx: EventContext, p: UpdateCategoryPayload) -> Category:
        category = await store.get_category(p.category_id)
        await access.require_manager_of(ctx.require(), category.workspace_id)
        return await store.update_category(p.category_id, p.name, p.description, now())

    @router.on("delete_category", CategoryIdPayload, roles=(Role.MANAGER, Role.ADMIN))
    async def delete_category(ctx: EventContext, p: CategoryIdPayload) -> dict[str, Any]:
        category = await store.get_category(p.category_id)
        await access.require_manager_of(ctx.require(), category.workspace_id)
        await store.delete_category(p.category_id)
        return {"category_id": p.category_id, "deleted": True}

    @router.on("list_categories", WorkspaceRefPayload, signed_in=True)
    async def list_categories(ctx: EventContext, p: WorkspaceRefPayload) -> list[Category]:
        await workspaces.get(p.workspace_id)
        return await store.list_categories(p.workspace_id)

    @router.on("subscribe_workspace", WorkspaceRefPayload, roles=STAFF)
    async def subscribe_workspace(ctx: EventContext, p: WorkspaceRefPayload) -> dict[str, Any]:
        who = ctx.require()
        await workspaces.get(p.workspace_id)
        if who.role == Role.ADMIN:
            await ctx.enter(workspace_admins_room(p.workspace_id))
            return {"workspace_id": p.workspace_id}
        if await workspaces.get_member(p.workspace_id, who.user_id) is None:
            raise Forbidden("you are not a member of this workspace")
        rooms = [workspace_room(p.workspace_id), workspace_staff_room(p.workspace_id, who.user_id)]
        for room in rooms:
            await ctx.enter(room)
        if await workspaces.get_member(p.workspace_id, who.user_id) is None:  # removed meanwhile, maybe evicted
            for room in rooms:  # before we entered: check again once in
                await ctx.leave(room)
            raise Forbidden("you are not a member of this workspace")
        return {"workspace_id": p.workspace_id}

    @router.on("submit_ticket", SubmitTicketPayload, roles=(Role.CLIENT,))
    async def submit_ticket(ctx: EventContext, p: SubmitTicketPayload) -> Ticket:
        who = ctx.require()
        category = await store.get_category(p.category_id)
        workspace = await workspaces.get(category.workspace_id)
        await files.check_owned(p.attachments, who.user_id, None)
        at = now()
        ticket = Ticket(
            id=new_id(),
            workspace_id=workspace.id,
            category_id=category.id,
            client_id=who.user_id,
            title=p.title,
            body=p.body,
            attachments=p.attachments,
            created_at=at,
            updated_at=at,
        )
        ticket = await store.create_ticket(ticket, auto_assign=workspace.auto_assign)
        await enter_ticket(ctx, ticket)
        await access.push(ticket, "created")
        await access.notify(ticket.assignee_id, who.user_id, "ticket_assigned", "New ticket assigned to you", ticket)
        return ticket

    @router.on("list_tickets", ListTicketsPayload, signed_in=True)
    async def list_tickets(ctx: EventContext, p: ListTicketsPayload) -> dict[str, Any]:
        query = await access.query(ctx.require(), p)
        after = decode_cursor(p.cursor) if p.cursor else None
        tickets = await store.list_tickets(query, after, p.limit)
        cursor = encode_cursor(tickets[-1].created_at, tickets[-1].id) if len(tickets) == p.limit else None
        return {"tickets": tickets, "next_cursor": cursor}

    @router.on("get_ticket", TicketIdPayload, signed_in=True)
    async def get_ticket(ctx: EventContext, p: TicketIdPayload) -> dict[str, Any]:
        who = ctx.require()
        ticket = await access.ticket(who, p.ticket_id)
        presence = await enter_ticket(ctx, ticket)
        try:  # after entering too: a removal or reassignment meanwhile may have evicted before we entered
            ticket = await access.ticket(who, p.ticket_id)
        except NotFound:
            await ctx.leave(ticket_room(p.ticket_id))
            raise
        messages = await store.list_messages(ticket.id, HISTORY)
        return {
            "ticket": ticket,
            "messages": messages,
            "reads": await store.list_reads(ticket.id),
            "presence": presence,
        }

    @router.on("leave_ticket", TicketIdPayload, signed_in=True)
    async def leave_ticket(ctx: EventContext, p: TicketIdPayload) -> dict[str, Any]:
        await ctx.leave(ticket_room(p.ticket_id))
        return {"ticket_id": p.ticket_id}

    @router.on("send_ticket_message", TicketMessagePayload, signed_in=True)
    async def send_ticket_message(ctx: EventContext, p: TicketMessagePayload) -> TicketMessage:
        who = ctx.require()
        ticket = await access.ticket(who, p.ticket_id)
        if ticket.status == TicketStatus.CLOSED:
            raise Conflict("the ticket is closed", {"ticket_id": ticket.id})
        await files.check_owned(p.attachments, who.user_id, None)
        message = TicketMessage(
            id=new_id(),
            ticket_id=ticket.id,
            author_id=who.user_id,
            author_role=who.role.value,
            body=p.body,
            attachments=p.attachments,
            created_at=now(),
        )
        await store.add_message(message)
        await access.push_message(ticket, message)
        recipient = ticket.assignee_id if who.role == Role.CLIENT else ticket.client_id
        await access.notify(recipient, who.user_id, "ticket_reply", "New reply in your ticket", ticket)
        return message

    @router.on("set_ticket_status", SetStatusPayload, signed_in=True)
    async def set_ticket_status(ctx: EventContext, p: SetStatusPayload) -> Ticket:
        who = ctx.require()
        ticket = await access.ticket(who, p.ticket_id)
        if who.role == Role.CLIENT and p.status != TicketStatus.CLOSED:
            raise Forbidden("a client may only close their ticket")
        if p.status not in TRANSITIONS[ticket.status]:
            raise Conflict(f"a {ticket.status} ticket cannot become {p.status}", {"status": ticket.status})
        changed = await store.set_status(ticket.id, ticket.status, p.status, now())
        if changed is None:
            raise Conflict("the ticket changed meanwhile; reload it", {"ticket_id": ticket.id})
        await access.push(changed, "status")
        recipient = changed.assignee_id if who.role == Role.CLIENT else changed.client_id
        await access.notify(recipient, who.user_id, "ticket_status", f"Ticket {p.status}", changed)
        return changed

    @router.on("reassign_ticket", ReassignPayload, roles=STAFF)
    async def reassign_ticket(ctx: EventContext, p: ReassignPayload) -> Ticket:
        who = ctx.require()
        ticket = await access.ticket(who, p.ticket_id)
        if ticket.status == TicketStatus.CLOSED:
            raise Conflict("the ticket is closed", {"ticket_id": ticket.id})
        if await workspaces.get_member(ticket.workspace_id, p.assignee_id) is None:
            raise InvalidPayload(
                "the assignee is not a staff member of the ticket's workspace",
                [{"field": "assignee_id", "message": "not a member of the workspace", "type": "not_member"}],
            )
        if ticket.assignee_id == p.assignee_id:
            return ticket
        changed = await store.set_assignee(ticket.id, ticket.assignee_id, p.assignee_id, now())
        if changed is None:
            raise Conflict("the ticket changed meanwhile; reload it", {"ticket_id": ticket.id})
        if ticket.assignee_id:  # out of the ticket's room first if they may no longer see it: no push then
            await access.recheck(ticket.assignee_id, [changed])
        await access.push(changed, "assignee", ticket.assignee_id)
        await access.notify(p.assignee_id, who.user_id, "ticket_assigned", "Ticket assigned to you", changed)
        return changed

    @router.on("typing", TypingPayload, signed_in=True)
    async def typing(ctx: EventContext, p: TypingPayload) -> dict[str, Any]:
        who = ctx.require()
        ticket = await access.ticket(who, p.ticket_id)
        data = {"ticket_id": ticket.id, "user_id": who.user_id, "name": who.name, "typing": p.typing}
        await ctx.emit("typing", data, to=ticket_room(ticket.id), skip_self=True)
        return {"ticket_id": ticket.id, "typing": p.typing}

    async def mark_read(ctx: EventContext, raw: Any) -> Any:
        if ctx.principal is None or (isinstance(raw, dict) and "api_key" in raw):
            return await support.mark_read(ctx, raw)
        who = ctx.require()
        p = parse_payload(MarkReadPayload, raw)
        ticket = await access.ticket(who, p.ticket_id)
        message = await store.get_message(ticket.id, p.message_id)
        if message is None:
            raise NotFound("no such message in this ticket", {"message_id": p.message_id})
        marker = await store.set_read(
            ReadMarker(
                ticket_id=ticket.id, user_id=who.user_id, message_id=message.id, message_at=message.created_at, at=now()
            )
        )
        await ctx.emit("ticket_read", marker, to=ticket_room(ticket.id))
        return marker

    router.on("mark_read", on_error=late_failure(MESSAGE, "mark_read", anonymous_only=True))(mark_read)
    return router


async def enter_ticket(ctx: EventContext, ticket: Ticket) -> dict[str, str]:
    """Join the ticket's room and watch its other participants' presence; return their current statuses."""
    await ctx.enter(ticket_room(ticket.id))
    me = ctx.require().user_id
    others = [u for u in (ticket.client_id, ticket.assignee_id) if u and u != me]
    presence = ctx.deps.services.presence
    if not others:
        return {}
    for user_id in others:
        await ctx.enter(presence_room(user_id))
    return dict(await presence.statuses(others))
