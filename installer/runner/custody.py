"""The cluster keeps its own state, so that any controller with the inventory and SSH access can
run it: its id, its secrets, its lock and its history live on its anchors (every control plane
and etcd member, /var/lib/kinstall, root-only; kinstall_cluster_state is the module that keeps
them). A run holds the cluster (`held`) from before its plan to its end:

- open (one Ansible run on the anchors): read each anchor's id; take the lock on the lock hosts
  (the first control plane and the first etcd member), taking over one whose holder stopped
  refreshing it for its lease; read the runs this controller lacks; fetch pki.tar into a 0700
  directory that exists for this run only;
- while the run goes on, a heartbeat refreshes the lock (every lease / 4);
- close (one Ansible run): pki.tar back to every anchor when the run changed it, the run's record
  into the anchors' history, the lock released; the run's directory removed.

The controller's state directory (state.py) is a cache of the cluster's, keyed by the cluster's
id. A cluster built before the cluster kept its state is adopted by its first run: the id, the
CA and the history this controller kept are written to the anchors, and the CA leaves the
controller."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shlex
import shutil
import socket
import tarfile
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import ansible_runner
import yaml
from ansible_runner.exceptions import AnsibleRunnerException

from installer import state
from installer.errors import ExitCode, InvalidInput, KinstallError
from installer.inventory.model import CONTROL_PLANE, ETCD, find_inventory_file
from installer.runner import records
from installer.runner.events import failure_message

LOG = logging.getLogger(__name__)
LEASE_ENV = "KINSTALL_LOCK_LEASE"
DEFAULT_LEASE = 300  # seconds without a heartbeat after which another controller may take the lock
STATE_ROOT = "/var/lib/kinstall"
MODULE = "kinstall_cluster_state"
RUN_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")  # as kinstall_cluster_state lists them
RUN_DIR = "kinstall-run-"  # + pid: a run's own directory (0700) on the controller, for its secrets


class Locked(KinstallError):
    exit_code = ExitCode.LOCKED


class Unreachable(KinstallError):
    exit_code = ExitCode.UNREACHABLE


def lease() -> int:
    text = os.environ.get(LEASE_ENV, "")
    if not text:
        return DEFAULT_LEASE
    if not text.isdigit() or not 5 <= int(text) <= 86400:
        raise KinstallError(f"{LEASE_ENV}={text}: give the lock's lease in seconds, 5 to 86400", ExitCode.USAGE)
    return int(text)


def anchors(cluster, excluded: list[str]) -> list[str]:
    """The hosts that keep the cluster's state: its control planes and etcd members."""
    found = [*cluster.groups.get(CONTROL_PLANE, []), *cluster.groups.get(ETCD, [])]
    return [h for i, h in enumerate(found) if h not in found[:i] and h not in excluded]


def lock_hosts(cluster, excluded: list[str]) -> list[str]:
    firsts = [(cluster.groups.get(group) or [None])[0] for group in (CONTROL_PLANE, ETCD)]
    return [h for i, h in enumerate(firsts) if h and h not in firsts[:i] and h not in excluded]


@dataclass
class Held:
    """A cluster held by this run: its id, the controller's cache of it, the run's PKI directory."""
    cluster_id: str
    directory: Path
    pki: Path
    run_id: str
    took_over: dict | None = None
    adopted: list[str] = field(default_factory=list)  # what this controller brought to the cluster
    pki_sha256: str = ""  # pki.tar as fetched ("" if the cluster had none)
    host_pki: dict[str, str] = field(default_factory=dict)  # each anchor's pki.tar sha256 ("" where none)
    record: records.RunRecord | None = None  # set by the engine; written to the cluster at close
    leaving: list[str] = field(default_factory=list)  # hosts the run took out of the cluster: not written to
    seconds: float = 0.0  # spent opening and closing


def _playbook(tasks: list[dict], hosts: str) -> list[dict]:
    return [{"name": "kinstall: the cluster's own state", "hosts": hosts, "gather_facts": False,
             "tasks": tasks}]


