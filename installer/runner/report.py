"""What a finished run says to the user: the outcome, each failure with the host, stage, role,
task and the module's message, the exact commands to continue, and where the record lives."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from installer.runner import records
from installer.runner.records import RunRecord


def _stage_table(record: RunRecord) -> list[str]:
    lines = [f"  {'stage':<20} {'status':<14} {'hosts':>5} {'changed':>7} {'time':>8}"]
    for stage in record.stages:
        if stage.skipped:
            continue
        changed = sum(h.get("changed", 0) for h in stage.recap.values())
        lines.append(f"  {stage.label:<20} {stage.status:<14} {len(stage.recap):>5} {changed:>7} "
                     f"{stage.duration:7.1f}s")
    unplayed = [f"{s.name} ({s.skipped})" for s in record.stages if s.skipped and not s.second_run]
    if unplayed:
        lines.append(f"  not run: {'; '.join(unplayed)}")
    return lines


def _host_order(name: str) -> list:
    """node2 before node10: hosts finish in any order, the summary names them in a fixed one."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]


def _warnings(record: RunRecord) -> list[str]:
    """Each warning once, with the hosts that gave it (the idempotency re-run repeats them)."""
    hosts: dict[tuple, list[str]] = {}
    for w in record.warnings:
        key = (w.stage, w.role, w.task, w.message)
        if w.host not in hosts.setdefault(key, []):
            hosts[key].append(w.host)
    if not hosts:
        return []
    lines = ["", f"warnings ({len(hosts)}):"]
    for (stage, role, task, message), names in hosts.items():
        lines.append(f"  {', '.join(sorted(names, key=_host_order))}: {stage} / {role + ' / ' if role else ''}{task}")
        lines.append(f"    {message}")
    return lines


def _rerun(record: RunRecord, *extra: str) -> str:
    args = ["kinstall", "up", record.inputs["inventory"], *extra]
    if record.inputs.get("limit"):
        args += ["--limit", record.inputs["limit"]]
    if record.inputs.get("exclude"):
        args += ["--exclude", ",".join(record.inputs["exclude"])]
    return shlex.join(args)


def render(record: RunRecord) -> str:
    lines = [f"run {record.id}: {record.status} in {record.duration:.1f} s (exit {record.exit_code})"]
    lines += _stage_table(record)
    lines += _warnings(record)
    if record.failures:
        failed_stage = record.failures[0].stage
        lines.append("")
        lines.append(f"failed at stage {failed_stage}:")
        for failure in record.failures:
            where = " / ".join(p for p in (failure.stage, failure.role, failure.task) if p)
            state = "UNREACHABLE" if failure.unreachable else "FAILED"
            lines.append(f"  {state} {failure.host or '(ansible)'}: {where}")
            lines.append(f"    {failure.message}")
        if record.inputs.get("mode") == "operation":
            lines += ["", f"run it again once the problem is fixed: {record.command}"]
        else:
            lines += ["", f"continue from the failed stage: {_rerun(record, '--resume')}",
                      f"run that stage alone:           {_rerun(record, '--stages', failed_stage)}"]
            unreachable = sorted({f.host for f in record.failures if f.unreachable and f.host})
            if unreachable:
                excluded = [*record.inputs.get("exclude", []), *unreachable]
                lines.append(f"or leave {', '.join(unreachable)} out (not contacted, finished by a later run): "
                             + shlex.join(["kinstall", "up", record.inputs["inventory"], "--exclude", ",".join(excluded)]))
    if record.status == records.INTERRUPTED:
        lines += ["", f"interrupted; continue with: {_rerun(record, '--resume')}"]
    if record.check.get("changed"):
        lines += ["", f"not idempotent: the second run changed {len(record.check['changed'])} task(s):"]
        for task in record.check["changed"]:
            lines.append(f"  {task['host']}: {task['stage']} / "
                         f"{task['role'] + ' / ' if task['role'] else ''}{task['task']}")
    elif record.check.get("status") == "unchanged":
        lines.append("idempotent: the second run changed nothing")
    kubeconfig = admin_kubeconfig(record)
    if kubeconfig is not None:
        lines.append(f"admin kubeconfig (0600; keep it secret): {kubeconfig}")
    if record.inputs.get("snapshot", {}).get("path"):
        snapshot = record.inputs["snapshot"]
        lines.append(f"etcd snapshot: {snapshot['path']} on the controller {snapshot['controller']}")
    lines.append(f"record: kinstall runs show {record.id}  ({record.directory})")
    return "\n".join(lines)


def kubeconfig_path(record: RunRecord) -> Path:
    """Where the control-plane stage keeps the cluster's admin kubeconfig on the controller."""
    return Path(record.directory).parents[1] / "kubeconfig" / "admin.conf"


def admin_kubeconfig(record: RunRecord) -> Path | None:
    """The cluster's admin kubeconfig on the controller, which the control-plane stage fetches
    (the path only: its content is a credential)."""
    if not record.directory:
        return None
    path = kubeconfig_path(record)
    ran = any(s.name == "control-plane" and s.status == records.SUCCESSFUL
              for s in record.stages)
    return path if ran and path.is_file() else None


def render_drift(record: RunRecord) -> str:
    """The drift preview: per host, what a run would change, and what check mode cannot tell."""
    by_host: dict[str, list[str]] = {}
    for task in record.tasks:
        if task.changed:
            by_host.setdefault(task.host, []).append(f"would change: {task.stage} / "
                                                     f"{task.role + ' / ' if task.role else ''}{task.task}")
    for task in record.check.get("not_in_check_mode", []):
        by_host.setdefault(task["host"], []).append(
            f"cannot run in check mode ({task['msg'] or task['action']}): {task['stage']} / "
            f"{task['role'] + ' / ' if task['role'] else ''}{task['task']}")
    lines = [f"drift preview ({record.status}, {record.duration:.1f} s): "
             + ("the hosts match the inventory" if not by_host else f"{len(by_host)} host(s) differ")]
    for host in sorted(by_host):
        lines.append(f"  {host}")
        lines += [f"    {item}" for item in by_host[host]]
    if record.failures:
        lines += ["", "  the preview stopped at a failure (in check mode nothing above was applied, so a later "
                  "check may fail for that reason alone):"]
        lines += [f"  {'UNREACHABLE' if f.unreachable else 'FAILED'} {f.host}: {f.stage} / {f.task}: {f.message}"
                  for f in record.failures]
    return "\n".join(lines)


def render_list(runs: list[RunRecord]) -> str:
    lines = [f"{'run':<25} {'cluster':<22} {'mode':<6} {'status':<15} {'time':>8}  stages"]
    for run in runs:
        names = ",".join(s.name for s in run.stages if s.status != "skipped") or "-"
        lines.append(f"{run.id:<25} {run.cluster:<22} {run.inputs.get('mode', 'up'):<6} {run.status:<15} "
                     f"{run.duration:7.1f}s  {names}")
    return "\n".join(lines)
