"""docs/events.md against the code: every event, push and notification kind documented once, with its fields.

How the page is read (the conventions docs/events.md follows):

- **Events** are the rows of the tables whose first header cell is ``event`` (or ``client emits`` for the Dowell
  support table): the first cell starts with the event name in backticks. The payload is the ``payload`` column
  (in ``client emits`` tables: the rest of the first cell).
- **Pushes** are the rows of the tables whose first header cell is ``push``: the first cell is the push name in
  backticks, the ``payload`` column its payload. A push mentioned in prose or in an event's ``pushes`` column
  is not declared by that: it needs its row.
- **A payload** is the first ``{...}`` of its cell and every further ``{...}`` that is an alternative to it
  (``{ids} or {all: true}``), all before the cell's first ``;``; ``none`` (or ``anything``) means no fields. Its
  fields are the top-level names, split at commas and ``|``; ``name?`` marks an optional field; what follows a
  name (``: type``, ``(limits)``, quoted values) is description. **Nesting**: when the model types a field as a
  pydantic model (or a list of them), the ``{...}`` after its name (the union of ``{a} | {b}`` alternatives, or
  of ``[{...}, ...]``) is held against that model the same way; a model-typed field with no ``{...}`` after it
  is described elsewhere and not checked; dicts (``{<kind>: {<channel>: bool}}``) are description.
  In a section that says "Every payload carries `workspace_id` and `api_key`", those two fields are implied.
- **Notification kinds** are the rows of the table whose first header cell is ``kind``; **error codes** those of
  the table whose first header cell is ``code``.

A documented field list must equal the model's fields (aliases when set), and a field marked ``?`` must be
optional in the model and a required model field must not be marked ``?``.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel, RootModel

import models
from models.errors import ErrorCode
from models.notify import Kind
from models.pushes import ALL_PUSHES
from tests.helpers import RunningServer

DOC = Path(__file__).resolve().parent.parent / "docs" / "events.md"

CODE_PACKAGES = ("handlers", "services", "models", "notify", "storage", "auth")

NAME = re.compile(r"^`([A-Za-z_][A-Za-z0-9_.]*)`")
FIELD = re.compile(r'^"?([A-Za-z_][A-Za-z0-9_]*)"?(\?)?')
CELL_SPLIT = re.compile(r"(?<!\\)\|")
IMPLIED_KEY_FIELDS = "Every payload carries `workspace_id` and `api_key`"


@dataclass
class Row:
    """One documented event, push or kind: its name, its payload fields (name → optional), where it is."""

    name: str
    fields: dict[str, bool] | None
    line: int
    unreadable: str | None = None  # why the payload cell documents no fields (checked only once it has a model)
    values: dict[str, str] = field(default_factory=dict)  # what the cell says after each field name


@dataclass
class Doc:
    """What docs/events.md declares."""

    events: dict[str, list[Row]] = field(default_factory=dict)
    pushes: dict[str, list[Row]] = field(default_factory=dict)
    kinds: dict[str, list[Row]] = field(default_factory=dict)
    codes: dict[str, list[Row]] = field(default_factory=dict)


def split_top(text: str, separators: str) -> list[str]:
    """Split ``text`` at ``separators`` that are outside brackets and quotes (``\\|`` is a ``|``)."""
    parts, depth, quoted, current = [], 0, False, ""
    for ch in text.replace("\\|", "|"):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "{[(":
            depth += 1
        elif not quoted and ch in "}])":
            depth -= 1
        if not quoted and depth == 0 and ch in separators:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def brace_groups(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) of every top-level ``{...}`` in ``text``."""
    groups, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                groups.append((start, i + 1))
    return groups


