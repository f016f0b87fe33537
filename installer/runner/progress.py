"""Renderers for run progress. Each takes a `write` callable (the CLI passes click.echo), so the
engine never prints: a live line on a terminal, plain lines in a log, JSON lines for machines."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict

from installer.runner.events import Progress


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def _counts(counts: dict) -> str:
    return (f"ok {counts.get('ok', 0)} changed {counts.get('changed', 0)} failed {counts.get('failed', 0)} "
            f"unreachable {counts.get('unreachable', 0)}")


class PlainLines:
    """One line per stage start, per task and per stage end: readable in CI logs."""

    def __init__(self, write):
        self.write = write

    def __call__(self, p: Progress) -> None:
        prefix = f"[{p.index}/{p.total}] {p.stage}"
        if p.kind == "stage-start":
            self.write(f"{prefix}: started (elapsed {_clock(p.elapsed)}, eta {_clock(p.eta)})")
        elif p.kind == "task":
            self.write(f"{prefix}: {p.role + ' : ' if p.role else ''}{p.task}")
        elif p.kind == "result" and p.status in ("failed", "unreachable"):
            self.write(f"{prefix}: {p.status.upper()} {p.host}: {p.task}")
        elif p.kind == "warning":
            self.write(f"{prefix}: WARNING {p.host}: {p.message}")
        elif p.kind == "stage-end":
            self.write(f"{prefix}: {p.status} ({_counts(p.counts)}; elapsed {_clock(p.elapsed)})")


class LiveLine(PlainLines):
    """On a terminal: one line rewritten in place, and a plain line when a stage ends."""

    def __call__(self, p: Progress) -> None:
        if p.kind in ("stage-end", "warning") or (p.kind == "result" and p.status in ("failed", "unreachable")):
            self.write("\r\033[K", nl=False)
            super().__call__(p)
            return
        width = shutil.get_terminal_size((100, 20)).columns
        line = (f"[{p.index}/{p.total}] {p.stage} | {_counts(p.counts)} | {_clock(p.elapsed)} eta {_clock(p.eta)}"
                f" | {p.role + ' : ' if p.role else ''}{p.task}")
        self.write("\r\033[K" + line[:width - 1], nl=False)


class JsonLines:
    def __init__(self, write):
        self.write = write

    def __call__(self, p: Progress) -> None:
        self.write(json.dumps({"type": "progress", **asdict(p)}))
