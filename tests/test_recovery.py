"""Account recovery end to end: reset by email (real SMTP), login by SMS code (real HTTP), password rules."""

from __future__ import annotations

import asyncio
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from auth.passwords import guessability_problem
from models.notify import OutboxStatus
from models.roles import Role
from tests.helpers import Client, ManualClock, RunningServer
from tests.notify_doubles import FAST, PASSWORD, FakeSms, MailCatcher, body_of, mail, member, sms

__all__ = ["mail", "sms"]  # fixtures

NEW_PASSWORD = "a much better secret 42"
PHONE = "+989121234567"
LOCAL_PHONE = "0912 123 4567"


def reset_link(message: object) -> str:
    """Return the reset link of a caught reset email."""
    found = re.search(r"https?://\S+/reset-password\?token=\S+", body_of(message))  # type: ignore[arg-type]
    assert found, body_of(message)  # type: ignore[arg-type]
    return found.group(0)


def token_of(link: str) -> str:
    """Return the token a reset link carries."""
    return parse_qs(urlsplit(link).query)["token"][0]


async def login(client: Client, email: str, password: str) -> dict:  # type: ignore[type-arg]
    """Try to log in; return the ack."""
    return await client.call("login", {"email": email, "password": password})


async def text_code(sms: FakeSms, count: int) -> str:
    """Return the 6-digit code of the ``count``-th SMS."""
    delivered = await sms.wait_delivered(count)
    found = re.search(r"\b(\d{6})\b", delivered[count - 1]["Body"])
    assert found, delivered[count - 1]
    return found.group(1)


@pytest.mark.parametrize("backend", ["sqlite", "mongo"])
async def test_reset_by_email_works_once_and_ends_every_session(start_server, mail: MailCatcher, backend: str) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(backend, **mail.settings(), **FAST, public_base_url="https://desk.example/")
    signed, user = await member(server)
    old_pair = await server.deps.accounts.issue(user, server.clock())
    anon = await server.client()

    ack = await anon.ok("request_password_reset", {"email": user.email.upper()})
    assert ack == {"message": "if an account has this email, a reset link is on its way", "expires_in": 1800}
    [message] = await mail.wait_count(1)
    assert message["To"] == user.email and message["Subject"] == "Reset your Deskline password"
    link = reset_link(message)
    assert link.startswith("https://desk.example/reset-password?token=")
    assert link in unescape(body_of(message, "html"))

    reset = await anon.ok("reset_password", {"token": token_of(link), "new_password": NEW_PASSWORD})
    assert reset == {"reset": True, "signed_out": False}  # an anonymous caller has no session to end
    ended = await signed.inbox.wait_for("session_ended")
    assert ended == {"reason": "password changed"}
    await anon.error(
        "reset_password", {"token": token_of(link), "new_password": "yet another secret 7"}, "invalid_payload"
    )
    await anon.error("refresh_token", {"refresh_token": old_pair.refresh_token}, "unauthorized")
    assert (await login(anon, user.email, PASSWORD))["error"]["code"] == "unauthorized"
    assert (await login(anon, user.email, NEW_PASSWORD))["ok"] is True

    [sent] = await server.deps.notifier.store.list_outbox(OutboxStatus.SENT, 5)
    assert sent.text == "" and sent.html is None, "the reset link stayed in the outbox"


async def test_reset_ack_is_the_same_for_unknown_and_inactive_accounts(start_server, mail: MailCatcher) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", **mail.settings(), **FAST)
    admin, _ = await member(server, Role.ADMIN)
    _, inactive = await member(server)
    await admin.ok("deactivate_user", {"user_id": inactive.id})
    _, known = await member(server)
    anon = await server.client()
    answers = [
        await anon.ok("request_password_reset", {"email": email})
        for email in ("nobody@example.com", inactive.email, known.email)
    ]
    assert answers[0] == answers[1] == answers[2]
    await mail.wait_count(1)
    await asyncio.sleep(0.2)
    assert [m["To"] for m in mail.messages] == [known.email]
    assert len(await server.deps.notifier.store.list_outbox(None, 10)) == 1


async def test_reset_token_expires_after_30_minutes(start_server, mail: MailCatcher) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    server = await start_server("sqlite", clock=clock, **mail.settings(), **FAST)
    _, user = await member(server)
    anon = await server.client()
    await anon.ok("request_password_reset", {"email": user.email})
    await anon.ok("request_password_reset", {"email": user.email})
    first, second = (token_of(reset_link(m)) for m in await mail.wait_count(2))
    clock.advance(minutes=29)
    await anon.ok("reset_password", {"token": second, "new_password": NEW_PASSWORD})
    await anon.error("reset_password", {"token": first, "new_password": "yet another secret 7"}, "invalid_payload")

    await anon.ok("request_password_reset", {"email": user.email})
    late = token_of(reset_link((await mail.wait_count(3))[2]))
    clock.advance(minutes=30, seconds=1)
    error = await anon.error(
        "reset_password", {"token": late, "new_password": "yet another secret 7"}, "invalid_payload"
    )
    assert error["details"][0]["field"] == "token"
    assert (await login(anon, user.email, NEW_PASSWORD))["ok"] is True


