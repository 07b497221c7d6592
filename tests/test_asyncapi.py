"""The AsyncAPI document: complete, current in docs/, served, and valid for the official AsyncAPI parser."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
import yaml

from handlers.asyncapi import MissingSchema, document, registry
from models.pushes import ALL_PUSHES
from server import VERSION
from tests.helpers import ROOT, RunningServer, npm_installed

COMMITTED = ROOT / "docs" / "asyncapi.yaml"
TOOL = ROOT / "tools" / "asyncapi"


def asyncapi_parser() -> Path:
    """Install the pinned @asyncapi/parser once (npm registry) and return its folder."""
    return npm_installed(TOOL, "@asyncapi/parser")


def test_the_committed_document_is_current() -> None:
    committed = yaml.safe_load(COMMITTED.read_text())
    assert committed == document(VERSION), "docs/asyncapi.yaml is stale: python server.py asyncapi > docs/asyncapi.yaml"


async def test_every_event_the_server_registers_and_every_push_has_a_schema(server: RunningServer) -> None:
    doc = document(VERSION)
    assert set(registry()) == set(server.deps.events)  # the catalog sees exactly what a running server declares
    messages = doc["components"]["messages"]
    for name in server.deps.events:
        assert messages[name]["payload"]["$ref"].startswith("#/components/schemas/"), name
        assert messages[f"{name}.ack"]["payload"]["oneOf"][1] == {"$ref": "#/components/schemas/ErrorAck"}
        assert doc["operations"][f"on.{name}"]["action"] == "receive"
    for name in ALL_PUSHES:
        assert messages[f"push.{name}"]["payload"], name
        assert doc["operations"][f"push.{name}"]["action"] == "send"
    for ref in _refs(doc):
        target: object = doc
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, f"dangling {ref}"
            target = target[part]


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_an_event_or_push_without_a_model_fails_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ALL_PUSHES, "undeclared_push", SimpleNamespace(name="undeclared_push", model=None, bare=False))
    with pytest.raises(MissingSchema, match="undeclared_push"):
        document.__wrapped__(VERSION)


async def test_served_at_asyncapi_json(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/asyncapi.json") as resp:
        assert resp.status == 200
        assert await resp.json() == document(VERSION)


@pytest.mark.timeout(300)
async def test_the_asyncapi_parser_finds_no_error_nor_warning() -> None:
    tool = await asyncio.to_thread(asyncapi_parser)
    node = shutil.which("node")
    assert node
    proc = await asyncio.create_subprocess_exec(
        node, "validate.mjs", str(COMMITTED), cwd=tool, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 240)
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert proc.returncode == 0 and report["parsed"], (report, err.decode()[-2000:])
    assert report["errors"] == [] and report["warnings"] == []
