"""The bench's table: one row per scenario, a cell per server, ratios to Node, CPU of each side."""

from __future__ import annotations

import math
import os
from typing import Any

from bench.targets import NAMES

KINDS = ("node", "py", "deskline")


def cpu_text(cpu: dict[str, float]) -> str:
    """``srv N% (wait W%) · gen M% (wait V%)``: CPU in % of one core, server instances summed; the wait
    is the time spent ready to run but without a core (other jobs), shown when it is 5% or more."""

    def side(prefix: str, short: str) -> str:
        used = sum(v for k, v in cpu.items() if k.startswith(prefix))
        waited = sum(v for k, v in cpu.items() if k.startswith(f"wait:{prefix}"))
        return f"{short} {used:.0f}%" + (f" (wait {waited:.0f}%)" if waited >= 5 else "")

    parts = [side("server", "srv")]
    if "generator" in cpu:
        parts.append(side("generator", "gen"))
    return " · ".join(parts)


def ms(value: float | None) -> str:
    """A latency in ms with sensible digits."""
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def describe(r: dict[str, Any]) -> tuple[str, float | None]:
    """Return (cell text, the value the ratio is taken on) for one result."""
    if "delivered" in r:
        text = f"{r['rate']:,.0f}/s{per_cpu(r)}, {r['delivered']:.1%} delivered"
        text += f", delay p50 {ms(r['p50'])} / p99 {ms(r['p99'])} ms"
        if not r.get("settled", True):
            text += " (join notices still arriving)"
        return text, r["rate"]
    if "claimed" in r:
        _, p50, p99 = r["fetch"]
        return f"{r['rate']:,.0f} claims/s, fetch p50 {ms(p50)} / p99 {ms(p99)} ms", r["rate"]
    if "p999" in r:
        text = f"{ms(r['p50'])} / {ms(r['p99'])} / {ms(r['p999'])}"
        if r["answered"] < 1:
            text += f" ({r['answered']:.1%} answered)"
        if r.get("late_p99", 0) > 2:
            text += f" (sender late by {ms(r['late_p99'])} ms at p99)"
        return text, r["p99"]
    if "kib" in r:
        return f"{r['kib']:.1f} KiB, {r['connect_s']:.2f} s", r["kib"]
    if "acked_s" in r:
        if r["acked_s"] is None:
            return f"not all acked in {r['limit']:.0f} s ({r['acked']:.0%} acked, {r['notices']:.0%} notices)", None
        text = f"all acked in {r['acked_s']:.2f} s"
        if r["notices_s"] is None:
            text += f"; {r['notices']:.0%} of the join notices out after {r['limit']:.0f} s"
        else:
            text += f", every join notice out in {r['notices_s']:.2f} s"
        return text, r["acked_s"]
    text = f"{r['rate']:,.0f}/s{per_cpu(r)}"
    if r.get("bad_acks"):
        text += f" ({r['bad_acks']} error acks)"
    return text, r["rate"]


def rate_per_cpu(r: dict[str, Any]) -> float | None:
    """A rate result over the server's CPU use (per CPU-second), which a busy machine distorts far less."""
    used = sum(v for k, v in r["cpu"].items() if k.startswith("server")) / 100
    return r["rate"] / used if "rate" in r and "claimed" not in r and used > 0.01 else None


def per_cpu(r: dict[str, Any]) -> str:
    """`` · N per server CPU-s`` for a rate result."""
    value = rate_per_cpu(r)
    return f" · {value:,.0f} per server CPU-s" if value else ""


def best_round(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The best round by the compared value, with every round's value kept under ``spread``.

    Other jobs on the machine only ever slow a round down, so the best round is the closest to the
    server's own limit; the spread shows how much the load moved it.
    """
    higher_is_better = "rate" in results[0] and "p999" not in results[0]

    def badness(r: dict[str, Any]) -> float:
        value = describe(r)[1]
        if value is None or math.isnan(value):
            return math.inf
        return -value if higher_is_better else value

    chosen = dict(min(results, key=badness))
    if len(results) > 1:
        chosen["spread"] = [describe(r)[1] for r in results]
    return chosen


def spread_text(r: dict[str, Any]) -> str:
    """`` · rounds a / b`` when there were several rounds."""
    if "spread" not in r:
        return ""

    def fmt(v: float | None) -> str:
        return "–" if v is None else f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"

    return " · rounds " + " / ".join(fmt(v) for v in r["spread"])


def ratio(value: float | None, node: float | None) -> str:
    """``value / node`` as ``0.12×``."""
    if value is None or node is None or node == 0 or math.isnan(value) or math.isnan(node):
        return "–"
    return f"{value / node:.2f}×"


def ratio_text(results: dict[str, dict[str, Any]], kind: str) -> str:
    """``kind``'s value over Node's, and for rates also per server CPU-second."""
    if kind not in results or "node" not in results:
        return "–"
    text = ratio(describe(results[kind])[1], describe(results["node"])[1])
    mine, node = rate_per_cpu(results[kind]), rate_per_cpu(results["node"])
    if mine and node:
        text += f" ({ratio(mine, node)} per CPU-s)"
    return text


class Report:
    """Collects the rows; prints each as it comes and the whole table at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, dict[str, Any]], float]] = []

    def row(self, label: str, results: dict[str, dict[str, Any]]) -> None:
        """Add and print one scenario's results."""
        self.rows.append((label, results, os.getloadavg()[0]))
        print(label, flush=True)
        node_value = describe(results["node"])[1] if "node" in results else None
        for kind in KINDS:
            if kind not in results:
                continue
            text = describe(results[kind])[0] + spread_text(results[kind])
            extra = f" ({results[kind]['event']})" if "event" in results[kind] else ""
            vs = f"  {ratio_text(results, kind)} Node" if kind != "node" and node_value is not None else ""
            print(f"  {NAMES[kind]:<22} {text}{extra}{vs}  [{cpu_text(results[kind]['cpu'])}]", flush=True)

    def markdown(self) -> str:
        """The whole run as a Markdown table (CPU under each value; the 1-minute load average after the row)."""
        servers = "Node socket.io 4.8 | bare python-socketio | Deskline"
        head = f"| scenario | {servers} | bare ÷ Node | Deskline ÷ Node | load |"
        lines = [head, "|---|---|---|---|---|---|---|"]
        for label, results, load in self.rows:
            cells, values = [], {}
            for kind in KINDS:
                if kind in results:
                    text, values[kind] = describe(results[kind])
                    text += spread_text(results[kind])
                    cells.append(f"{text}<br>{cpu_text(results[kind]['cpu'])}")
                else:
                    cells.append("—")
            ratios = [ratio_text(results, kind) for kind in ("py", "deskline")]
            lines.append(f"| {label} | {' | '.join(cells)} | {ratios[0]} | {ratios[1]} | {load:.1f} |")
        return "\n".join(lines)