async def test_reset_link_opens_a_form_that_works_once(start_server, mail: MailCatcher) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", **mail.settings(), **FAST)
    _, user = await member(server)
    anon = await server.client()
    await anon.ok("request_password_reset", {"email": user.email})
    token = token_of(reset_link((await mail.wait_count(1))[0]))
    url = f"{server.url}/reset-password"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, params={"token": token}) as page:
            assert page.status == 200 and page.headers["Referrer-Policy"] == "no-referrer"
            html = await page.text()
            assert f'value="{token}"' in html and 'name="new_password"' in html
        async with http.get(url) as page:
            assert page.status == 400
        async with http.post(url, data={"token": token, "new_password": "qwertyuiop"}) as page:
            assert page.status == 400 and "too easy to guess" in await page.text()
        async with http.post(url, data={"token": token, "new_password": NEW_PASSWORD}) as page:
            assert page.status == 200 and "password is changed" in await page.text()
        async with http.post(url, data={"token": token, "new_password": NEW_PASSWORD}) as page:
            assert page.status == 400 and "invalid, used or expired" in await page.text()
    assert (await login(anon, user.email, NEW_PASSWORD))["ok"] is True


async def test_reset_requests_are_rate_limited_and_bad_input_refused(start_server, mail: MailCatcher) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", **mail.settings(), **FAST)
    anon = await server.client()
    for _ in range(5):
        await anon.ok("request_password_reset", {"email": "nobody@example.com"})
    error = await anon.error("request_password_reset", {"email": "nobody@example.com"}, "rate_limited")
    assert error["details"]["retry_after_seconds"] == 3600
    for bad in ({}, {"email": "not-an-email"}, {"email": 5}, {"email": "a@b.co", "extra": 1}, "a@b.co"):
        await anon.error("request_password_reset", bad, "invalid_payload")
    token = "x" * 43
    for bad in (
        {"token": token},
        {"token": token, "new_password": "short"},
        {"token": token, "new_password": "QwertyUiop"},
        {"token": token, "new_password": "1234567890"},
        {"token": "short", "new_password": NEW_PASSWORD},
        {"token": token, "new_password": NEW_PASSWORD, "more": 1},
    ):
        await anon.error("reset_password", bad, "invalid_payload")
    await anon.error("reset_password", {"token": token, "new_password": NEW_PASSWORD}, "invalid_payload")


async def test_recovery_channels_off_are_said_plainly(server: RunningServer) -> None:
    anon = await server.client()
    await anon.error("request_password_reset", {"email": "a@example.com"}, "forbidden")
    await anon.error("request_login_code", {"phone": PHONE}, "forbidden")


@pytest.mark.parametrize("backend", ["sqlite", "mongo"])
async def test_login_with_an_sms_code_in_local_form(start_server, sms: FakeSms, backend: str) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(backend, **sms.settings(), **FAST)
    _, user = await member(server, phone=PHONE, email=False)
    anon = await server.client()
    ack = await anon.ok("request_login_code", {"phone": LOCAL_PHONE})
    assert ack == {"message": "if an account has this number, a code is on its way", "phone": PHONE, "expires_in": 600}
    code = await text_code(sms, 1)
    assert sms.delivered[0]["To"] == PHONE and sms.delivered[0]["From"] == "+15550001111"

    pair = await anon.ok("login_with_code", {"phone": "0098 912 123 4567", "code": code})
    assert pair["user"]["id"] == user.id and pair["access_token"] and pair["refresh_token"]
    assert (await anon.ok("me"))["id"] == user.id, "the socket was not signed in"
    await anon.error("login_with_code", {"phone": PHONE, "code": code}, "unauthorized")
    assert await anon.ok("refresh_token", {"refresh_token": pair["refresh_token"]})


async def test_login_code_allows_five_attempts_for_ten_minutes(start_server, sms: FakeSms) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    server = await start_server("sqlite", clock=clock, **sms.settings(), **FAST)
    await member(server, phone=PHONE)
    anon = await server.client()

    await anon.ok("request_login_code", {"phone": PHONE})
    code = await text_code(sms, 1)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        await anon.error("login_with_code", {"phone": PHONE, "code": wrong}, "unauthorized")
    await anon.error("login_with_code", {"phone": PHONE, "code": code}, "unauthorized")

    await anon.ok("request_login_code", {"phone": PHONE})
    code = await text_code(sms, 2)
    for _ in range(4):
        await anon.error(
            "login_with_code", {"phone": PHONE, "code": wrong if wrong != code else "000000"}, "unauthorized"
        )
    await anon.ok("login_with_code", {"phone": PHONE, "code": code})

    await anon.ok("request_login_code", {"phone": PHONE})
    code = await text_code(sms, 3)
    clock.advance(minutes=10, seconds=1)
    await anon.error("login_with_code", {"phone": PHONE, "code": code}, "unauthorized")


