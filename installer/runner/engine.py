"""`kinstall up`: run the stage playbooks through ansible-runner, one stage after another, with a
run record, a per-cluster lock, resume from the failed stage, an idempotency gate and a check
mode for the drift preview. The caller gets progress through a listener and prints it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import ansible_runner
import yaml

from installer import artifacts, components, images, paths, plugins, stages, state
from installer import plan as planning
from installer.errors import ExitCode, InvalidInput, UsageError
from installer.inventory import schema
from installer.inventory.cluster import Cluster
from installer.inventory.model import find_inventory_file
from installer.plan import Plan, StagePlan
from installer.runner import custody, events, records, scope
from installer.runner.events import RunCollector, StageCollector
from installer.runner.kinds import Kind
from installer.runner.lock import ClusterLock
from installer.runner.records import RunRecord, StageRecord

# kinstall's Ansible content ships in the package (package data): found where it is installed,
# never through the source tree. A wheel is installed unpacked, so these are real directories.
PACKAGE = Path(str(resources.files("installer")))
PLAYBOOKS = PACKAGE / "playbooks"
ROLES = PACKAGE / "roles"
CALLBACKS = PACKAGE / "ansible_plugins" / "callback"
# Inventory settings that are secrets: never passed as extra variables.
SECRET_SETTINGS = frozenset(name for name in schema.variables() if schema.secret(name))
MAX_FORKS = 50
MAX_EVENT_RESULT = 1 << 31  # characters: no limit kinstall's own results reach
VERIFY_SETTLE = 60  # seconds for which up's verify stage tries a failing service check again


@dataclass
class RunRequest:
    """One run of the engine: what kind it is (kinds.Kind) and what it runs on."""
    kind: Kind = Kind.UP
    stages: list[str] | None = None  # None: every stage
    skip_stages: list[str] = field(default_factory=list)
    limit: str | None = None
    # Hosts left out of the run (an unreachable one, say): never contacted; see hosts_pattern().
    exclude: list[str] = field(default_factory=list)
    resume: bool = False
    check_idempotent: bool = False  # run the stages a second time; a change then is a failure
    playbook_dir: Path = PLAYBOOKS
    command: str = "kinstall up"
    # Kind.OPERATION: the lifecycle operation (stages.OPERATIONS: playbooks/<name>.yml) run instead
    # of the stages; recorded, locked and reported like a stage.
    operation: str | None = None
    # Extra variables of this run's playbooks (an operation's, verify's).
    operation_vars: dict = field(default_factory=dict)
    # Every stage on every host of its pattern, even when the run only adds hosts (installer/runner/scope.py).
    all_hosts: bool = False

    def narrowable(self) -> list[str] | None:
        """The stages this run runs, when a run that only adds hosts may narrow them (scope.for_run):
        a plain up's with kinstall's playbooks; None for --all-hosts, --limit, --exclude, --resume,
        --playbook-dir (what other playbooks need of each host is theirs to know) and other kinds."""
        if (self.kind is not Kind.UP or self.all_hosts or self.limit or self.exclude or self.resume
                or self.playbook_dir != PLAYBOOKS):
            return None
        return [name for name in (self.stages or stages.NAMES) if name not in self.skip_stages]

    def __post_init__(self):
        if (self.kind is Kind.OPERATION) != (self.operation is not None):
            raise ValueError("an operation run names its operation, and only an operation run does")


def hosts_pattern(options: RunRequest) -> str | None:
    """The Ansible host pattern of the run: --limit, less the --exclude hosts."""
    if not options.exclude:
        return options.limit
    return ":".join([options.limit or "all", *(f"!{host}" for host in options.exclude)])


def parse_stages(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in stages.NAMES]
    if unknown:
        raise UsageError(f"unknown stage {', '.join(unknown)}; the stages are: {', '.join(stages.NAMES)}")
    return names


def files_digest(root: Path, files: list[Path]) -> str:
    """sha256 over files under root: each one's path relative to root and its content."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def inventory_digest(inventory_file: Path) -> str:
    """sha256 over the inventory file and every group_vars/host_vars file beside it."""
    root = inventory_file.parent
    return files_digest(root, [inventory_file] + sorted(p for d in ("group_vars", "host_vars")
                                                        for p in (root / d).rglob("*") if p.is_file()))


