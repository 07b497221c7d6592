"""The one HTTP error-to-status map, and the workspace pushes declared with their models."""

from __future__ import annotations

from handlers.http import http_status
from models.attachments import UnsupportedType
from models.errors import (
    Conflict,
    DesklineError,
    Forbidden,
    InvalidPayload,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)
from models.pushes import ALL_PUSHES
from models.workspaces import WIDGET_TOKEN_REVOKED, WORKSPACE_KEY_REVOKED


def test_every_error_code_has_one_status() -> None:
    errors = [
        (InvalidPayload("x"), 400),
        (Unauthorized("x"), 401),
        (Forbidden("x"), 403),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (PayloadTooLarge("x"), 413),
        (UnsupportedType("x"), 415),
        (RateLimited("x"), 429),
        (DesklineError("x"), 500),
    ]
    for err, status in errors:
        assert http_status(err) == status, err


def test_revocation_pushes_are_declared_with_the_old_shape() -> None:
    for push in (WORKSPACE_KEY_REVOKED, WIDGET_TOKEN_REVOKED):
        assert ALL_PUSHES[push.name] is push
        assert push.dump({"workspace_id": "w1", "reason": "rotated"}) == {"workspace_id": "w1", "reason": "rotated"}