async def test_login_code_ack_is_the_same_for_unknown_numbers_and_input_is_checked(start_server, sms: FakeSms) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", **sms.settings(), **FAST)
    anon = await server.client()
    ack = await anon.ok("request_login_code", {"phone": "+4915199999999"})
    assert ack["message"] == "if an account has this number, a code is on its way"
    await asyncio.sleep(0.2)
    assert sms.attempts == [] and await server.deps.notifier.store.list_outbox(None, 5) == []
    for _ in range(4):
        await anon.ok("request_login_code", {"phone": "+4915199999999"})
    await anon.error("request_login_code", {"phone": "+4915199999999"}, "rate_limited")
    for bad in (
        {},
        {"phone": "12"},
        {"phone": "not a phone"},
        {"phone": "+0123"},
        {"phone": 9121234567},
        {"phone": PHONE, "x": 1},
    ):
        await anon.error("request_login_code", bad, "invalid_payload")
    for bad in (
        {"phone": PHONE},
        {"phone": PHONE, "code": "12345"},
        {"phone": PHONE, "code": "abcdef"},
        {"phone": PHONE, "code": 123456},
        {"phone": "nope", "code": "123456"},
    ):
        await anon.error("login_with_code", bad, "invalid_payload")
    await anon.error("login_with_code", {"phone": "+4915199999999", "code": "123456"}, "unauthorized")


async def test_password_rules_and_argon2_parameters(start_server, settings_for) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for("sqlite", argon2_time_cost=1, argon2_memory_kib=8192, argon2_parallelism=1)
    server = await start_server(settings=settings)
    anon = await server.client()
    guessable = (
        "qwertyuiop",
        "QWERTYUIOP",
        "1q2w3e4r5t",
        "  1234567890  ",
        "Password123",
        "Summer2024!",
        "aaaaaaaaaaaa",
    )
    for weak in guessable:
        error = await anon.error(
            "register", {"email": "x@example.com", "name": "X", "password": weak}, "invalid_payload"
        )
        assert "too easy to guess" in error["details"][0]["message"], error
    await anon.error("register", {"email": "x@example.com", "name": "X", "password": "short1"}, "invalid_payload")
    await anon.ok("register", {"email": "x@example.com", "name": "X", "password": PASSWORD})
    user = await server.deps.accounts.store.find_by_contact("x@example.com", None)
    assert user.password_hash.startswith("$argon2id$") and "m=8192,t=1,p=1" in user.password_hash
    await server.stop()

    stronger = await start_server(
        settings=settings.model_copy(update={"argon2_memory_kib": 16384, "argon2_time_cost": 2})
    )
    client = await stronger.client()
    await client.ok("login", {"email": "x@example.com", "password": PASSWORD})
    rehashed = await stronger.deps.accounts.store.find_by_contact("x@example.com", None)
    assert "m=16384,t=2,p=1" in rehashed.password_hash, "the hash was not upgraded at login"
    await client.ok("login", {"email": "x@example.com", "password": PASSWORD})


def test_guessable_passwords_are_named_and_strong_ones_pass() -> None:
    for weak in ("password1234", "iloveyou12", "letmein2024!", "abcdefghij", "qwerty123456", "Michael1990"):
        assert guessability_problem(weak), weak
    assert "common" in (guessability_problem("qwertyuiop") or "")
    for strong in ("correct horse battery", "a much better secret 42", "Tr0ub4dor&3", "x7#Kp2!vQ9mz"):
        assert guessability_problem(strong) is None, strong
    assert guessability_problem("aaaaaaaaaa" * 30) and guessability_problem("velvet otter harbour " * 12) is None


async def test_recovery_requests_are_limited_per_address_across_targets(
    start_server, mail: MailCatcher, sms: FakeSms
) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    server = await start_server("sqlite", clock=clock, **mail.settings(), **sms.settings(), **FAST)
    anon = await server.client()
    for i in range(20):
        await anon.ok("request_password_reset", {"email": f"someone{i}@example.com"})
    error = await anon.error("request_password_reset", {"email": "fresh@example.com"}, "rate_limited")
    assert error["details"] == {"retry_after_seconds": 3600}
    await anon.error("request_login_code", {"phone": "+4915100000001"}, "rate_limited")  # one budget per address
    clock.advance(hours=1, seconds=1)
    await anon.ok("request_password_reset", {"email": "fresh@example.com"})
    await anon.ok("request_login_code", {"phone": "+4915100000001"})