def controller_env(cluster_directory: Path, hosts: int) -> dict:
    """Ansible settings that matter for speed and safety; documented in the README."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        "ANSIBLE_PIPELINING": "True",
        # No -C: compression costs CPU and buys nothing on a local network (measured ~10 % slower).
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s",
        "ANSIBLE_FORKS": str(forks(hosts)),
        "ANSIBLE_GATHERING": "smart",
        "ANSIBLE_CACHE_PLUGIN": "jsonfile",
        # For plain ansible-playbook with these settings (bench/); a kinstall run gives ansible-runner
        # a fact cache of its own run (fact_cache=), which takes precedence.
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cluster_directory / "facts"),
        "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "86400",
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_ROLES_PATH": str(ROLES),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        # ansible-runner replaces a task's result by {} past 700,000 characters (AWX's database
        # limit): the cluster's history read by a controller that lacks it is larger than that
        # after a few runs, and kinstall reads every result it asks for.
        "MAX_EVENT_RES": str(MAX_EVENT_RESULT),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def forks(hosts: int) -> int:
    return max(5, min(MAX_FORKS, hosts))


def extravars(cluster: Cluster, run_id: str, run_stages: list[str] | None = None,
              cluster_directory: Path | None = None, pki: Path | None = None) -> dict:
    """The cluster's resolved settings (defaults included) for the roles, plus run context: the
    files to fetch (artifacts.py is their one source), where the controller caches them and keeps
    the cluster's certificates."""
    # Secret settings stay out: extra variables can end on ansible-playbook's command line, and
    # Ansible reads them from the inventory (a vaulted file included) anyway.
    values = {k: v for k, v in cluster.settings.items() if v is not None and k not in SECRET_SETTINGS}
    values.update(kinstall_run_id=run_id, kinstall_components=cluster.components,
                  kinstall_kubeadm_api=cluster.release.kubeadm_api, kube_version=cluster.release.version,
                  kinstall_sandbox_image=cluster.release.sandbox_image,
                  kinstall_network_plugin=plugin_facts(cluster.plugin, cluster.settings),
                  kinstall_artifacts=artifacts.as_dicts(artifacts.for_cluster(cluster)),
                  kinstall_images=artifacts.images_for_cluster(cluster),
                  kinstall_image_refs=images.references(cluster),
                  kinstall_download_source=components.download_source(cluster.settings),
                  kinstall_download_cache=str(paths.cache() / "files"),
                  kinstall_run_stages=_fetch_for(run_stages),
                  kinstall_reset_leftovers=reset_leftovers())
    if values["kinstall_download_source"] == "bundle":
        values["kinstall_bundle_dir"] = str(artifacts.bundle_dir(cluster))
    if cluster_directory is not None:
        # The cluster's secrets, fetched for this run alone (runner/custody.py)
        values["kinstall_pki_dir"] = str(pki or cluster_directory / "pki")
        values["kinstall_cluster_dir"] = str(cluster_directory)
    return values


def _fetch_for(run_stages: list[str] | None) -> list[str]:
    """The stages whose files the download stage fetches: those of this run; for a run of the
    download stage alone (filling the hosts ahead of time), every stage that has a playbook."""
    if run_stages and set(run_stages) != {"download"}:
        return list(run_stages)
    return [s for s in stages.NAMES if (PLAYBOOKS / f"{s}.yml").exists()]


