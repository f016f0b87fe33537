"""Run records: what each `kinstall up` did, kept under the cluster's state directory as
runs/<id>/record.json, next to ansible-runner's artifacts of that run."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from installer import paths
from installer.errors import UsageError

SUCCESSFUL, FAILED, UNREACHABLE, INTERRUPTED, NOT_IDEMPOTENT, RUNNING = (
    "successful", "failed", "unreachable", "interrupted", "not-idempotent", "running")


@dataclass
class TaskRecord:
    stage: str
    host: str
    task: str
    role: str
    duration: float
    changed: bool
    status: str  # ok | changed | failed | unreachable | skipped
    second_run: bool = False  # in the idempotency gate's second run of the stage
    # Ran on the controller for the host (delegated to localhost): what it changed is the controller's.
    on_controller: bool = False


@dataclass
class StageRecord:
    name: str
    status: str = RUNNING  # successful | failed | unreachable | interrupted | skipped
    started: float = 0.0
    ended: float = 0.0
    recap: dict = field(default_factory=dict)  # host -> {ok, changed, failures, unreachable, skipped}
    artifacts: str = ""
    skipped: str = ""  # why the stage did not run
    second_run: bool = False  # the idempotency gate's second run of the stage (--check-idempotent)

    @property
    def duration(self) -> float:
        return max(0.0, self.ended - self.started)

    @property
    def label(self) -> str:
        return f"{self.name} (again)" if self.second_run else self.name


@dataclass
class Failure:
    host: str
    stage: str
    role: str
    task: str
    message: str
    unreachable: bool = False
    second_run: bool = False


@dataclass
class HostWarning:
    """What a role warned of (kinstall_warn, or a module's own warning), on one host."""
    host: str
    stage: str
    role: str
    task: str
    message: str
    second_run: bool = False


@dataclass
class RunRecord:
    id: str
    cluster: str
    command: str
    inputs: dict
    started: float
    ended: float = 0.0
    status: str = RUNNING
    exit_code: int | None = None
    stages: list[StageRecord] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    warnings: list[HostWarning] = field(default_factory=list)
    check: dict = field(default_factory=dict)  # the idempotency re-run: {status, changed: [...]}
    directory: str = ""

    @property
    def duration(self) -> float:
        return max(0.0, (self.ended or time.time()) - self.started)

    def changed_tasks(self) -> list[TaskRecord]:
        return [t for t in self.tasks if t.changed]

    def save(self) -> None:
        path = Path(self.directory) / "record.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.chmod(tmp, 0o600)
        tmp.replace(path)


LOG = logging.getLogger(__name__)


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(2)


def create(cluster_directory: Path, cluster: str, command: str, inputs: dict, run_id: str | None = None) -> RunRecord:
    run_id = run_id or new_run_id()
    directory = cluster_directory / "runs" / run_id
    directory.mkdir(parents=True, mode=0o700)
    record = RunRecord(id=run_id, cluster=cluster, command=command, inputs=inputs, started=time.time(),
                       directory=str(directory))
    record.save()
    return record


OLD_SECOND_RUN = "check-"  # how records before the second_run field named the second run's stages


def _second_run(item: dict, key: str) -> dict:
    """An item of an older record, its stage named "check-<stage>", as today's: <stage>, second_run."""
    if str(item.get(key, "")).startswith(OLD_SECOND_RUN) and "second_run" not in item:
        return {**item, key: item[key].removeprefix(OLD_SECOND_RUN), "second_run": True}
    return item


def _from_dict(data: dict) -> RunRecord:
    data = dict(data)
    data["stages"] = [StageRecord(**_second_run(s, "name")) for s in data.get("stages", [])]
    data["tasks"] = [TaskRecord(**_second_run(t, "stage")) for t in data.get("tasks", [])]
    data["failures"] = [Failure(**_second_run(f, "stage")) for f in data.get("failures", [])]
    data["warnings"] = [HostWarning(**_second_run(w, "stage")) for w in data.get("warnings", [])]
    if isinstance(data.get("check"), dict) and data["check"].get("changed"):
        data["check"] = {**data["check"], "changed": [_second_run(t, "stage") for t in data["check"]["changed"]]}
    return RunRecord(**data)


def load(path: Path) -> RunRecord:
    return _from_dict(json.loads((path / "record.json").read_text()))


def for_cluster(cluster_directory: Path) -> list[RunRecord]:
    """The cluster's runs, oldest first."""
    runs = cluster_directory / "runs"
    found = []
    for directory in sorted(runs.iterdir()) if runs.is_dir() else []:
        if (directory / "record.json").exists():
            try:
                found.append(load(directory))
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
                # A record cut short by a crash, or edited by hand: said, and not worth failing over.
                LOG.warning("kinstall: skipped the unreadable run record %s (%s)", directory / "record.json",
                            type(error).__name__)
    return sorted(found, key=lambda r: r.started)  # two runs of one second: their ids do not tell


def keep_only_the_latest(history: list[RunRecord], latest: RunRecord) -> None:
    """Remove the records of earlier runs of the latest's kind (each status refresh is a run of
    its own: only the latest is worth keeping)."""
    for earlier in history:
        if earlier.inputs.get("mode") == latest.inputs.get("mode") and earlier.id != latest.id and earlier.directory:
            shutil.rmtree(earlier.directory, ignore_errors=True)


def everywhere() -> list[RunRecord]:
    root = paths.clusters()
    found = [r for d in sorted(root.iterdir()) if d.is_dir() for r in for_cluster(d)] if root.is_dir() else []
    return sorted(found, key=lambda r: r.started)


def find(run_id: str) -> RunRecord:
    matches = [r for r in everywhere() if r.id == run_id or r.id.startswith(run_id)]
    if len(matches) != 1:
        raise UsageError(f"no run '{run_id}'" if not matches else
                         f"'{run_id}' matches {len(matches)} runs; give more of the id")
    return matches[0]
