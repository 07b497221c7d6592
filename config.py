"""Deskline settings, read once from the environment (prefix ``DESKLINE_``)."""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

RATE_SETTINGS = (
    "rate_limit_default",
    "rate_limit_calls",
    "rate_limit_auth",
    "rate_limit_uploads",
    "rate_limit_uploads_per_address",
)


class Settings(BaseSettings):
    """Every knob of a Deskline server; ``DESKLINE_<NAME>`` sets each one."""

    model_config = SettingsConfigDict(env_prefix="DESKLINE_", extra="ignore")

    host: str = Field("0.0.0.0", description="address to listen on")
    port: int = Field(8000, description="TCP port to listen on")
    data_dir: Path = Field(Path("./data"), description="folder for the SQLite file, JWT secret and attachments")
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        "NORMAL",
        description="SQLite PRAGMA synchronous: NORMAL (WAL) survives a crash of the process, FULL also a power "
        "loss; a write is acknowledged only once committed at this level",
    )
    mongo_url: str | None = Field(None, description="MongoDB URL; unset means embedded SQLite in DATA_DIR")
    mongo_db: str = Field("deskline", description="MongoDB database name")
    redis_url: str | None = Field(None, description="Redis URL; set it to share rooms and emits between instances")
    redis_channel: str = Field("deskline", description="Redis pub/sub channel shared by the instances")
    redis_shards: int = Field(
        4096,
        ge=0,
        description="channels an emit to one room is published on (by a hash of the room; an instance hears "
        "one only while it holds a member of a room on it); 0: every message on the one shared channel. "
        "Every instance of a deployment must use the same value",
    )
    redis_max_connections: int = Field(
        64, gt=0, description="connections per process to Redis for rate limits and presence; more requests wait"
    )
    workers: int = Field(
        1, ge=1, description="processes sharing the port (SO_REUSEPORT, WebSocket transport only); >1 needs REDIS_URL"
    )
    migrate_on_start: bool = Field(True, description="apply pending schema migrations when the server starts")
    jwt_secret: str | None = Field(None, description="HS256 secret; unset means one is generated and kept in DATA_DIR")
    access_token_minutes: int = Field(15, description="lifetime of an access JWT")
    refresh_token_days: int = Field(30, description="lifetime of a refresh token")
    env: Literal["development", "production"] = Field(
        "production", description="development or production; production warns at start about CORS_ORIGINS=*"
    )
    handler_timeout_seconds: float = Field(
        30,
        gt=0,
        description="longest an event handler may run; past it, it is cancelled and the event acked internal",
    )
    session_recheck_seconds: float = Field(
        10, ge=0, description="how long a socket trusts its last read of the account's session version (0: every event)"
    )
    recovery_window_seconds: float = Field(
        120,
        ge=0,
        description="connection-state recovery: how long a dropped socket's session and the broadcasts it missed are "
        "kept (socket.io-client with auth.recover = true gets them back on reconnect); 0 disables recovery",
    )
    cors_origins: str = Field(
        "*", description="comma-separated allowed origins (these may send credentials), or * (any, never credentials)"
    )
    max_payload_bytes: int = Field(1024 * 1024, description="largest event payload accepted")
    history_limit: int = Field(200, description="chat messages replayed to a joiner")
    login_max_failures: int = Field(5, description="failed logins allowed per account and per address in the window")
    login_failure_window_seconds: int = Field(300, description="window of the failed-login limit")
    trusted_proxies: str = Field(
        "",
        description="comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For gives the client address; "
        "empty: the peer address is the client's",
    )
    send_backlog: int = Field(
        10_000,
        ge=1,
        description="packets one socket may have waiting to be written (a client reading too slowly); "
        "past it the server drops the connection",
    )
    websocket_compression: bool = Field(False, description="allow permessage-deflate (costs ~88 kB per connection)")
    log_level: str = Field("INFO", description="logging level")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="json (one object per line) or text; auto: text when stderr is a terminal, else json"
    )
    metrics_dir: Path | None = Field(
        None,
        description="folder shared by the processes serving one port, so GET /metrics sums them "
        "(prometheus-client multiprocess mode); --workers makes a private one when unset, and clears it when set",
    )
    shutdown_drain_seconds: float = Field(
        0, ge=0, le=5, description="on SIGTERM, seconds /ready answers 503 before the sockets close (a proxy's check)"
    )
    smtp_host: str | None = Field(None, description="SMTP server; unset turns the email channel off")
    smtp_port: int = Field(587, description="SMTP port (465 means implicit TLS unless SMTP_TLS says otherwise)")
    smtp_user: str | None = Field(None, description="SMTP login, if the server wants one")
    smtp_password: str | None = Field(None, description="SMTP password")
    smtp_starttls: bool = Field(
        True, description="upgrade the SMTP connection with STARTTLS, which the server must offer (not with SMTP_TLS)"
    )
    smtp_tls: bool | None = Field(
        None, description="implicit TLS from the first byte (SMTPS); unset means on exactly when SMTP_PORT is 465"
    )
    smtp_ca_file: Path | None = Field(
        None, description="PEM file of the CA(s) that sign the SMTP server's certificate; unset: system trust store"
    )
    smtp_from: str = Field("Deskline <no-reply@deskline.local>", description="From address of outgoing mail")
    sms_provider: str | None = Field(None, description="twilio or log; unset turns the SMS channel off")
    sms_base_url: str = Field("https://api.twilio.com", description="base URL of the Twilio-style SMS API")
    sms_account_sid: str | None = Field(None, description="SMS provider account id (Twilio Account SID)")
    sms_auth_token: str | None = Field(None, description="SMS provider secret (Twilio Auth Token)")
    sms_from: str | None = Field(None, description="sender number or id of outgoing SMS")
    default_country: str = Field("IR", description="country of local phone numbers like 09xxxxxxxxx (ISO code or +NN)")
    argon2_time_cost: int = Field(3, gt=0, description="argon2id passes over memory")
    argon2_memory_kib: int = Field(65536, gt=0, description="argon2id memory per hash, in KiB")
    argon2_parallelism: int = Field(4, gt=0, description="argon2id lanes")
    public_base_url: str = Field("http://localhost:8000", description="URL users reach the server at (reset links)")
    notify_poll_seconds: float = Field(
        1.0, gt=0, description="how often the outbox worker looks for due messages (and probes a channel that was down)"
    )
    notify_backoff_seconds: float = Field(30.0, gt=0, description="first retry delay of an email or SMS; doubles")
    notify_backoff_max_seconds: float = Field(
        3600.0, gt=0, description="longest retry delay, also while the mail server or SMS provider is unavailable"
    )
    notify_max_attempts: int = Field(
        8, gt=0, description="tries failed by the message itself (e.g. 4xx to its recipient) before it is failed"
    )
    notify_max_age_hours: float = Field(
        72.0,
        gt=0,
        description="an email or SMS still undelivered this long after it was queued (e.g. the mail server or "
        "SMS provider down or misconfigured: those tries do not count as attempts) is marked failed",
    )
    notify_send_timeout_seconds: float = Field(
        30.0, gt=0, description="deadline of one whole email or SMS send, from connecting to the provider's answer"
    )
    notify_lease_seconds: float = Field(
        120.0, gt=0, description="how long a claimed message is reserved for its sender (at least twice the deadline)"
    )
    notify_batch_size: int = Field(20, gt=0, description="messages one worker claims at a time")
    attachment_max_bytes: int = Field(10 * 1024 * 1024, description="largest attachment upload accepted, in bytes")
    attachment_content_types: str = Field(
        "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain",
        description="comma-separated content types an attachment may have",
    )
    attachment_quota_bytes: int = Field(
        200 * 1024 * 1024,
        ge=0,
        description="bytes one uploader (user or workspace key) may upload per quota window; 0 means no quota",
    )
    attachment_quota_window_hours: float = Field(24.0, gt=0, description="length of the upload quota window")
    demo: bool = Field(
        False, description="make the demo workspace and accounts at start (new passwords printed) and serve GET /demo"
    )
    helpdesk_stats_debounce_seconds: float = Field(
        1.0, gt=0, description="helpdesk_stats_updated is pushed at most this often per workspace (and instance)"
    )
    profile_picture_max_bytes: int = Field(
        512 * 1024, gt=0, description="largest upload accepted as a profile picture (PNG, JPEG, GIF or WebP), in bytes"
    )
    unlinked_upload_ttl_hours: float = Field(
        24.0, gt=0, description="an upload that no ticket or message references this long is deleted (record and bytes)"
    )
    unlinked_upload_sweep_seconds: float = Field(
        300.0, gt=0, description="how often an instance looks for unreferenced uploads past their TTL"
    )
    pool_hold_limit: int = Field(15, ge=1, le=1000, description="unsold pool tickets an agent may hold at once")
    call_ring_seconds: float = Field(45.0, gt=0, description="how long a call rings before it is missed")
    presence_heartbeat_seconds: float = Field(
        10.0, gt=0, description="how often an instance refreshes its Redis heartbeat and looks for dead instances"
    )
    presence_ttl_seconds: float = Field(
        30.0, gt=0, description="an instance whose heartbeat is this old is dead: its users go offline"
    )
    presence_grace_seconds: float = Field(
        10.0,
        ge=0,
        description="a signed-in socket that dropped and may be recovered (auth.recover) keeps its user online this "
        "long; back within it: no presence push at all; 0: offline at once",
    )
    turn_secret: str | None = Field(None, description="TURN REST API shared secret; unset means GET /api/turn is 404")
    turn_uris: str = Field("", description="comma-separated TURN URIs, e.g. turn:turn.example.com:3478")
    turn_ttl_seconds: int = Field(86400, gt=0, description="lifetime of the TURN credentials GET /api/turn hands out")
    stun_uris: str = Field("", description="comma-separated STUN URIs added to the ICE server list")

    rate_limit_default: str = Field(
        "2000/10",
        description="event rate limit per socket and per signed-in user for events of no other group: 'N/S' allows "
        "bursts of N events, refilled at N per S seconds; 'off' disables it",
    )
    rate_limit_calls: str = Field(
        "60/10", description="the same for call signalling (callUser, answerCall, endCall, call_*)"
    )
    rate_limit_auth: str = Field(
        "30/60",
        description="the same for register, login, refresh_token, login_with_code, request_login_code, "
        "request_password_reset, reset_password (on top of the failed-login limit)",
    )
    rate_limit_uploads: str = Field("30/60", description="attachment uploads per uploader (user or workspace key)")
    rate_limit_uploads_per_address: str = Field("120/60", description="attachment uploads per client address")
    rate_limit_disconnect_after: int = Field(
        20, gt=0, description="a socket refused this many events within the strike window is disconnected"
    )
    rate_limit_strike_window_seconds: float = Field(
        10.0, gt=0, description="window of RATE_LIMIT_DISCONNECT_AFTER (refusals are forgotten at that pace)"
    )

    @field_validator(*RATE_SETTINGS)
    @classmethod
    def _rate_is_readable(cls, value: str) -> str:
        """Refuse a rate that is neither 'N/S' nor 'off'."""
        parse_rate(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        """Refuse a trusted proxy that is not an IP address or CIDR network."""
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)
        return value

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Settings:
        """Refuse an outbox lease that a send could outlive (another worker would send the message again)."""
        if self.notify_lease_seconds < 2 * self.notify_send_timeout_seconds:
            raise ValueError(
                "DESKLINE_NOTIFY_LEASE_SECONDS must be at least twice DESKLINE_NOTIFY_SEND_TIMEOUT_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _presence_outlives_a_heartbeat(self) -> Settings:
        """Refuse a presence TTL a heartbeat could outlive (with Redis, live instances would be reaped)."""
        if self.redis_url and self.presence_ttl_seconds <= self.presence_heartbeat_seconds:
            raise ValueError("DESKLINE_PRESENCE_TTL_SECONDS must be longer than DESKLINE_PRESENCE_HEARTBEAT_SECONDS")
        return self

    def workers_refusal(self) -> str | None:
        """Return why these settings cannot run several workers (``--workers N``), or None."""
        if self.workers > 1 and not self.redis_url:
            return (
                f"--workers {self.workers} needs Redis: set DESKLINE_REDIS_URL (the workers share rooms and "
                "emits through it), or run one worker"
            )
        if self.workers > 1 and not hasattr(socket, "SO_REUSEPORT"):
            return "--workers needs SO_REUSEPORT, which this platform lacks"
        return None

    def smtp_implicit_tls(self) -> bool:
        """Return whether SMTP talks TLS from the first byte: ``SMTP_TLS`` if set, else port 465."""
        return self.smtp_tls if self.smtp_tls is not None else self.smtp_port == 465

    def sqlite_path(self) -> Path:
        """Return the embedded database file."""
        return self.data_dir / "deskline.db"

    def cors_credentials(self) -> bool:
        """Return whether cross-origin requests may carry credentials: only from listed origins, never with *."""
        return self.cors_list() != "*"

    def cors_list(self) -> list[str] | str:
        """Return the allowed origins in the shape python-socketio takes."""
        if self.cors_origins.strip() == "*":
            return "*"
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def storage_kind(self) -> str:
        """Return ``mongo`` or ``sqlite``."""
        return "mongo" if self.mongo_url else "sqlite"


def parse_rate(text: str) -> tuple[int, float] | None:
    """Return (burst, seconds) of a rate written 'N/S', or None for 'off'; raise ``ValueError`` otherwise."""
    if text.strip().lower() == "off":
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*", text)
    if not match or int(match[1]) < 1 or float(match[2]) <= 0:
        raise ValueError(f"a rate is 'N/S' (N events per S seconds, N >= 1, S > 0) or 'off', not {text!r}")
    return int(match[1]), float(match[2])


def describe_settings() -> str:
    """Return a help text listing every environment variable and its default."""
    lines = ["Environment variables (prefix DESKLINE_):"]
    for name, field in Settings.model_fields.items():
        default = field.default
        lines.append(f"  DESKLINE_{name.upper():<30} {field.description} (default: {default})")
    return "\n".join(lines)
