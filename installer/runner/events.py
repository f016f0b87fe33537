"""Turn ansible-runner's events into kinstall's facts: per-task results and durations, the
failures with their messages, the per-host recap, and progress for the renderers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from installer.runner.records import Failure, StageRecord, TaskRecord

RESULTS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable",
           "runner_on_skipped": "skipped"}
MESSAGE_LIMIT = 2000


@dataclass
class Progress:
    kind: str  # stage-start | task | result | stage-end
    stage: str
    index: int  # 1-based among the stages that run
    total: int
    task: str = ""
    role: str = ""
    host: str = ""
    status: str = ""
    counts: dict = field(default_factory=dict)  # ok, changed, failed, unreachable over the stage
    elapsed: float = 0.0  # since the run started
    eta: float | None = None  # seconds left, from earlier runs of the cluster


def failure_message(result: dict) -> str:
    """The module's message and its stderr, as a person needs them to see what went wrong."""
    if result.get("_ansible_no_log") or "censored" in result:
        return "the task's output is hidden (no_log), as it handles secrets; run the task by hand to see more"
    items = [r for r in result.get("results") or [] if isinstance(r, dict) and r.get("failed")]
    if items:  # a loop: what each failed item said, not Ansible's "One or more items failed"
        message = "; ".join(failure_message(r) for r in items)
        return message if len(message) <= MESSAGE_LIMIT else message[:MESSAGE_LIMIT] + " ..."
    parts = [str(result.get("msg") or "").strip()]
    for key in ("stderr", "module_stderr", "exception"):
        text = str(result.get(key) or "").strip()
        if key == "exception" and "Traceback" not in text:
            continue  # Ansible's "(traceback unavailable)" says nothing
        if text and text not in parts[0]:
            parts.append(f"{key}: {text}")
    if result.get("rc") not in (None, 0):
        parts.append(f"rc: {result['rc']}")
    message = "; ".join(p for p in parts if p) or "the task failed without a message"
    return message if len(message) <= MESSAGE_LIMIT else message[:MESSAGE_LIMIT] + " ..."


class StageCollector:
    """The event_handler of one stage's ansible-runner call."""

    def __init__(self, stage: StageRecord, index: int, total: int, listener, started: float,
                 eta=lambda stage, elapsed: None):
        self.stage = stage
        self.index, self.total = index, total
        self.listener = listener
        self.started = started
        self.eta = eta
        self.tasks: list[TaskRecord] = []
        self.failures: list[Failure] = []
        self.counts = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0}
        self.task = ""
        self.role = ""

    def _progress(self, kind: str, **kw) -> None:
        elapsed = time.time() - self.started
        self.listener(Progress(kind, self.stage.name, self.index, self.total, task=self.task, role=self.role,
                               counts=dict(self.counts), elapsed=elapsed, eta=self.eta(self.stage.name, elapsed),
                               **kw))

    def __call__(self, event: dict) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_task_start":
            self.task, self.role = data.get("task", ""), data.get("role", "")
            self._progress("task")
        elif kind in RESULTS:
            self._result(kind, data)
        elif kind == "playbook_on_stats":
            self._recap(data)
        return True  # keep the event in ansible-runner's artifacts

    def _result(self, kind: str, data: dict) -> None:
        result = data.get("res") or {}
        status = RESULTS[kind]
        if status == "failed" and data.get("ignore_errors"):
            status = "ok"
        changed = status == "ok" and bool(result.get("changed"))
        record = TaskRecord(stage=self.stage.name, host=data.get("host", ""), task=data.get("task", ""),
                            role=data.get("role", ""), duration=round(float(data.get("duration") or 0.0), 3),
                            changed=changed, status="changed" if changed else status)
        self.tasks.append(record)
        if status in ("ok", "failed", "unreachable"):
            self.counts[status] += 1
        if changed:
            self.counts["changed"] += 1
        if status in ("failed", "unreachable"):
            self.failures.append(Failure(host=record.host, stage=self.stage.name, role=record.role,
                                         task=record.task, message=failure_message(result),
                                         unreachable=status == "unreachable"))
        self._progress("result", host=record.host, status=record.status)

    def _recap(self, data: dict) -> None:
        hosts = set()
        for key in ("ok", "changed", "failures", "dark", "skipped", "ignored", "rescued"):
            hosts |= set(data.get(key) or {})
        self.stage.recap = {
            host: {"ok": (data.get("ok") or {}).get(host, 0), "changed": (data.get("changed") or {}).get(host, 0),
                   "failed": (data.get("failures") or {}).get(host, 0),
                   "unreachable": (data.get("dark") or {}).get(host, 0),
                   "skipped": (data.get("skipped") or {}).get(host, 0)}
            for host in sorted(hosts)}
