"""`kinstall status`: one screen on a cluster, top-like: its nodes (roles, kubelet version, Ready,
CPU and memory in use from the metrics API where the cluster has one), its etcd members (health,
leader, version, database size, as each member answered the verify stage's etcd check) and the
last run of `up` or of a lifecycle operation."""

from __future__ import annotations

import json
from pathlib import Path

from installer.verify.api import TIMEOUT


def nodes(api) -> tuple[list[dict], str]:
    """(one row per node, a note on the metrics API: '' when it answered)."""
    from kubernetes import client
    from kubernetes.utils import parse_quantity

    found = client.CoreV1Api(api).list_node(_request_timeout=TIMEOUT).items
    usage, note = {}, ""
    try:
        metrics = client.CustomObjectsApi(api).list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes",
                                                                          _request_timeout=TIMEOUT)
        usage = {item["metadata"]["name"]: item["usage"] for item in metrics.get("items", [])}
    except client.exceptions.ApiException as error:
        note = (f"CPU and memory: no metrics API ({error.status} {error.reason}); "
                "metrics_server_enabled: true installs one")
    rows = []
    for node in sorted(found, key=lambda n: n.metadata.name):
        labels = node.metadata.labels or {}
        roles = sorted(key.split("/", 1)[1] for key in labels if key.startswith("node-role.kubernetes.io/")) or ["worker"]
        ready = next((c.status for c in node.status.conditions or [] if c.type == "Ready"), "Unknown")
        row = {"name": node.metadata.name, "roles": ",".join(roles), "version": node.status.node_info.kubelet_version,
               "ready": {"True": "Ready", "False": "NotReady"}.get(ready, "Unknown")
               + (",SchedulingDisabled" if node.spec.unschedulable else ""), "cpu": None, "memory": None}
        if node.metadata.name in usage:
            allocatable = node.status.allocatable or {}
            for key in ("cpu", "memory"):
                used, total = parse_quantity(usage[node.metadata.name][key]), parse_quantity(allocatable.get(key, 0))
                row[key] = float(used / total * 100) if total else None
        rows.append(row)
    return rows, note


def etcd_members(found: dict, etcd_hosts: list[str]) -> list[dict]:
    """Rows from the verify stage's results (verify-hosts.json) of the etcd hosts."""
    rows = []
    for host in etcd_hosts:
        check = next((item for item in found.get(host, []) if item["check"] == "etcd"), None)
        data = (check or {}).get("data", {})
        rows.append({"host": host, "name": data.get("name") or host,
                     "health": "unreachable" if check is None else {"pass": "healthy", "skip": "-"}.get(
                         check["status"], "unhealthy"),
                     "leader": bool(data.get("leader")), "version": data.get("version", ""),
                     "db_mb": round(data["db_size"] / 2**20, 1) if data.get("db_size") else None,
                     "detail": "" if check is None or check["status"] == "pass" else check.get("seen", "")})
    return rows


def render(cluster: str, node_rows: list[dict], note: str, etcd_rows: list[dict], last) -> str:
    def percent(value):
        return "-" if value is None else f"{value:.0f}%"

    lines = [f"cluster {cluster}", "", f"{'NODE':<16} {'ROLES':<21} {'VERSION':<10} {'STATUS':<26} {'CPU':>5} {'MEM':>5}"]
    lines += [f"{r['name']:<16} {r['roles']:<21} {r['version']:<10} {r['ready']:<26} {percent(r['cpu']):>5} "
              f"{percent(r['memory']):>5}" for r in node_rows]
    if note:
        lines.append(note)
    healthy = sum(r["health"] == "healthy" for r in etcd_rows)
    quorum = len(etcd_rows) // 2 + 1
    lines += ["", f"{'ETCD MEMBER':<16} {'HOST':<16} {'HEALTH':<12} {'LEADER':<7} {'VERSION':<9} {'DB':>8}"]
    lines += [f"{r['name']:<16} {r['host']:<16} {r['health']:<12} {'yes' if r['leader'] else '':<7} {r['version']:<9} "
              f"{'-' if r['db_mb'] is None else str(r['db_mb']) + ' MB':>8}" + (f"  {r['detail']}" if r['detail'] else "")
              for r in etcd_rows]
    if etcd_rows:
        lines.append(f"{healthy} of {len(etcd_rows)} healthy; quorum {'intact' if healthy >= quorum else 'LOST'} "
                     f"({quorum} needed)")
    lines.append("")
    if last is None:
        lines.append("last run: none")
    else:
        failed = f"; failed at {last.failures[0].host}: {last.failures[0].stage} / {last.failures[0].task}" \
            if last.failures else ""
        lines.append(f"last run: {last.id} `{last.command}`: {last.status} in {last.duration:.0f} s{failed}")
    return "\n".join(lines)


def show(cluster, output_format: str, command: str) -> str:
    """The screen (or its JSON): etcd's members asked over SSH (a verify run of the etcd check on
    the etcd hosts, recorded; only the latest such record is kept), the nodes through the API."""
    from installer.inventory.model import ETCD
    from installer.runner import engine, records
    from installer.runner.kinds import Kind
    from installer.verify import api as api_checks
    from installer.verify.run import kubeconfig_of

    options = engine.RunRequest(Kind.STATUS, stages=["verify"], command=command, limit=ETCD,
                                operation_vars={"verify_checks_only": ["etcd"]})
    record = engine.up(cluster, options)
    path = Path(record.directory) / "verify-hosts.json"
    etcd = etcd_members(json.loads(path.read_text()) if path.is_file() else {}, cluster.groups.get(ETCD, []))
    kubeconfig = kubeconfig_of(record)
    node_rows: list[dict] = []
    note = "nodes: no admin kubeconfig (the control-plane stage has not run on this cluster)"
    if kubeconfig.is_file():
        try:
            node_rows, note = nodes(api_checks.connect(kubeconfig))
        except api_checks.unanswered() as error:
            note = f"nodes: the API server did not answer ({api_checks.error_text(error)})"
    history = records.for_cluster(Path(record.directory).parents[1])
    records.keep_only_the_latest(history, record)
    last = next((r for r in reversed(history) if Kind.of(r).changes_hosts), None)
    if output_format == "json":
        return json.dumps({"cluster": cluster.name, "nodes": node_rows, "note": note, "etcd": etcd,
                           "last_run": None if last is None else {"id": last.id, "command": last.command,
                                                                  "status": last.status, "duration": last.duration}})
    return render(cluster.name, node_rows, note, etcd, last)
