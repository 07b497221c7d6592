"""The widget's HTTP door: who an HTTP request is from the widget headers (token, then visitor credentials).

Socket widget callers are authenticated at connect (``handlers.widget.connect_widget``); both go through
``services.widget.authenticate_widget``.
"""

from __future__ import annotations

from aiohttp import hdrs, web
from pydantic import ValidationError

from models.errors import Unauthorized
from models.widget import VisitorRecord, WidgetAuth
from services.widget import WidgetService
from services.widget_access import INVALID_TOKEN

TOKEN_HEADER = "X-Widget-Token"
SECRET_HEADER = "X-Visitor-Secret"
IDENTIFIER_HEADER = "X-Identifier"
IDENTIFIER_HASH_HEADER = "X-Identifier-Hash"


async def widget_request(request: web.Request, widget: WidgetService) -> VisitorRecord | None:
    """Return the visitor an HTTP request authenticates with the widget headers; None without a widget token.

    ``Unauthorized`` for a wrong token, secret or identifier hash, or a token without a visitor.
    """
    token = request.headers.get(TOKEN_HEADER)
    if token is None:
        return None
    try:
        auth = WidgetAuth(
            widget_token=token,
            visitor_secret=request.headers.get(SECRET_HEADER) or None,
            identifier=request.headers.get(IDENTIFIER_HEADER) or None,
            identifier_hash=request.headers.get(IDENTIFIER_HASH_HEADER) or None,
        )
    except ValidationError as exc:
        raise Unauthorized(INVALID_TOKEN) from exc
    caller = await widget.authenticate(auth, request.headers.get(hdrs.ORIGIN))
    if caller.visitor_id is None:
        raise Unauthorized(f"send {SECRET_HEADER} (or {IDENTIFIER_HEADER} and {IDENTIFIER_HASH_HEADER}) too")
    return await widget.visitor_of(caller.workspace_id, caller.visitor_id)