def plugin_facts(plugin, settings: dict | None = None) -> dict:
    """The network plugin's host facts for the roles, from the registry and the plugin's settings:
    roles never list a plugin's ports, modules or kernel settings themselves. hugepages_2mb: the
    2 MB pages every node reserves (the os stage sets vm.nr_hugepages, preflight counts them
    against memory); min_memory_mb: memory a host of a plugin group needs."""
    sysctls = dict(plugin.host_settings.get("sysctls", {}))
    hugepages = 0
    if plugin.host_settings.get("hugepages_2mb_setting"):
        name = plugin.host_settings["hugepages_2mb_setting"]
        hugepages = int((settings or {}).get(name) or plugin.settings[name].get("default", 0))
        sysctls["vm.nr_hugepages"] = hugepages
    return {"name": plugin.name, "version": plugin.version, "tenant_isolation": plugin.tenant_isolation,
            "ports": [{"protocol": p.protocol, "port": p.port, "hosts": p.hosts, "purpose": p.purpose,
                       "owners": list(p.owners)} for p in plugin.ports],
            "hugepages_2mb": hugepages, "min_memory_mb": plugin.host_settings.get("min_memory_mb", {}),
            "sysctls": sysctls,
            "kernel_modules": plugin.host_settings.get("kernel_modules", []),
            "max_kernel": plugin.host_settings.get("max_kernel", ""),
            "min_kernel": plugin.host_settings.get("min_kernel", ""),
            "host_check": plugin.host_check,
            "host_check_off": plugin.host_check_off(settings or {}) if plugin.host_check_off else ""}


def reset_leftovers() -> dict:
    """What reset removes of any network plugin (a host may carry one the cluster ran before)."""
    every = list(plugins.REGISTRY.values())
    return {"links": sorted({link for p in every for link in p.reset_links}),
            "chains": sorted({chain for p in every for chain in p.reset_chains})}


def _select(options: RunRequest, history: list[RunRecord], plan: Plan,
            cluster: Cluster) -> tuple[list[StagePlan], str | None]:
    """The plan's stages this run runs, and the run being resumed (if any)."""
    if options.kind is Kind.OPERATION:
        return [planning.stage_plan(stages.operation(str(options.operation)), cluster)], None
    chosen = options.stages or list(stages.NAMES)
    chosen = [s for s in stages.NAMES if s in chosen and s not in options.skip_stages]
    resumed = None
    if options.resume:
        previous = next((r for r in reversed(history) if Kind.of(r).installs), None)
        if previous is None:
            raise UsageError("there is no earlier run of this cluster to resume; run `kinstall up` without --resume")
        if previous.status == records.SUCCESSFUL:
            raise UsageError(f"the last run ({previous.id}) succeeded; there is nothing to resume")
        done = {s.name for s in previous.stages if s.status in (records.SUCCESSFUL, "skipped")}
        selection = options.stages or previous.inputs.get("stages") or chosen
        chosen = [s for s in stages.NAMES if s in selection and s not in done and s not in options.skip_stages]
        resumed = previous.id
    return [stage for stage in plan.stages if stage.name in chosen], resumed


def _eta_from(history: list[RunRecord], selected: list[str]):
    durations: dict[str, float] = {}
    for run in history:  # the latest successful duration of each stage
        for stage in run.stages:
            if stage.status == records.SUCCESSFUL and stage.ended:
                durations[stage.name] = stage.duration
    if not durations:
        return lambda stage, elapsed: None
    starts: dict[str, float] = {}

    def eta(stage: str, elapsed: float) -> float | None:
        starts.setdefault(stage, elapsed)
        left = selected[selected.index(stage):] if stage in selected else []
        if any(s not in durations for s in left):
            return None
        return max(0.0, sum(durations[s] for s in left) - (elapsed - starts[stage]))

    return eta


class _Interrupt:
    """SIGINT/SIGTERM set a flag that ansible-runner polls: Ansible is stopped cleanly, and the
    run is recorded as interrupted with its lock released."""

    def __init__(self):
        self.flag = threading.Event()
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, lambda *_: self.flag.set())
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


@contextmanager
def hold(cluster: Cluster, options: RunRequest):
    """The cluster held for one run: this controller's lock (an flock: one run at a time here),
    then the cluster's own (custody.held): its id and history, and for a run that changes the
    hosts its lock and secrets. `status`, which refreshes every few seconds, reads this
    controller's copy of the history instead."""
    run_id = records.new_run_id()
    if options.kind is not Kind.OPERATION:  # before any host is contacted (up checks its final choice again)
        chosen = [s for s in (options.stages or stages.NAMES) if s not in options.skip_stages]
        _refuse_unverifiable_files(cluster, options, chosen)
    with ClusterLock(state.lock_dir(cluster), options.command) as lock:
        if options.kind is Kind.STATUS:
            directory = state.of(cluster)
            yield custody.Held("", directory, directory / "pki", run_id, took_over=lock.took_over)
            return
        with custody.held(cluster, run_id, options.command, options.exclude,
                          lock=options.kind.changes_hosts, secrets=options.kind is not Kind.VERIFY) as held:
            yield held


