"""The infrastructure checks the verify stage ran on each host (roles/verify: the file
verify-hosts.json in the run's record), as results, with etcd's quorum worked out from them: the
members etcd lists against the members that answered."""

from __future__ import annotations

import json
from pathlib import Path

from installer import plugins
from installer.verify.results import FAIL, PASS, SKIP, Result

# The network plugins' host checks, reported in the group "plugin", named by their registry entries.
PLUGIN_CHECKS = {p.host_check: p.host_check_title for p in plugins.REGISTRY.values() if p.host_check}
NAMES = {"etcd": "etcd member", "containerd": "containerd", "kubelet": "kubelet", "api": "API through the host's path",
         "certificates": "certificate expiry", "anonymous": "anonymous requests refused", "audit": "audit log",
         "encryption": "Secrets encrypted at rest", "renewal": "certificate renewal timer",
         "backup": "scheduled etcd backups",
         **PLUGIN_CHECKS}


def read(path: Path, hosts: list[str], etcd_hosts: list[str], left_out: list[str] = ()) -> list[Result]:
    """hosts: every host the stage was to run on; one that left no results did not answer, unless
    the run left it out (--exclude, --limit): its checks are skipped, saying so."""
    found = json.loads(path.read_text()) if path.is_file() else {}
    results = []
    for host in hosts:
        if host in left_out and host not in found:
            results.append(Result("infrastructure", "host checks", host, SKIP,
                                  reason="left out of this run (--exclude or --limit): not contacted"))
            continue
        if host not in found:
            results.append(Result("infrastructure", "host answers", host, FAIL, expected="the host answers over SSH",
                                  seen="unreachable, or its checks did not run (see the run's record)"))
            continue
        for item in found[host]:
            group = "plugin" if item["check"] in PLUGIN_CHECKS else "infrastructure"
            results.append(Result(group, NAMES.get(item["check"], item["check"]), host, item["status"],
                                  item.get("seconds", 0.0), item.get("seen", ""), item.get("expected", ""),
                                  item.get("diagnostics", ""), item.get("reason", "")))
    if etcd_hosts:
        results.append(quorum(found, etcd_hosts))
    return results


def quorum(found: dict, etcd_hosts: list[str]) -> Result:
    """Quorum intact while more than half of the members etcd lists answer healthy."""
    checks = {host: item for host in etcd_hosts for item in found.get(host, []) if item["check"] == "etcd"}
    if checks and all(item["status"] == SKIP for item in checks.values()):
        return Result("infrastructure", "etcd quorum", "cluster", SKIP, reason=next(iter(checks.values()))["reason"])
    listed = next((item["data"]["members"] for item in checks.values() if item.get("data", {}).get("members")), None)
    healthy = sorted(item.get("data", {}).get("name") or host for host, item in checks.items() if item["status"] == PASS)
    if listed is None:
        return Result("infrastructure", "etcd quorum", "cluster", FAIL, expected="a member that lists the members",
                      seen=f"none answered (of {', '.join(etcd_hosts)})")
    needed = len(listed) // 2 + 1
    down = [name for name in listed if name not in healthy]
    seen = f"{len([n for n in listed if n in healthy])} of {len(listed)} members healthy" + \
           (f" ({', '.join(down)} not)" if down else "")
    if len(listed) - len(down) >= needed:
        return Result("infrastructure", "etcd quorum", "cluster", PASS, seen=f"intact: {seen}, {needed} needed")
    return Result("infrastructure", "etcd quorum", "cluster", FAIL, expected=f"at least {needed} healthy members",
                  seen=f"lost: {seen}")