def _ansible(cluster, private: Path, name: str, plays: list[dict], extravars: dict, limit: str) -> dict:
    """Run `plays` on the inventory's hosts; {task name: {host: (event, result)}}."""
    from installer.runner.engine import ROLES, controller_env

    directory = private / name
    directory.mkdir(mode=0o700)
    playbook = directory / "state.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    found: dict[str, dict[str, tuple[str, dict]]] = {}

    def collect(event: dict) -> bool:
        data = event.get("event_data", {})
        if event.get("event") in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable"):
            found.setdefault(data.get("task", ""), {})[data.get("host", "")] = (event["event"], data.get("res", {}))
        return True

    env = controller_env(directory, len(cluster.hosts))
    env["ANSIBLE_LIBRARY"] = str(ROLES / "kinstall_lib" / "library")
    inventory = str(find_inventory_file(Path(cluster.inventory_file)))
    ansible_runner.run(private_data_dir=str(directory), playbook=str(playbook), inventory=[inventory], envvars=env,
                       extravars=extravars, limit=limit, quiet=True, suppress_env_files=True, event_handler=collect)
    return found


def _stopped(found: dict, task: str) -> list[tuple[str, bool, str]]:
    """The hosts that did not answer `task`: (host, unreachable, what was said)."""
    return [(host, event == "runner_on_unreachable", " ".join(failure_message(result).split())[:300])
            for host, (event, result) in sorted(found.get(task, {}).items())
            if event in ("runner_on_unreachable", "runner_on_failed")]


def _unanswered(cluster, stopped: list[tuple[str, bool, str]], excluded: list[str]) -> str:
    """What the hosts that did not answer said, in the run report's words, and what to do."""
    lines = [f"  {'UNREACHABLE' if unreachable else 'FAILED'} {host}: {said}" for host, unreachable, said in stopped]
    gone = [host for host, unreachable, _ in stopped if unreachable]
    if gone:
        inventory = str(find_inventory_file(Path(cluster.inventory_file)).resolve())
        lines.append(f"make {'it' if len(gone) == 1 else 'them'} reachable, or leave {', '.join(gone)} out (not "
                     "contacted, finished by a later run): "
                     + shlex.join(["kinstall", "up", inventory, "--exclude", ",".join([*excluded, *gone])]))
    return "\n".join(lines)


def _identity(cluster, answers: dict[str, dict]) -> str:
    """The cluster's id as its anchors carry it, else the one this controller knew, else a new
    one; refused when they disagree or carry another cluster's name."""
    ids: dict[str, list[str]] = {}
    for host, answer in answers.items():
        if answer.get("id") and not state.ID.match(str(answer["id"])):  # it names a directory here
            raise InvalidInput(f"{cluster.inventory_file}: {host} carries {answer['id']!r} as its cluster id in "
                               f"{STATE_ROOT}/cluster.json, which no kinstall wrote (32 hex digits), so nothing was "
                               "changed: remove that file if the host is no cluster's, or restore it from another "
                               "control plane")
        if answer.get("id"):
            ids.setdefault(answer["id"], []).append(host)
    if len(ids) > 1:
        order = anchors(cluster, [])
        held = "; ".join(f"{', '.join(sorted(hosts, key=order.index))}: cluster id {found}"
                         for found, hosts in sorted(ids.items()))
        raise InvalidInput(f"{cluster.inventory_file}: the inventory's hosts belong to different clusters ({held}), "
                           "so nothing was changed: list the hosts of one cluster, or `kinstall reset` a host "
                           "before it joins another cluster")
    named = [host for host in anchors(cluster, []) if answers.get(host, {}).get("id")
             and answers[host].get("name") != cluster.name]  # in the inventory's order
    if named:
        answer = answers[named[0]]
        raise InvalidInput(f"{cluster.inventory_file}: {', '.join(named)} "
                           f"{'belongs' if len(named) == 1 else 'belong'} to the cluster {answer.get('name')!r} "
                           f"(id {answer['id']}), not to {cluster.name!r} (cluster_name), so nothing was "
                           "changed: point the inventory at this cluster's hosts, or `kinstall reset` a host "
                           "before it joins another cluster")
    # None yet: a new cluster, or one whose hosts were reset; this controller's id for the inventory
    # (if any) goes on, so that its history stays together.
    return next(iter(ids), "") or state.bound_id(cluster) or uuid.uuid4().hex


def _holder_line(holder: dict) -> str:
    seen = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(holder.get("heartbeat", 0))))
    return (f"run {holder.get('run', '?')} of {holder.get('user', '?')}@{holder.get('host', '?')} "
            f"(pid {holder.get('pid', '?')}, `{holder.get('command', '?')}`; last heartbeat {seen})")


def took_over_line(holder: dict) -> str:
    return f"took over the cluster's lock from {_holder_line(holder)}: its heartbeat had stopped for over its lease"