def up(cluster: Cluster, options: RunRequest, listener=lambda progress: None, plan: Plan | None = None,
       held: custody.Held | None = None) -> RunRecord:
    """Run `plan` (by default the plan of the cluster as it is): its stages that options select,
    each on the hosts the plan gives it; a stage the plan skips is recorded as skipped, with why.
    `held`: the cluster as the caller holds it (hold()); by default the run holds it itself."""
    if held is None:
        with hold(cluster, options) as holding:
            return up(cluster, options, listener, plan, holding)
    plan = plan if plan is not None else planning.make(cluster)
    inventory_file = find_inventory_file(Path(cluster.inventory_file)).resolve()
    directory = held.directory
    with _Interrupt() as interrupt:
        history = records.for_cluster(directory)
        selected, resumed = _select(options, history, plan, cluster)
        names = [stage.name for stage in selected]
        _refuse_unverifiable_files(cluster, options, names)
        record = records.create(directory, cluster.name, options.command, {
            "mode": str(options.kind), "inventory": str(inventory_file),
            "inventory_sha256": inventory_digest(inventory_file),
            "kube_version": cluster.release.version, "network_plugin": cluster.plugin.name,
            "components": cluster.components, "stages": names, "limit": options.limit, "exclude": options.exclude,
            "resumed": resumed, "cluster_id": held.cluster_id, "controller": socket.gethostname(),
            "adopted": held.adopted,
            "playbook_dir": str(options.playbook_dir), "lock_taken_over_from": held.took_over,
            scope.FINGERPRINT: scope.fingerprint(cluster), "only_adds": plan.only_adds}, run_id=held.run_id)
        held.record = record
        if options.operation == "remove-node":  # the node leaves: the cluster's state is not written back to it
            held.leaving = [str(options.operation_vars.get("kinstall_remove_node"))]
        sources = [str(inventory_file)]
        overlay = Path(record.directory) / "groups.yml"
        overlay.write_text("# kinstall's reading of the inventory's groups, for Ansible (see the run record)\n"
                           + json.dumps(with_plan_groups(cluster.ansible_overlay, plan), indent=2) + "\n")
        sources.append(str(overlay))
        try:
            args = (cluster, options, record, selected, held, interrupt, listener, history, sources,
                    plan.upgrade_batches["worker_batch_size"])
            status = _run_stages(*args, second_run=False)
            if status == records.SUCCESSFUL and options.check_idempotent:
                # The gate: the same stages again; any change now is an idempotency bug.
                status = _run_stages(*args, second_run=True)
                changed = [t for t in record.tasks if t.changed and t.second_run]
                record.check = {"status": "changed" if changed else "unchanged",
                                "changed": [vars(t) for t in changed]}
                if status == records.SUCCESSFUL and changed:
                    status = records.NOT_IDEMPOTENT
            record.status = status
            if options.operation == "etcd-snapshot" and status == records.SUCCESSFUL:
                # The cluster's history says which controller holds the snapshot, and where.
                fetched = max((held.directory / "etcd-snapshots").glob("*.db"), key=lambda p: p.stat().st_mtime,
                              default=None)
                record.inputs["snapshot"] = {"controller": socket.gethostname(), "path": str(fetched or "")}
        finally:
            if record.status == records.RUNNING:
                record.status = records.INTERRUPTED
            record.exit_code = int(exit_code(record.status))
            record.ended = time.time()
            record.save()
    return record


