"""Turn ansible-runner's events into kinstall's facts: per-task results and durations, the
failures with their messages, the per-host recap, and progress for the renderers.

A run is one ansible-playbook: the stage playbooks imported in order, each after a marker play
named MARKER + the stage's name (see engine.run_playbook). RunCollector follows the markers and
hands each event to the collector of the stage it belongs to."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from installer.runner.records import Failure, HostWarning, StageRecord, TaskRecord

RESULTS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable",
           "runner_on_skipped": "skipped"}
MESSAGE_LIMIT = 2000
MARKER = "kinstall stage: "
# Ansible's own notes about its workings, not about the host: not the user's concern.
NOT_WARNINGS = ("Module remote_tmp ",)


@dataclass
class Progress:
    kind: str  # stage-start | task | result | warning | stage-end
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
    message: str = ""  # a warning's text


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
        self.warnings: list[HostWarning] = []
        self.counts = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0}
        self.task = ""
        self.role = ""

    def _progress(self, kind: str, **kw) -> None:
        elapsed = time.time() - self.started
        self.listener(Progress(kind, self.stage.label, self.index, self.total, task=self.task, role=self.role,
                               counts=dict(self.counts), elapsed=elapsed, eta=self.eta(self.stage.label, elapsed),
                               **kw))

    def __call__(self, event: dict) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_task_start":
            self.task, self.role = data.get("task", ""), data.get("role", "")
            self._progress("task")
        elif kind in RESULTS:
            self._result(kind, data)
        return True  # keep the event in ansible-runner's artifacts

    def _result(self, kind: str, data: dict) -> None:
        result = data.get("res") or {}
        status = RESULTS[kind]
        if status == "failed" and data.get("ignore_errors"):
            status = "ok"
        changed = status == "ok" and bool(result.get("changed"))
        delegated = result.get("_ansible_delegated_vars") or {}
        record = TaskRecord(stage=self.stage.name, host=data.get("host", ""), task=data.get("task", ""),
                            role=data.get("role", ""), duration=round(float(data.get("duration") or 0.0), 3),
                            changed=changed, status="changed" if changed else status,
                            second_run=self.stage.second_run,
                            on_controller=(delegated.get("ansible_connection") == "local"
                                           or delegated.get("ansible_host") in ("localhost", "127.0.0.1")
                                           or str(data.get("task_action", "")).rsplit(".", 1)[-1] == "fetch"))
        self.tasks.append(record)
        if status in ("ok", "failed", "unreachable"):
            self.counts[status] += 1
        if changed:
            self.counts["changed"] += 1
        if status in ("failed", "unreachable"):
            self.failures.append(Failure(host=record.host, stage=self.stage.name, role=record.role,
                                         task=record.task, message=failure_message(result),
                                         unreachable=status == "unreachable", second_run=self.stage.second_run))
        self._progress("result", host=record.host, status=record.status)
        for text in result.get("warnings") or []:
            if isinstance(text, str) and not text.startswith(NOT_WARNINGS):
                self.warnings.append(HostWarning(host=record.host, stage=self.stage.name, role=record.role,
                                                 task=record.task, message=text, second_run=self.stage.second_run))
                self._progress("warning", host=record.host, message=text)

    def finish(self) -> None:
        """The stage's per-host recap, counted as Ansible's recap counts (ok includes changed)."""
        recap: dict[str, dict] = {}
        for task in self.tasks:
            counts = recap.setdefault(task.host, {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0,
                                                  "skipped": 0})
            counts["ok" if task.status == "changed" else task.status] += 1
            counts["changed"] += task.changed
        self.stage.recap = {host: recap[host] for host in sorted(recap)}


class RunCollector:
    """The event_handler of a run's one ansible-playbook. A marker play opens each stage:
    `open_stage(name)` returns that stage's StageCollector, or None when the run is ending (an
    earlier stage failed, and the marker play is only there to stop the hosts that are left).
    The marker plays' own events belong to no stage."""

    def __init__(self, open_stage):
        self.open_stage = open_stage
        self.current: StageCollector | None = None
        self.in_marker = False

    def __call__(self, event: dict) -> bool:
        data = event.get("event_data") or {}
        if event.get("event") == "playbook_on_play_start":
            name = str(data.get("play", ""))
            self.in_marker = name.startswith(MARKER)
            if self.in_marker:
                opened = self.open_stage(name[len(MARKER):])
                if opened is not None:
                    self.current = opened
                return True
        if self.in_marker or self.current is None:
            return True
        return self.current(event)