def parse_payload(cell: str, values: dict[str, str] | None = None) -> dict[str, bool]:
    """Return the fields (name → optional) a payload cell documents; ``ValueError`` when it documents none.

    ``values`` receives what the cell says after each name (its type, limits, nested ``{...}``).
    """
    text = split_top(cell, ";")[0].strip()
    if re.match(r"^(none|anything)\b", text):
        return {}
    groups = brace_groups(text)
    if not groups:
        raise ValueError(f"no {{fields}} and not 'none': {cell!r}")
    chosen = [groups[0]]
    for start, end in groups[1:]:
        between = text[chosen[-1][1] : start].replace("`", "").strip()
        if not re.fullmatch(r"or( an?| a batch)?( \w+)?", between):
            break
        chosen.append((start, end))
    fields: dict[str, bool] = {}
    for start, end in chosen:
        inner = text[start + 1 : end - 1].strip()
        for item in split_top(inner, ",") if inner else []:
            for n, choice in enumerate(split_top(item, "|")):
                choice = choice.strip()
                found = FIELD.match(choice) if n == 0 or not choice.startswith('"') else None
                if found is not None:
                    fields[found[1]] = bool(found[2])
                    if values is not None and n == 0:
                        values[found[1]] = item.strip()[found.end() :]
                elif n == 0 and choice and not choice.startswith("..."):
                    raise ValueError(f"field {choice!r} of {cell!r} has no name")
                # a nameless or quoted alternative after ``|`` is another value: ``to: {..} | {role}``, ``"a" | "b"``
    return fields


def cells_of(line: str) -> list[str]:
    """Return the stripped cells of a markdown table line."""
    return [c.strip() for c in CELL_SPLIT.split(line.strip().strip("|"))]


def read_doc(text: str) -> Doc:
    """Parse the event, push and kind tables of the page (see the module docstring)."""
    doc = Doc()
    lines = text.splitlines()
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = ""
        section += line + "\n"
        is_table = line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-| ]+\|$", lines[i + 1].strip())
        if not is_table:
            i += 1
            continue
        header = [h.lower() for h in cells_of(line)]
        kind = {"event": "events", "client emits": "events", "push": "pushes", "kind": "kinds", "code": "codes"}.get(
            header[0]
        )
        i += 2
        while i < len(lines) and lines[i].startswith("|"):
            cells = dict(zip(header, cells_of(lines[i]), strict=False))
            first = cells[header[0]]
            named = NAME.match(first)
            if kind is not None and named is not None:
                payload_cell = cells.get("payload", first[named.end() :] if header[0] == "client emits" else None)
                fields, unreadable, values = None, None, {}
                if kind in ("events", "pushes"):
                    try:
                        fields = parse_payload(payload_cell or "", values)
                    except ValueError as err:
                        unreadable = str(err)
                if fields is not None and IMPLIED_KEY_FIELDS in section and header[0] == "client emits":
                    fields = {**fields, "workspace_id": False, "api_key": False}
                getattr(doc, kind).setdefault(named[1], []).append(Row(named[1], fields, i + 1, unreadable, values))
            i += 1
    return doc


def model_fields(model: type[BaseModel]) -> dict[str, bool]:
    """Return the model's wire fields (alias when set) → optional; a root union's are its members' (one per door)."""
    members = union_members(model)
    if members:
        each = [model_fields(member) for member in members]
        names = {name for fields in each for name in fields}
        return {name: any(fields.get(name, True) for fields in each) for name in names}
    return {(info.alias or name): not info.is_required() for name, info in model.model_fields.items()}


def union_members(model: type[BaseModel]) -> list[type[BaseModel]]:
    """Return the models of a ``RootModel`` over a union of models (e.g. ``mark_read``'s two doors), else []."""
    if not issubclass(model, RootModel):
        return []
    found: list[type[BaseModel]] = []
    pending = [model.model_fields["root"].annotation]
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.append(annotation)
        else:
            pending.extend(get_args(annotation))
    return found


def field_problems(what: str, rows: list[Row], model: type[BaseModel]) -> list[str]:
    """Compare the documented fields of ``rows`` (their union) with ``model``'s; return the differences."""
    documented: dict[str, bool] = {}
    unreadable = [f"docs/events.md:{row.line}: {row.unreadable}" for row in rows if row.fields is None]
    if unreadable:
        return [f"{what}: its payload is not documented as {{fields}} or none ({'; '.join(unreadable)})"]
    for row in rows:
        assert row.fields is not None
        for name, optional in row.fields.items():
            documented[name] = documented.get(name, False) or optional
    values = {name: value for row in rows for name, value in row.values.items()}
    where = ", ".join(f"docs/events.md:{row.line}" for row in rows)
    return compare(f"{what} ({where})", documented, values, model, single=len(rows) == 1)


