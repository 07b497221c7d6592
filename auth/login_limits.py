"""Which counters a login attempt is checked against: the lockout-resistant failed-login policy.

- From an address the account has signed in from before (known-good), only that pair is limited
  (``max_failures`` per window): an attacker elsewhere can neither block nor slow the owner there.
- From any other address, two counters: the address (``max_failures`` per window across every
  account, then a refusal until the window ends) stops one address guessing many accounts or
  hammering one; the account (across every unknown address) past ``max_failures`` only spaces
  attempts 1, 2, 4 ... up to 60 seconds apart, so a botnet gets few guesses while the owner on a
  new address waits seconds, never the whole window.
"""

from __future__ import annotations

from datetime import timedelta

from models.logins import LoginLimit


def account_key(contact: str) -> str:
    """Return the counter key of an account named by its email or phone (existing or not)."""
    return f"account:{contact}"


def known_key(user_id: str, address: str) -> str:
    """Return the counter key of an account at one of its known-good addresses."""
    return f"known:{user_id}|{address}"


def login_limits(
    contact: str, user_id: str | None, address: str, known: bool, max_failures: int, window: timedelta
) -> list[LoginLimit]:
    """Return the limits an attempt on ``contact`` from ``address`` is reserved on."""
    if known and user_id is not None:
        return [LoginLimit(known_key(user_id, address), max_failures, window)]
    limits = [LoginLimit(account_key(contact), max_failures, window, backoff=True)]
    if address:
        limits.append(LoginLimit(f"address:{address}", max_failures, window))
    return limits
