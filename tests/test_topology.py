"""The production topology: docker-compose.yml validated, and the same nginx config run for real in front of
two server processes on MongoDB (secantusdb) and Redis, with a JS socket.io-client outliving one instance."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import socketio
import yaml

from tests.browser import node_modules
from tests.helpers import ROOT, Client, ServerProcess, connect_client, free_port, start_all

NGINX_CONF = ROOT / "deploy" / "nginx" / "deskline.conf"
COMPOSE = ROOT / "docker-compose.yml"
MESSAGE = {"type": "chat", "side": "client", "author": "py", "message_type": "text"}
ROUNDS = 4  # acked messages per polling client (each one a POST and a long-poll GET through nginx)
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


def required_or_skip(flag: str, what: str) -> None:
    """Skip for lack of ``what``, or fail when CI set ``flag`` (it installs it)."""
    if os.environ.get(flag):
        pytest.fail(f"{flag} is set but {what} is not installed")
    pytest.skip(f"{what} is not installed here (.ci/run installs it)")


def nginx_binary() -> str:
    """Debian's nginx (often in /usr/sbin, off a non-root PATH)."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if not found:
        required_or_skip("DESKLINE_REQUIRE_NGINX", "nginx")
    return str(found)


def compose_command() -> list[str]:
    """``docker compose`` when the plugin is there, else Debian's ``docker-compose``."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode == 0:
        return [docker, "compose"]
    if found := shutil.which("docker-compose"):
        return [found]
    required_or_skip("DESKLINE_REQUIRE_COMPOSE", "docker compose (or docker-compose)")
    raise AssertionError("unreachable")


def proxy_site(listen: int, upstreams: list[int]) -> str:
    """deploy/nginx/deskline.conf with only the listen port and the upstream addresses rewritten."""
    text = NGINX_CONF.read_text()
    swaps = {"listen 80;": f"listen 127.0.0.1:{listen};"}
    swaps |= {f"server deskline{n}:8000 ": f"server 127.0.0.1:{port} " for n, port in enumerate(upstreams, 1)}
    for old, new in swaps.items():
        assert text.count(old) == 1, f"{old!r} must appear once in {NGINX_CONF}"
        text = text.replace(old, new)
    return text


class Nginx:
    """A real nginx in the foreground on a free port, every path in its own temp dir."""

    def __init__(self, folder: Path, upstreams: list[int]) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "deskline.conf").write_text(proxy_site(self.port, upstreams))
        user = "user root;" if os.geteuid() == 0 else ""  # workers must read the temp dir
        temps = "\n".join(f"  {kind}_temp_path {folder}/{kind};" for kind in ("client_body", "proxy", "fastcgi"))
        temps += f"\n  uwsgi_temp_path {folder}/uwsgi;\n  scgi_temp_path {folder}/scgi;"
        (folder / "nginx.conf").write_text(
            f"daemon off;\n{user}\nworker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log info;\n"
            "events { worker_connections 512; }\n"
            "http {\n  log_format upstream '$request_uri $status $upstream_addr';\n"
            f"  access_log {folder}/access.log upstream;\n{temps}\n  include {folder}/deskline.conf;\n}}\n"
        )

    def command(self, *extra: str) -> list[str]:
        """The nginx command line for this config."""
        conf = str(self.folder / "nginx.conf")
        return [nginx_binary(), "-p", str(self.folder), "-c", conf, "-e", str(self.folder / "error.log"), *extra]

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Nginx:
        """Start nginx and wait until it accepts connections."""
        with (self.folder / "stderr.log").open("wb") as err:
            self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.folder / "stderr.log").read_text()
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return self
            except OSError:
                await asyncio.sleep(0.1)
        raise RuntimeError("nginx did not start")

    def stop(self) -> None:
        """Stop nginx."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def upstreams_used(self) -> list[str]:
        """The upstream address of every request nginx logged so far."""
        log = self.folder / "access.log"
        return [line.split()[-1] for line in log.read_text().splitlines()] if log.exists() else []


def mount(volume: str | dict[str, str]) -> tuple[str, str]:
    """(resolved source, target) of a bind mount, short (docker-compose) or long (docker compose) syntax."""
    source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
    return str(Path(source).resolve()), target