def _refuse_unverifiable_files(cluster: Cluster, options: RunRequest, selected: list[str]) -> None:
    """A run whose stages need a file with no known sha256 for any architecture (Calico's files
    for a release newer than kinstall's list, say) stops here, before any host is contacted: the
    download stage would refuse it anyway, but only after the os stage had changed the hosts."""
    if options.playbook_dir != PLAYBOOKS or not options.kind.checks_files:
        return
    needed = set(_fetch_for(selected)) if "download" in selected else set(selected)
    by_component: dict[tuple[str, str], list] = {}
    for found in artifacts.for_cluster(cluster):
        if found.stage in needed:
            by_component.setdefault((found.component, found.version), []).append(found)
    unknown = [key for key, found in by_component.items() if not any(a.sha256 for a in found)]
    if unknown:
        names = ", ".join(f"{component} {version}" for component, version in unknown)
        variables = ", ".join(components.COMPONENTS[component].checksum_setting for component, _ in unknown)
        raise InvalidInput(
            f"{cluster.inventory_file}: no sha256 is known for {names}, so kinstall cannot verify the download and "
            f"nothing was started: declare the published sha256 in the inventory ({variables}, Kubespray's form "
            f"{{arch: {{version: sha256}}}}), or choose versions `kinstall artifacts` lists with a sha256")


def exit_code(status: str) -> ExitCode:
    return {records.SUCCESSFUL: ExitCode.OK, records.FAILED: ExitCode.TASK_FAILED,
            records.UNREACHABLE: ExitCode.UNREACHABLE, records.INTERRUPTED: ExitCode.INTERRUPTED,
            records.NOT_IDEMPOTENT: ExitCode.NOT_IDEMPOTENT}.get(status, ExitCode.TASK_FAILED)


def with_plan_groups(overlay: dict, plan: Plan) -> dict:
    """The inventory overlay (Cluster.ansible_overlay) with the groups the plan adds for Ansible."""
    out = json.loads(json.dumps(overlay))
    children = out.setdefault("all", {}).setdefault("children", {})
    for group, hosts in plan.groups_for_ansible().items():
        children[group] = {"hosts": dict.fromkeys(hosts)}
    return out


def _stage_plays(playbook: Path, stage: StagePlan) -> list[dict]:
    """A stage's plays: its playbook imported; or, narrowed to fewer hosts than its pattern matches
    (a run that only adds hosts), its plays with each one's hosts intersected with the stage's group."""
    if not stage.scope_group:
        return [{"ansible.builtin.import_playbook": str(playbook.resolve()), "vars": {"kinstall_stage": stage.name}}]
    plays = yaml.safe_load(playbook.read_text())
    for play in plays:
        play["hosts"] = f"{play['hosts']}:&{stage.scope_group}"
        play["vars"] = {**(play.get("vars") or {}), "kinstall_stage": stage.name}
    return plays


def run_playbook(directory: Path, playbook_dir: Path, planned: list[StagePlan]) -> Path:
    """The run's one playbook: each stage's playbook imported, after a marker play that opens the
    stage for RunCollector. One ansible-playbook for the whole run: Ansible, its inventory and its
    connections start once, not once a stage. Ansible goes on with the other hosts when one fails or
    stops answering; a stage must not, so the marker play ends the run when an earlier stage left a
    host behind. It also holds Ansible to the plan: the stage's host pattern must match, in Ansible's
    reading of the inventory, exactly the hosts the plan gave the stage. It runs on the controller
    alone (no module, no connection)."""
    plays: list[dict] = []
    for stage in planned:
        plays.append({"name": events.MARKER + stage.name, "hosts": "all", "gather_facts": False,
                      "vars": {"kinstall_plan_pattern": stage.pattern, "kinstall_plan_hosts": stage.hosts},
                      "tasks": [{
                          "name": "End the run when a host failed or stopped answering in an earlier stage",
                          "ansible.builtin.fail": {"msg": "the run ends here: {{ ansible_play_hosts_all | "
                                                          "difference(ansible_play_batch) | join(', ') }} failed"},
                          "when": "ansible_play_hosts_all | difference(ansible_play_batch) | length > 0",
                          "run_once": True}, {
                          "name": "End the run when Ansible would run the stage on other hosts than the plan's",
                          "ansible.builtin.fail": {"msg": "kinstall's plan and Ansible disagree on the hosts of "
                                                          "stage " + stage.name + ": {{ kinstall_plan_pattern }} is "
                                                          "{{ query('inventory_hostnames', kinstall_plan_pattern) | "
                                                          "sort | join(', ') }} for Ansible"},
                          "when": "kinstall_plan_pattern | length > 0 and query('inventory_hostnames', "
                                  "kinstall_plan_pattern) | sort != kinstall_plan_hosts | sort",
                          "run_once": True}]})
        plays += _stage_plays(playbook_dir / f"{stage.name}.yml", stage)
    path = directory / "run.yml"
    path.write_text("# kinstall's playbook for this run, made from the stages it runs\n"
                    + yaml.safe_dump(plays, sort_keys=False))
    return path