def _sync_history(directory: Path, answers: dict[str, dict]) -> None:
    """The cluster's runs this controller lacked, written to its cache (the cluster wins)."""
    for answer in answers.values():
        for run_id, data in (answer.get("records") or {}).items():
            if not isinstance(data, dict) or not RUN_ID.match(run_id):  # a name of a directory here
                continue
            target = directory / "runs" / run_id
            if (target / "record.json").exists():
                continue
            target.mkdir(parents=True, mode=0o700, exist_ok=True)
            data = {**data, "directory": str(target)}
            (target / "record.json").write_text(json.dumps(data, indent=2) + "\n")
            os.chmod(target / "record.json", 0o600)


def _pki_tar(pki: Path) -> bytes:
    """pki/ as a tar whose bytes depend on the files alone: unchanged files, unchanged tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in pki.rglob("*") if p.is_file() and not p.name.endswith(".part")):
            info = tarfile.TarInfo(str(path.relative_to(pki)))
            info.size, info.mode, info.mtime = path.stat().st_size, 0o600, 0
            tar.addfile(info, io.BytesIO(path.read_bytes()))
    return buffer.getvalue()


def _unpack(data: bytes, pki: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if not member.isfile() or member.name.startswith("/") or ".." in Path(member.name).parts:
                raise KinstallError(f"the cluster's pki.tar holds {member.name!r}, which is not a file kinstall "
                                    "wrote; check /var/lib/kinstall/pki.tar on the control planes", ExitCode.INVALID)
            target = pki / member.name
            target.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
            source = tar.extractfile(member)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(source.read() if source else b"")


def _adopt_legacy(cluster, directory: Path, pki: Path, cluster_has_pki: bool, held: Held) -> None:
    """The state an earlier kinstall kept on this controller for this inventory: its runs and
    files join the cluster's cache; its CA goes to the cluster (at close) unless the cluster
    has one already, and leaves the controller either way."""
    legacy = state.legacy_dir(cluster)
    if not legacy.is_dir() or legacy == directory:
        return
    for item in sorted(legacy.iterdir()):
        if item.name == "pki":
            if not cluster_has_pki:
                shutil.copytree(item, pki, dirs_exist_ok=True)
                held.adopted.append("pki")
            continue
        target = directory / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        elif not target.exists():
            shutil.copy2(item, target)
    for record in (directory / "runs").glob("*/record.json"):
        data = json.loads(record.read_text())
        if data.get("directory") != str(record.parent):
            record.write_text(json.dumps({**data, "directory": str(record.parent)}, indent=2) + "\n")
    if any((directory / "runs").glob("*/record.json")):
        held.adopted.append("history")
    shutil.rmtree(legacy)


class _Heartbeat(threading.Thread):
    def __init__(self, cluster, private: Path, run_id: str, hosts: list[str], seconds: int):
        super().__init__(daemon=True)
        self.args = (cluster, private, run_id, hosts)
        self.seconds = seconds
        self.done = threading.Event()
        self.count = 0

    def run(self) -> None:
        cluster, private, run_id, hosts = self.args
        while not self.done.wait(self.seconds):
            self.count += 1
            task = "Refresh the lock's heartbeat"
            try:
                found = _ansible(cluster, private, f"heartbeat-{self.count}", _playbook(
                    [{"name": task, MODULE: {"action": "refresh", "root": STATE_ROOT, "run_id": run_id}}],
                    ",".join(hosts)), {}, ",".join(hosts))
            except (OSError, RuntimeError, ValueError, AnsibleRunnerException) as error:
                found = {task: {host: ("runner_on_failed", {"msg": f"{type(error).__name__}: {error}"})
                                for host in hosts}}
            missed = _stopped(found, task)
            if missed and not self.done.is_set():  # said, once a refresh: the run itself goes on
                LOG.warning("kinstall: the cluster's lock could not be refreshed (another run may take it over once "
                            "its lease ends):\n%s", _unanswered(cluster, missed, []))


def _sweep() -> None:
    """The run directories of runs on this controller that died without removing them (SIGKILL, a
    power cut): they may hold the cluster's secrets."""
    for directory in Path(tempfile.gettempdir()).glob(RUN_DIR + "*"):
        pid = directory.name.removeprefix(RUN_DIR).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def held(cluster, run_id: str, command: str, excluded: list[str], lock: bool = True, secrets: bool = True):
    """Hold the cluster for run `run_id` (see the module's text). lock=False: a run that changes
    nothing (a preview): no lock taken and nothing written to the hosts. secrets=False: a run
    that needs none of them (verify, `runs list`): pki.tar stays on the hosts."""
    started = time.monotonic()
    period = lease()
    _sweep()
    private = Path(tempfile.mkdtemp(prefix=f"{RUN_DIR}{os.getpid()}-"))
    os.chmod(private, 0o700)
    pki = private / "pki"
    pki.mkdir(mode=0o700)
    members, lockers = anchors(cluster, excluded), lock_hosts(cluster, excluded) if lock else []
    holder = {"host": socket.gethostname(), "user": os.environ.get("USER") or str(os.getuid()), "pid": os.getpid(),
              "command": command}
    opened = "Read the cluster's id and history; take its lock"
    fetched = "Fetch the cluster's secrets into this run's own directory"
    heartbeat = None
    taken: list[str] = []
    current: Held | None = None
    try:
        known = sorted(p.name for p in (state.cached(cluster) / "runs").glob("*") if p.is_dir())
        found = _ansible(cluster, private, "open", _playbook([
            {"name": opened, MODULE: {
                "action": "open", "root": STATE_ROOT, "run_id": run_id, "known": known, "lease": period,
                "holder": "{{ kinstall_holder if inventory_hostname in kinstall_lock_hosts else omit }}",
                "read_runs": "{{ inventory_hostname == kinstall_anchors[0] }}"},
             "register": "kinstall_state"},
            {"name": fetched, "ansible.builtin.fetch": {"src": STATE_ROOT + "/pki.tar", "dest": str(private / "pki.tar"),
                                                        "flat": True},
             "when": "kinstall_secrets and kinstall_state.pki_sha256 | length > 0 and inventory_hostname == "
                     "(ansible_play_hosts | "
                     "map('extract', hostvars) | selectattr('kinstall_state.pki_sha256', 'truthy') "
                     "| map(attribute='inventory_hostname') | first)"}], ",".join(members)),
            {"kinstall_holder": holder, "kinstall_lock_hosts": lockers, "kinstall_anchors": members,
             "kinstall_secrets": secrets or lock},
            ",".join(members))
        answers = {host: result for host, (event, result) in found.get(opened, {}).items()
                   if event == "runner_on_ok"}
        empty = sorted(host for host, answer in answers.items() if "runs" not in answer)
        if empty:
            taken = lockers  # it may hold the lock on them: released below (only a lock of this run's)
            raise KinstallError(f"{', '.join(empty)} answered with an empty result when asked for the cluster's own "
                                "state (was it cut by ansible-runner's MAX_EVENT_RES?); nothing was changed. Run "
                                "again with --debug and report it", ExitCode.TASK_FAILED)
        taken = [host for host in lockers if answers.get(host, {}).get("locked")]
        problems = _stopped(found, opened) + _stopped(found, fetched)
        if problems or set(answers) != set(members):
            raise Unreachable("kinstall could not read the cluster's own state (its id, lock and history) on its "
                              "control planes and etcd members, so nothing was changed:\n"
                              + (_unanswered(cluster, problems, excluded) or "  Ansible gave no answer"),
                              ExitCode.UNREACHABLE if all(gone for _, gone, _ in problems) else ExitCode.TASK_FAILED)
        cluster_id = _identity(cluster, answers)
        refused = [answers[h]["holder"] for h in lockers if not answers[h].get("locked")]
        if refused:
            raise Locked(f"another kinstall run holds this cluster's lock: {_holder_line(refused[0])}; wait for it "
                         f"to finish, or, if its controller died, until its heartbeat is {refused[0].get('lease')} s "
                         "old, when the next run takes the lock over")
        if lock or any(answer.get("id") for answer in answers.values()):
            directory = state.bind(cluster, cluster_id)
        else:  # a look at a cluster no run has given an id yet: nothing to bind
            cluster_id, directory = "", state.of(cluster)
        current = Held(cluster_id, directory, pki, run_id,
                       took_over=next((answers[h]["holder"] for h in lockers if answers[h].get("holder")), None))
        current.host_pki = {host: answer.get("pki_sha256", "") for host, answer in answers.items()}
        _sync_history(directory, answers)
        tar = private / "pki.tar"
        if tar.exists():
            data = tar.read_bytes()
            tar.unlink()
            _unpack(data, pki)
            current.pki_sha256 = _sha256(_pki_tar(pki))
        if lock:
            _adopt_legacy(cluster, directory, pki, bool(current.pki_sha256), current)
        if lockers:
            heartbeat = _Heartbeat(cluster, private, run_id, lockers, max(2, period // 4))
            heartbeat.start()
        current.seconds = time.monotonic() - started
        yield current
    finally:
        if heartbeat is not None:
            heartbeat.done.set()
            heartbeat.join(60)
        closing = time.monotonic()
        try:
            if taken:
                _close(cluster, private, run_id, current, members, taken)
        except (OSError, RuntimeError, ValueError, AnsibleRunnerException) as error:  # the run's outcome stands
            LOG.warning("kinstall: the run ended, but its record and the release of the cluster's lock could not be "
                        "sent to the cluster (%s: %s); a lock left behind is taken over %s s after this run's last "
                        "heartbeat", type(error).__name__, error, lease())
        finally:
            if current is not None:
                current.seconds += time.monotonic() - closing
            shutil.rmtree(private, ignore_errors=True)


def _sha256(data: bytes) -> str:
    import hashlib
    return hashlib.sha256(data).hexdigest()


def _close(cluster, private: Path, run_id: str, current: Held | None, members: list[str], taken: list[str]) -> None:
    """The run's end on the cluster: secrets, id and record written (a run that held the cluster),
    the lock released (always)."""
    if current is None or current.record is None:  # refused before the run: only the locks are released
        _ansible(cluster, private, "release", _playbook([{"name": "Release the lock", MODULE: {
            "action": "close", "root": STATE_ROOT, "run_id": run_id, "adopt": False}}],
            ",".join(taken)), {}, ",".join(taken))
        return
    record = current.record
    # A reset takes the state off the hosts it wipes; its record goes to the anchors that still carry it.
    adopt = record.inputs.get("stages") != ["reset"]
    staying = "inventory_hostname not in kinstall_leaving"
    tasks: list[dict] = [{"name": "The cluster's state directory (root only)", "ansible.builtin.file": {
        "path": STATE_ROOT, "state": "directory", "mode": "0700", "owner": "root"}, "when": f"{staying} and {adopt}"}]
    if "history" in current.adopted:
        tasks.append({"name": "Keep the history this controller kept before", "ansible.builtin.copy": {
            "src": str(_history_dir(private, current)) + "/", "dest": STATE_ROOT + "/runs/", "mode": "0600",
            "directory_mode": "0700"}, "when": staying})
    tar = _pki_tar(current.pki) if any(current.pki.rglob("*")) else b""
    if tar and adopt and any(current.host_pki.get(host) != _sha256(tar) for host in members):
        (private / "pki.tar").write_bytes(tar)
        os.chmod(private / "pki.tar", 0o600)
        tasks.append({"name": "Keep the cluster's secrets on its control planes and etcd members (0600)",
                      "ansible.builtin.copy": {"src": str(private / "pki.tar"), "dest": STATE_ROOT + "/pki.tar",
                                               "mode": "0600", "owner": "root"},
                      "no_log": True, "diff": False, "when": staying})
    # The record goes through a file: as an extra variable it could outgrow a command line.
    stored = private / "record.json"
    stored.write_text(json.dumps({k: v for k, v in asdict(record).items() if k != "directory"}))
    tasks.append({"name": "Keep the run's record in the cluster's history; release the lock", MODULE: {
        "action": "close", "root": STATE_ROOT, "run_id": current.run_id, "cluster_id": current.cluster_id,
        "cluster_name": cluster.name, "adopt": f"{{{{ {staying} and kinstall_adopt }}}}",
        "record": f"{{{{ lookup('file', kinstall_record) | from_json if {staying} else omit }}}}"}})
    found = _ansible(cluster, private, "close", _playbook(tasks, ",".join(members)),
                     {"kinstall_leaving": current.leaving, "kinstall_adopt": adopt, "kinstall_record": str(stored)},
                     ",".join(members))
    problems = [stopped for task in found for stopped in _stopped(found, task)]
    if problems:  # the run's own outcome stands; this is said beside it
        LOG.warning("kinstall: the run ended, but its record and the release of the cluster's lock did not reach "
                    "every control plane and etcd member:\n%s\nthe next run writes the cluster's id and secrets "
                    "where they are missing; a lock left behind is taken over %s s after this run's last heartbeat",
                    _unanswered(cluster, problems, []), lease())


def _history_dir(private: Path, current: Held) -> Path:
    """The adopted runs as the hosts keep them: runs/<id>.json, no controller paths."""
    target = private / "history"
    target.mkdir(mode=0o700, exist_ok=True)
    for path in sorted((current.directory / "runs").glob("*/record.json"))[-30:]:
        data = json.loads(path.read_text())
        data.pop("directory", None)
        (target / f"{path.parent.name}.json").write_text(json.dumps(data))
    return target