def test_compose_file_is_valid_and_describes_the_topology(tmp_path: Path) -> None:
    command = compose_command()
    env = {**os.environ, "DESKLINE_JWT_SECRET": "compose-test-" + "z" * 40}
    done = subprocess.run([*command, "-f", str(COMPOSE), "config"], capture_output=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    services = yaml.safe_load(done.stdout)["services"]
    assert set(services) == {"mongo", "redis", "deskline1", "deskline2", "nginx"}
    mongo = services["mongo"]
    assert "--replSet" in mongo["command"] and "rs.initiate" in " ".join(mongo["healthcheck"]["test"])
    for name in ("deskline1", "deskline2"):
        app = services[name]
        assert Path(app["build"]["context"]).resolve() == ROOT
        assert "replicaSet=rs0" in app["environment"]["DESKLINE_MONGO_URL"]
        assert app["environment"]["DESKLINE_REDIS_URL"].startswith("redis://redis:")
        assert app["environment"]["DESKLINE_JWT_SECRET"] == env["DESKLINE_JWT_SECRET"]
        assert app["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert {services["nginx"]["depends_on"][n]["condition"] for n in ("deskline1", "deskline2")} == {"service_healthy"}
    mounts = dict(mount(volume) for volume in services["nginx"]["volumes"])
    assert mounts[str(NGINX_CONF)] == "/etc/nginx/conf.d/default.conf"

    broken = tmp_path / "docker-compose.yml"  # the validator does reject a wrong file
    broken.write_text(
        COMPOSE.read_text().replace(
            '    healthcheck:\n      test: ["CMD", "redis-cli"', '    healthcheck:\n      tset: ["CMD", "redis-cli"'
        )
    )
    assert broken.read_text() != COMPOSE.read_text()
    refused = subprocess.run([*command, "-f", str(broken), "config", "-q"], capture_output=True, env=env, timeout=60)
    assert refused.returncode != 0


def test_dockerfile_runs_as_non_root_with_a_ready_healthcheck() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert "USER deskline" in lines and "useradd --system --uid 10001" in "\n".join(lines)
    healthcheck = "\n".join(lines[lines.index(next(x for x in lines if x.startswith("HEALTHCHECK"))) :][:2])
    assert "http://127.0.0.1:8000/ready" in healthcheck


def test_nginx_accepts_the_config_compose_mounts(tmp_path: Path) -> None:
    proxy = Nginx(tmp_path / "nginx", [free_port(), free_port()])
    done = subprocess.run(proxy.command("-t"), capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()
    assert "test is successful" in done.stderr.decode()


@pytest.fixture
async def topology(tmp_path: Path, redis_url: str, mongo_url: str) -> AsyncIterator[tuple[list[ServerProcess], Nginx]]:
    """Two instances on one MongoDB database and one Redis channel, nginx in front with the compose config."""
    nginx_binary()
    env = {
        "DESKLINE_DATA_DIR": str(tmp_path / "data"),
        "DESKLINE_MONGO_URL": mongo_url,
        "DESKLINE_MONGO_DB": f"topology_{uuid.uuid4().hex[:10]}",
        "DESKLINE_REDIS_URL": redis_url,
        "DESKLINE_REDIS_CHANNEL": f"deskline-topology-{uuid.uuid4().hex}",
        "DESKLINE_JWT_SECRET": "topology-secret-" + "t" * 40,
        "DESKLINE_TRUSTED_PROXIES": "127.0.0.1",
        "DESKLINE_LOG_LEVEL": "WARNING",
    }
    nodes = [ServerProcess(env, free_port()), ServerProcess(env, free_port())]
    await start_all(*nodes)
    proxy = Nginx(tmp_path / "nginx", [node.port for node in nodes])
    try:
        await proxy.start()
        yield nodes, proxy
    finally:
        proxy.stop()
        for node in nodes:
            node.stop()


async def polling_client(url: str) -> tuple[socketio.AsyncClient, list[Any]]:
    """A python-socketio client that never leaves the long-polling transport."""
    sio = socketio.AsyncClient(reconnection=False)
    seen: list[Any] = []
    sio.on("my_response", lambda msg: seen.append(msg))
    await sio.connect(url, transports=["polling"], wait_timeout=10)
    return sio, seen


@pytest.mark.timeout(180)  # the polling clients' disconnect alone takes ~30 s
async def test_polling_clients_through_the_proxy_keep_their_sessions(topology: Any) -> None:
    nodes, proxy = topology
    direct = await connect_client(nodes[1].url)  # on an instance, to see the polling clients' messages cross
    first, first_seen = await polling_client(proxy.url)
    second, _ = await polling_client(proxy.url)
    try:
        await direct.ok("join", {"room": "sticky"})
        for sio in (first, second):
            assert (await sio.call("join", {"room": "sticky"}, timeout=10))["ok"] is True
        for n in range(ROUNDS):  # many requests per session: each must reach the instance that holds it
            for name, sio in (("first", first), ("second", second)):
                text = f"{name} {n}"
                ack = await sio.call(
                    "message_event", {**MESSAGE, "room_id": "sticky", "message_data": text}, timeout=10
                )
                assert ack["ok"] is True, ack
                await direct.inbox.wait_for("my_response", lambda m, t=text: m.get("data") == t)
        assert {m.get("data") for m in first_seen} >= {f"second {n}" for n in range(ROUNDS)}
        assert first.transport() == "polling" and second.transport() == "polling"
        assert len(set(proxy.upstreams_used())) == 1  # one client address, one instance
    finally:
        # python-socketio's polling client waits out the pending long-poll (~30 s) on disconnect: both at once.
        await asyncio.gather(first.disconnect(), second.disconnect(), direct.close())


class NodeClient:
    """tests/js/failover_flow.mjs: a JS socket.io-client driven over stdin/stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def next(self, event: str, timeout: float = 20) -> dict[str, Any]:
        """Return the next report named ``event`` (skipping others)."""
        assert self.proc.stdout
        async with asyncio.timeout(timeout):
            while True:
                line = await self.proc.stdout.readline()
                assert line, f"the JS client exited waiting for {event}"
                report = json.loads(line)
                if report["event"] == event:
                    return report

    async def ack(self, cmd: str, **extra: str) -> dict[str, Any]:
        """Send a command and return its ack."""
        assert self.proc.stdin
        self.proc.stdin.write((json.dumps({"cmd": cmd, **extra}) + "\n").encode())
        await self.proc.stdin.drain()
        report = await self.next("ack")
        assert "ack" in report, report
        return dict(report["ack"])


async def test_js_client_outlives_the_instance_it_was_on(topology: Any) -> None:
    nodes, proxy = topology
    js_user = await connect_client(nodes[0].url)
    tokens = await js_user.ok(
        "register", {"email": "js@example.com", "name": "JS", "password": "correct horse battery"}
    )
    await js_user.close()
    caller: Client | None = None
    node = shutil.which("node")
    assert node, "node is required (.ci/run installs it)"
    js = await asyncio.to_thread(node_modules)
    proc = await asyncio.create_subprocess_exec(
        node,
        "failover_flow.mjs",
        proxy.url,
        tokens["access_token"],
        cwd=js,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    client = NodeClient(proc)
    try:
        before = await client.next("connected")
        await client.next("upgraded")
        assert (await client.ack("me"))["data"]["email"] == "js@example.com"
        pinned = {addr for addr in proxy.upstreams_used() if addr != "-"}
        assert len(pinned) == 1, pinned
        victim = next(n for n in nodes if pinned == {f"127.0.0.1:{n.port}"})
        survivor = nodes[1 - nodes.index(victim)]

        victim.kill()  # the instance dies: nginx drops its sockets, the client reconnects through it
        await client.next("disconnected")
        after = await client.next("connected")
        assert after["sid"] != before["sid"]
        assert f"127.0.0.1:{survivor.port}" in proxy.upstreams_used()

        me = await client.ack("me")  # still signed in: the token was re-checked on the new instance
        assert me["ok"] is True and me["data"]["email"] == "js@example.com", me
        sent = await client.ack("message", text="after the switch")
        assert sent["ok"] is True and sent["data"]["message_data"] == "after the switch", sent
        caller = await connect_client(proxy.url)  # through the proxy too, so on the survivor
        await caller.ok("register", {"email": "py@example.com", "name": "Py", "password": "correct horse battery"})
        call = await caller.ok("call_invite", {"to_user": tokens["user"]["id"], "media": "audio", "sdp": OFFER})
        assert (await client.next("call_incoming"))["call_id"] == call["id"]  # its user room was restored
    finally:
        if caller:
            await caller.close()
        if proc.stdin:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