def stages_done(history: list[records.RunRecord], running: list[str]) -> list[str]:
    """The stages that have completed on this cluster (in an earlier run, or before verify in this
    one): the verify stage skips the checks of components no stage has installed yet."""
    done: set[str] = set()
    for run in history:  # oldest first
        for stage in run.stages:
            if stage.status == records.SUCCESSFUL:
                if stage.name == "reset":  # a reset wiped what every stage had installed
                    done.clear()
                done.add(stage.name)
    return [name for name in stages.NAMES if name in done or name in running]


def _run_stages(cluster, options, record, planned: list[StagePlan], held, interrupt, listener, history,
                sources, worker_batch: int, second_run: bool) -> str:
    selected = [stage.name for stage in planned]
    runnable = [s.name for s in planned if not s.skipped and (options.playbook_dir / f"{s.name}.yml").exists()]
    why = {s.name: s.skipped or f"no playbook {s.name}.yml yet" for s in planned}
    eta = _eta_from(history, runnable) if not second_run else (lambda stage, elapsed: None)
    ident = "second-run" if second_run else "run"
    private = Path(record.directory) / "ansible" / ident
    private.mkdir(parents=True, mode=0o700)
    artifacts_dir = str(private / "artifacts" / ident)
    state_ = {"collector": None, "status": records.SUCCESSFUL}
    recorded: set[str] = set()

    def skip_until(name: str | None) -> None:
        """Record the selected stages that do not run (the plan skips them, or they have no playbook),
        up to `name` (None: all of them)."""
        for other in selected[:selected.index(name) if name else len(selected)]:
            if other not in runnable and other not in recorded:
                recorded.add(other)
                record.stages.append(StageRecord(name=other, status="skipped", started=time.time(),
                                                 ended=time.time(),
                                                 skipped=why[other], second_run=second_run))

    def close(status: str | None = None) -> str:
        collector = state_["collector"]
        if collector is None:
            return records.SUCCESSFUL
        stage = collector.stage
        collector.finish()
        stage.ended = time.time()
        record.tasks.extend(collector.tasks)
        record.failures.extend(collector.failures)
        record.warnings.extend(collector.warnings)
        if status is None:
            failures = collector.failures
            status = (records.SUCCESSFUL if not failures else
                      records.UNREACHABLE if all(f.unreachable for f in failures) else records.FAILED)
        stage.status = status
        collector._progress("stage-end", status=status)
        state_["collector"] = None
        record.save()
        return status

    def open_stage(name: str):
        if state_["status"] != records.SUCCESSFUL:
            return None
        state_["status"] = close()
        if state_["status"] != records.SUCCESSFUL:
            return None
        skip_until(name)
        recorded.add(name)
        stage = StageRecord(name=name, started=time.time(), artifacts=artifacts_dir, second_run=second_run)
        record.stages.append(stage)
        collector = StageCollector(stage, runnable.index(name) + 1, len(runnable), listener, record.started, eta)
        state_["collector"] = collector
        collector._progress("stage-start")
        return collector

    if not runnable:
        skip_until(None)
        record.save()
        return records.SUCCESSFUL
    if interrupt.flag.is_set():
        return records.INTERRUPTED
    env = controller_env(held.directory, len(cluster.hosts))
    preview = options.kind is Kind.PREVIEW
    if preview:
        env.update(ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS), ANSIBLE_CALLBACKS_ENABLED="kinstall_check_mode",
                   KINSTALL_CHECK_MODE_FILE=str(private / "not-in-check-mode.jsonl"))
    collector = RunCollector(open_stage)
    result = ansible_runner.run(
        private_data_dir=str(private), ident=ident,
        playbook=str(run_playbook(private, options.playbook_dir, [s for s in planned if s.name in runnable])),
        project_dir=str(options.playbook_dir.resolve()), inventory=sources,
        envvars=env, extravars={**extravars(cluster, record.id, selected, held.directory, held.pki),
                                "kinstall_stages_done": stages_done(history, runnable),
                                # up's verify follows stages that restart services: they may settle
                                "verify_settle_seconds": VERIFY_SETTLE if options.kind.installs else 0,
                                # the plan's batch of workers (upgrade_batch worked out for this cluster)
                                "kinstall_upgrade_worker_batch": worker_batch,
                                **options.operation_vars},
        # Facts are gathered once a run, by the first play that needs them, and read from there.
        fact_cache=str(Path(record.directory) / "facts"),
        limit=hosts_pattern(options), forks=forks(len(cluster.hosts)), cmdline="--check --diff" if preview else None,
        event_handler=collector, cancel_callback=interrupt.flag.is_set, quiet=True, suppress_env_files=True)
    current = state_["collector"]
    if current is not None:
        failures = current.failures
        if any(not f.unreachable and f.host for f in failures) and not interrupt.flag.is_set():
            _recheck_reachability(failures, sources, env, private)
        if result.status == "canceled" or interrupt.flag.is_set():
            state_["status"] = close(records.INTERRUPTED)
        elif not failures and result.rc != 0:
            current.failures.append(records.Failure(host="", stage=current.stage.name, role="", task="",
                                                    message=_stdout_tail(result), second_run=second_run))
            state_["status"] = close(records.FAILED)
        else:
            state_["status"] = close()
    elif state_["status"] == records.SUCCESSFUL and result.rc != 0:
        # Ansible ended before the first stage began: a playbook it could not read, say.
        stage = StageRecord(name=runnable[0], status=records.FAILED, started=time.time(),
                            ended=time.time(), artifacts=artifacts_dir, second_run=second_run)
        record.stages.append(stage)
        record.failures.append(records.Failure(host="", stage=runnable[0], role="", task="",
                                               message=_stdout_tail(result), second_run=second_run))
        state_["status"] = records.INTERRUPTED if result.status == "canceled" else records.FAILED
    if preview:
        record.check.setdefault("not_in_check_mode", []).extend(_not_in_check_mode(private))
    if state_["status"] == records.SUCCESSFUL:
        skip_until(None)
    record.save()
    return state_["status"]


