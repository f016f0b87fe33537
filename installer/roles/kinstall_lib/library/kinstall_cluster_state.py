#!/usr/bin/python3
"""The state a cluster keeps on its own hosts (root-only, under /var/lib/kinstall by default):
its identity (cluster.json: a random id and the cluster's name), its secrets (pki.tar, written by
the copy module), its run history (runs/<run id>.json, the newest `keep`) and the lock of the
run in progress (lock: who holds it, and a heartbeat the holder refreshes).

action=open: what this host holds (id, name, the sha256 of pki.tar, the run ids), the records
   of the runs not in `known` when `read_runs`; with `holder`, the lock taken (atomically: a
   lock whose heartbeat is older than its lease is taken over and returned as `took_over`).
action=refresh: the heartbeat of the lock this run holds moved to now.
action=close: the id written when missing (`adopt`), the run's record stored and the history
   rotated, the lock released when this run holds it.
No secret passes through this module."""

import fcntl
import json
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kinstall_cluster_state
short_description: a cluster's identity, history and lock, kept on its hosts
options:
  action: {description: "open | refresh | close", type: str, required: true}
  root: {description: "where the state lives", type: str, default: /var/lib/kinstall}
  run_id: {description: "the run asking", type: str, required: true}
  holder: {description: "open on a lock host: who takes the lock (host, user, pid, command)", type: dict}
  lease: {description: "seconds after its last heartbeat that a lock may be taken over", type: int, default: 300}
  known: {description: "open: run ids the controller has", type: list, elements: str, default: []}
  read_runs: {description: "open: return the records of the runs not in known", type: bool, default: false}
  cluster_id: {description: "close: the cluster's id", type: str}
  cluster_name: {description: "close: the cluster's name", type: str}
  adopt: {description: "close: write the id where it is missing", type: bool, default: true}
  record: {description: "close: the run's record (no secrets)", type: dict}
  keep: {description: "close: how many run records the host keeps", type: int, default: 30}
"""
RUN_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")


def _write(path, data):
    partial = path + ".part"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(data)
    os.replace(partial, path)


def _read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _sha256(path):
    import hashlib
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return ""


def _runs(root):
    directory = os.path.join(root, "runs")
    names = os.listdir(directory) if os.path.isdir(directory) else []
    return sorted(n[:-5] for n in names if n.endswith(".json") and RUN_ID.match(n[:-5]))


class Guard:
    """Serialises lock changes on this host between controllers (an flock on the state directory)."""

    def __init__(self, root):
        self.root = root

    def __enter__(self):
        self.fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def ensure_root(root):
    os.makedirs(root, mode=0o700, exist_ok=True)
    os.chmod(root, 0o700)


def take_lock(root, run_id, holder, lease, now):
    """(taken, previous holder): taken when free, ours already, or its heartbeat is past its lease."""
    path = os.path.join(root, "lock")
    ensure_root(root)
    with Guard(root):
        current = _read_json(path) if os.path.exists(path) else None
        if current and current.get("run") != run_id:
            if now - float(current.get("heartbeat", 0)) <= float(current.get("lease", lease)):
                return False, current
        mine = dict(holder, run=run_id, started=now, heartbeat=now, lease=lease)
        _write(path, json.dumps(mine))
        return True, (current if current and current.get("run") != run_id else None)


def main():
    module = AnsibleModule(argument_spec={
        "action": {"type": "str", "required": True, "choices": ["open", "refresh", "close"]},
        "root": {"type": "str", "default": "/var/lib/kinstall"},
        "run_id": {"type": "str", "required": True},
        "holder": {"type": "dict"},
        "lease": {"type": "int", "default": 300},
        "known": {"type": "list", "elements": "str", "default": []},
        "read_runs": {"type": "bool", "default": False},
        "cluster_id": {"type": "str"},
        "cluster_name": {"type": "str"},
        "adopt": {"type": "bool", "default": True},
        "record": {"type": "dict"},
        "keep": {"type": "int", "default": 30}}, supports_check_mode=False)
    p = module.params
    root, run_id, now = p["root"], p["run_id"], time.time()
    if not RUN_ID.match(run_id):
        module.fail_json(msg=f"not a run id: {run_id!r}")
    identity = _read_json(os.path.join(root, "cluster.json")) or {}
    lock_path = os.path.join(root, "lock")

    if p["action"] == "open":
        result = {"changed": False, "id": identity.get("id", ""), "name": identity.get("name", ""),
                  "pki_sha256": _sha256(os.path.join(root, "pki.tar")), "runs": _runs(root), "records": {}}
        if p["read_runs"]:
            for name in result["runs"]:
                if name not in p["known"]:
                    result["records"][name] = _read_json(os.path.join(root, "runs", name + ".json"))
        if p["holder"] is not None:
            taken, previous = take_lock(root, run_id, p["holder"], p["lease"], now)
            result.update(locked=taken, holder=previous, now=now)
        module.exit_json(**result)

    if p["action"] == "refresh":
        ensure_root(root)
        with Guard(root):
            current = _read_json(lock_path)
            if not current or current.get("run") != run_id:
                module.fail_json(msg="this run no longer holds the cluster's lock", holder=current)
            current["heartbeat"] = now
            _write(lock_path, json.dumps(current))
        module.exit_json(changed=False)

    changed = []
    if p["adopt"]:
        ensure_root(root)
    if p["adopt"] and not identity.get("id"):
        _write(os.path.join(root, "cluster.json"), json.dumps({"id": p["cluster_id"], "name": p["cluster_name"],
                                                                "created": now}))
        changed.append("id")
    if p["record"] is not None and (identity.get("id") or p["adopt"]):
        os.makedirs(os.path.join(root, "runs"), mode=0o700, exist_ok=True)
        _write(os.path.join(root, "runs", run_id + ".json"), json.dumps(p["record"]))
        changed.append("record")
        for name in _runs(root)[:-p["keep"]] if p["keep"] > 0 else []:
            os.remove(os.path.join(root, "runs", name + ".json"))
    if os.path.exists(lock_path):
        with Guard(root):
            current = _read_json(lock_path)
            if current and current.get("run") == run_id:
                os.remove(lock_path)
    module.exit_json(changed=bool(changed), wrote=changed)


if __name__ == "__main__":
    main()