def bare_problems(what: str, rows: list[Row], model: type[BaseModel]) -> list[str]:
    """Check a push sent bare: documented as none when its model has no field, else naming that field in backticks."""
    fields = list(model_fields(model))
    problems = []
    for row in rows:
        if not fields and row.fields != {}:
            problems.append(f"{what} (docs/events.md:{row.line}): sent with no data, so document its payload as none")
        if fields and f"`{fields[0]}`" not in (row.unreadable or ""):
            problems.append(f"{what} (docs/events.md:{row.line}): sent bare, so say it is the raw `{fields[0]}`")
    return problems


def compare(
    what: str, documented: dict[str, bool], values: dict[str, str], model: type[BaseModel], single: bool
) -> list[str]:
    """Return how ``documented`` fields differ from ``model``'s, nested ``{...}`` of model-typed fields included."""
    actual = model_fields(model)
    problems = []
    if set(documented) != set(actual):
        missing, extra = sorted(set(actual) - set(documented)), sorted(set(documented) - set(actual))
        problems.append(f"{what}: the doc misses {missing}, the model {model.__name__} lacks {extra}")
    by_wire = {
        (info.alias or name): info
        for member in union_members(model) or [model]
        for name, info in member.model_fields.items()
    }
    for name in sorted(set(documented) & set(actual)):
        # (a field with a default may be documented without ``?``: ``{all: true}``, ``everywhere: bool``)
        if single and documented[name] and not actual[name]:
            problems.append(f"{what}: {name}? is documented optional, {model.__name__} requires it")
        inner = nested_model(by_wire[name].annotation)
        groups = brace_groups(values.get(name, ""))
        if inner is None or not groups:
            continue  # not a model, or its fields are described elsewhere: ``customer`` (see above)
        nested: dict[str, bool] = {}
        nested_values: dict[str, str] = {}
        for start, end in groups:  # ``{a} | {b}`` alternatives and ``[{...}, ...]`` items: their union
            nested.update(parse_payload(values[name][start:end], nested_values))
        problems += compare(f"{what}.{name}", nested, nested_values, inner, single)
    return problems


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """Return the model inside a field's type (``Model``, ``Model | None``, ``list[Model]``, ``Annotated[...]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = nested_model(arg)
        if found is not None:
            return found
    return None


@pytest.fixture(scope="module")
def doc() -> Doc:
    return read_doc(DOC.read_text())


def declared_pushes() -> dict[str, Any]:
    """Return ``ALL_PUSHES`` once every module of ``models`` is imported (each declares its own pushes)."""
    for module in pkgutil.iter_modules(models.__path__):
        importlib.import_module(f"models.{module.name}")
    return dict(ALL_PUSHES)


async def test_every_event_is_documented_and_every_documented_event_exists(server: RunningServer, doc: Doc) -> None:
    registered = set(server.deps.events)
    undocumented = sorted(registered - set(doc.events))
    unknown = sorted(set(doc.events) - registered)
    assert not undocumented, f"registered events missing from docs/events.md: {undocumented}"
    assert not unknown, f"docs/events.md documents events nobody registers: {unknown}"


async def test_documented_payload_fields_are_the_models(server: RunningServer, doc: Doc) -> None:
    problems = []
    for name, model in sorted(server.deps.events.items()):
        if name not in doc.events:
            continue
        problems += field_problems(f"event {name}", doc.events[name], model)
    assert not problems, "\n".join(problems)


def test_every_push_is_documented_and_every_documented_push_is_declared(doc: Doc) -> None:
    declared = set(declared_pushes())
    undocumented = sorted(declared - set(doc.pushes))
    undeclared = sorted(set(doc.pushes) - declared)
    assert not undocumented, f"declared pushes without a row in a push table of docs/events.md: {undocumented}"
    assert not undeclared, f"docs/events.md documents pushes no models/ module declares: {undeclared}"


def test_documented_push_fields_are_the_models(doc: Doc) -> None:
    problems = []
    for name, push in sorted(declared_pushes().items()):
        if name in doc.pushes:
            check = bare_problems if push.bare else field_problems
            problems += check(f"push {name}", doc.pushes[name], push.model)
    assert not problems, "\n".join(problems)


def test_every_notification_kind_is_documented_once(doc: Doc) -> None:
    assert set(doc.kinds) == {kind.value for kind in Kind}, "the kind table of docs/events.md must list models.Kind"
    assert all(len(rows) == 1 for rows in doc.kinds.values())


def test_the_error_codes_are_the_closed_set(doc: Doc) -> None:
    assert set(doc.codes) == {code.value for code in ErrorCode}, "the code table of docs/events.md must list ErrorCode"


def kind_references() -> set[str]:
    """Return the ``Kind`` members the code names (``Kind.X``) outside the enum's own class body."""
    root = DOC.parent.parent
    used: set[str] = set()
    for package in CODE_PACKAGES:
        for path in (root / package).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            enum_body = {
                id(node)
                for cls in ast.walk(tree)
                if isinstance(cls, ast.ClassDef) and cls.name == "Kind"
                for node in ast.walk(cls)
            }
            used.update(
                node.attr
                for node in ast.walk(tree)
                if isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "Kind"
                and id(node) not in enum_body
            )
    return used


