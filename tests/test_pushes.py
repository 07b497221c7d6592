"""Every push goes through the one emitter with a declared ``Push``: no raw ``emit`` of a name, anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from handlers.compat import DowellEnvelope
from models.support import TICKET_RESPONSE
from tests.helpers import RunningServer

ROOT = Path(__file__).resolve().parent.parent
APP_PACKAGES = ("handlers", "services", "storage", "models", "auth", "notify")
# The only raw emits: the emitter itself, and the socket layer's own overrides of the manager's ``emit`` (the engine,
# and connection-state recovery, which persists each broadcast and hands it on).
EMITTER = ("wiring.py", "SioEmitter.push")
ENGINE = {"handlers/sio_engine.py", "handlers/sio_emit.py", "handlers/recovery_emits.py"}


def app_modules() -> list[Path]:
    """Return every module of the server (not tests, tools or benches)."""
    found = [path for package in APP_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    return found + sorted(ROOT.glob("*.py"))


def qualified_calls(tree: ast.AST, attribute: str) -> list[tuple[str, ast.Call]]:
    """Return each ``x.<attribute>(...)`` call with the ``Class.method`` (or function) it is written in."""
    found: list[tuple[str, ast.Call]] = []

    def visit(node: ast.AST, where: list[str]) -> None:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            where = [*where, node.name]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attribute:
            found.append((".".join(where), node))
        for child in ast.iter_child_nodes(node):
            visit(child, where)

    visit(tree, [])
    return found


def source_of(path: Path) -> tuple[str, ast.Module]:
    """Return a module's path relative to the repository and its parsed source."""
    module = str(path.relative_to(ROOT))
    return module, ast.parse(path.read_text(), module)


def raw_emits(module: str, tree: ast.AST) -> list[str]:
    """Return ``module:line`` of every ``.emit(...)`` call outside the one emitter."""
    if module in ENGINE:
        return []
    return [
        f"{module}:{call.lineno} ({where or 'module'})"
        for where, call in qualified_calls(tree, "emit")
        if (module, where) != EMITTER
    ]


def literal_pushes(module: str, tree: ast.AST) -> list[str]:
    """Return ``module:line`` of every ``.push(...)`` whose first argument is not a declared push constant."""
    return [
        f"{module}:{call.lineno}"
        for _, call in qualified_calls(tree, "push")
        if call.args and isinstance(call.args[0], ast.Constant | ast.JoinedStr | ast.BinOp)
    ]


def push_declarations_outside_models(module: str, tree: ast.Module) -> list[str]:
    """Return ``module:line`` of every ``Push(...)`` made outside ``models/`` or below module level."""
    at_module_level = {id(n.value) for n in tree.body if isinstance(n, ast.Assign | ast.AnnAssign)}
    return [
        f"{module}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Push"
        and (not module.startswith("models/") or id(node) not in at_module_level)
    ]


def test_nothing_emits_around_the_emitter() -> None:
    found = [hit for path in app_modules() for hit in raw_emits(*source_of(path))]
    assert not found, "raw emits (declare a Push in models/ and use emitter.push / ctx.push):\n  " + "\n  ".join(found)


def test_pushes_name_a_declared_constant() -> None:
    found = [hit for path in app_modules() for hit in literal_pushes(*source_of(path))]
    assert not found, "push of a literal name (use the Push constant):\n  " + "\n  ".join(found)


def test_pushes_are_declared_once_in_models() -> None:
    found = [hit for path in app_modules() for hit in push_declarations_outside_models(*source_of(path))]
    assert not found, "Push(...) outside a models/ module's top level:\n  " + "\n  ".join(found)


def test_the_checks_see_a_raw_emit_and_a_literal_push() -> None:
    source = (
        "class Rooms:\n"
        "    async def tell(self, sio, emitter):\n"
        "        await sio.emit('ticket_response', {})\n"
        "        await emitter.push('ticket_response', {}, to='r')\n"
        "        await emitter.push(f'{x}', {}, to='r')\n"
        "        await emitter.push(TICKET_RESPONSE, {}, to='r')\n"
        "X = Push('x', M)\n"
        "def f():\n"
        "    return Push('y', M)\n"
    )
    tree = ast.parse(source)
    assert [where for where, _ in qualified_calls(tree, "emit")] == ["Rooms.tell"]
    pushes = qualified_calls(tree, "push")
    assert [isinstance(call.args[0], ast.Constant | ast.JoinedStr) for _, call in pushes] == [True, True, False]
    probe = "models/probe.py"
    assert raw_emits(probe, tree) == [f"{probe}:3 (Rooms.tell)"]
    assert literal_pushes(probe, tree) == [f"{probe}:4", f"{probe}:5"]
    assert push_declarations_outside_models(probe, tree) == [f"{probe}:9"]
    assert push_declarations_outside_models("services/probe.py", tree) == ["services/probe.py:7", "services/probe.py:9"]
    assert (
        raw_emits("wiring.py", ast.parse("class SioEmitter:\n    async def push(self):\n        sio.emit(1)\n")) == []
    )


def test_a_dowell_envelope_takes_a_declared_push_not_a_name() -> None:
    with pytest.raises(TypeError):
        DowellEnvelope(response="ticket_response", operation="probe")  # type: ignore[arg-type]
    assert DowellEnvelope(response=TICKET_RESPONSE, operation="probe").response.name == "ticket_response"


async def test_the_context_has_no_raw_emit(server: RunningServer) -> None:
    """Handlers reach sockets only through the emitter: the old ``emit(name, data)`` doors are gone."""
    from handlers.context import EventContext

    assert not hasattr(server.deps, "emit") and not hasattr(EventContext, "emit")


async def test_a_compat_failure_goes_through_the_emitter(server: RunningServer) -> None:
    """A Dowell failure envelope is counted by the emitter (deskline_emits_total) like every other push."""
    from handlers.metrics import metrics

    before = metrics().emits.labels("ticket_response")._value.get()
    old = await server.client()
    await old.error("get_tickets", {"workspace_id": "nope"}, "invalid_payload")
    said = await old.inbox.wait_for("ticket_response", lambda d: d["status"] == "failure")
    assert said == {"data": "Invalid Data", "status": "failure", "operation": "get_ticket"}
    assert metrics().emits.labels("ticket_response")._value.get() == before + 1


async def test_the_emitter_refuses_an_undeclared_push(server: RunningServer) -> None:
    """A push whose declaration is not in the registry (or names another model) never reaches a socket."""
    from pydantic import BaseModel

    from models.pushes import ALL_PUSHES, Push

    class Probe(BaseModel):
        """A payload nobody declared."""

        x: int

    probe = Push("probe_undeclared_push", Probe)
    del ALL_PUSHES[probe.name]  # as if it had been made outside models/ and never registered
    with pytest.raises(ValueError, match="not declared"):
        await server.deps.emitter.push(probe, Probe(x=1), to="r")
    with pytest.raises(ValueError, match="declared twice"):
        Push(TICKET_RESPONSE.name, Probe)  # a second model for a declared name is refused at declaration
    await server.deps.emitter.push(TICKET_RESPONSE, {"data": "x", "status": "success", "operation": "p"}, to="r")