def _recheck_reachability(failures, sources, env, private: Path) -> None:
    """A host that goes down mid-task (a shutdown kills the module before the network goes) looks
    to Ansible like a failed task. Ask the failed hosts again; the ones that no longer answer are
    reported as unreachable, which is what the user needs to know."""
    hosts = sorted({f.host for f in failures if not f.unreachable and f.host})
    check = private / "recheck"
    check.mkdir(mode=0o700, exist_ok=True)
    result = ansible_runner.run(private_data_dir=str(check), ident="recheck", module="ping",
                                host_pattern=",".join(hosts), inventory=sources,
                                envvars={**env, "ANSIBLE_TIMEOUT": "5"}, quiet=True, suppress_env_files=True)
    gone = set((result.stats or {}).get("dark", {}))
    for failure in failures:
        if failure.host in gone:
            failure.unreachable = True
            failure.message = f"the host stopped answering during the task ({failure.message})"


def _not_in_check_mode(private: Path) -> list[dict]:
    path = private / "not-in-check-mode.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _stdout_tail(result) -> str:
    """When Ansible failed before any task (a playbook syntax error, say), its own words."""
    try:
        text = result.stdout.read()
    except (OSError, AttributeError):
        text = ""
    lines = [line for line in text.splitlines() if line.strip()]
    return " ".join(lines[-6:])[-1500:] or f"ansible-playbook exited with {result.rc}"