def test_every_notification_kind_is_sent_by_its_member() -> None:
    """No member is dead: each is named by the code that sends it."""
    used = kind_references()
    unused = sorted(k.value for k in Kind if k.name not in used)
    assert not unused, f"Kind members nothing sends (remove them, and their docs row): {unused}"


def test_every_event_and_push_is_documented_once(doc: Doc) -> None:
    shared = {"mark_read"}  # one name, two doors (Dowell and signed-in), one row each until the ticket merge
    twice = sorted(name for name, rows in doc.events.items() if len(rows) > 1 and name not in shared)
    assert not twice, f"events with more than one row: {twice}"
    assert not [name for name, rows in doc.pushes.items() if len(rows) > 1], "pushes with more than one row"


@pytest.mark.parametrize(
    ("cell", "fields"),
    [
        (
            "`{email?, phone?, name, password}`; email or phone required",
            {"email": 1, "phone": 1, "name": 0, "password": 0},
        ),
        ("`{email? \\| phone?, password}`; phone as in `register`", {"email": 1, "phone": 1, "password": 0}),
        ("`{role?, cursor?, limit? (1–100, default 50)}` (admin)", {"role": 1, "cursor": 1, "limit": 1}),
        ("`{ids: [id, ...] (1–500)}` or `{all: true}`", {"ids": 0, "all": 0}),
        ('`{to: {user_ids: [...]} \\| {role}, title, kind? (default "broadcast")}`', {"to": 0, "title": 0, "kind": 1}),
        ('`{"data": "Welcome", "count": 0}`', {"data": 0, "count": 0}),
        ('`{status?: "pending"\\|"sent", limit?}`', {"status": 1, "limit": 1}),
        ("none", {}),
        ("none or `{}`", {}),
        (
            "one ticket `{title, details?}` or a batch `{tickets: [...]}` (1–1,000); `x`",
            {"title": 0, "details": 1, "tickets": 0},
        ),
        ("`{room}` then `{other}`", {"room": 0}),
    ],
)
def test_the_payload_parse_rule(cell: str, fields: dict[str, int]) -> None:
    assert parse_payload(cell) == {name: bool(optional) for name, optional in fields.items()}


def test_a_payload_cell_without_fields_is_refused() -> None:
    with pytest.raises(ValueError, match="no"):
        parse_payload("the same as `login`")
    doc = read_doc("| push | to | payload |\n|---|---|---|\n| `x` | you | the raw signal |\n")
    assert doc.pushes["x"][0].fields is None

    class X(BaseModel):
        signal: str

    assert "not documented as {fields}" in field_problems("push x", doc.pushes["x"], X)[0]
