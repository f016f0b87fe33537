"""The kinstall command line. Each command parses its parameters, calls one domain function and
renders the result; this module is the only place that prints or exits."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
import traceback
from pathlib import Path

import click

from installer import __version__, plugins
from installer.errors import ExitCode, InvalidInput, KinstallError, UsageError
from installer.runner.kinds import Kind

FORMAT = click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
                      show_default=True, help="Output format.")
INVENTORY = click.argument("inventory", type=click.Path(dir_okay=True, path_type=str))


class _Group(click.Group):
    """Turns KinstallError into a message and its exit code; a traceback only under --debug."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KinstallError as error:
            if isinstance(error, InvalidInput) and error.report is not None:
                _emit_report(error.report, ctx.meta.get("format", "text"))
            click.echo(f"kinstall: {error.message}", err=True)
            if ctx.meta.get("debug"):
                traceback.print_exc()
            ctx.exit(int(error.exit_code))
        except KeyboardInterrupt:
            click.echo("kinstall: interrupted", err=True)
            ctx.exit(int(ExitCode.INTERRUPTED))
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`kinstall ... | head`): nothing more to say, and nobody to say it to.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stops Python's own complaint at exit
            ctx.exit(int(ExitCode.OK))
        except Exception as error:  # noqa: BLE001 - the last line of defence for the user
            if ctx.meta.get("debug"):
                raise
            click.echo(f"kinstall: internal error: {type(error).__name__}: {error} "
                       "(run again with --debug for the traceback, and please report it)", err=True)
            ctx.exit(int(ExitCode.INTERNAL))


def _emit_report(report, output_format: str) -> None:
    if output_format == "json":
        click.echo(json.dumps(report.as_json(), indent=2))
    elif report.findings:
        click.echo(report.as_text(), err=not report.ok)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kinstall")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx, debug):
    """kinstall turns an Ansible inventory of Linux hosts into a Kubernetes cluster."""
    ctx.meta["debug"] = debug


@cli.command()
@INVENTORY
@FORMAT
@click.pass_context
def validate(ctx, inventory, output_format):
    """Check INVENTORY (and its group_vars/, host_vars/) without contacting any host.

    Exit 0 when valid, 1 when not, 2 when the command line is wrong."""
    from installer.inventory.validate import validate as run

    ctx.meta["format"] = output_format
    result = run(inventory)
    report = result.report
    if report.ok and result.cluster is not None:
        from installer import existing

        existing.refuse_changes(result.cluster)
    if output_format == "json":
        body = report.as_json()
        if result.cluster is not None:
            body["cluster"] = {"name": result.cluster.name, "kube_version": result.cluster.release.version,
                               "network_plugin": result.cluster.plugin.name, "hosts": len(result.cluster.hosts)}
        click.echo(json.dumps(body, indent=2))
    else:
        if report.findings:
            click.echo(report.as_text(), err=not report.ok)
        if report.ok:
            c = result.cluster
            click.echo(f"{inventory}: valid: cluster {c.name}, Kubernetes {c.release.version}, "
                       f"{c.plugin.name}, {len(c.hosts)} host{'s' if len(c.hosts) != 1 else ''}"
                       + (f" ({len(report.warnings)} warning{'s' if len(report.warnings) != 1 else ''})"
                          if report.warnings else ""))
        else:
            n = len(report.errors)
            click.echo(f"{inventory}: {n} error{'s' if n != 1 else ''}", err=True)
    ctx.exit(int(ExitCode.OK if report.ok else ExitCode.INVALID))


@cli.command()
@INVENTORY
@FORMAT
@click.option("--against-hosts", is_flag=True,
              help="Also run the stages in check mode (--check --diff) and list what would change per host.")
@click.option("--stages", help="With --against-hosts: only these stages (comma-separated).")
@click.option("--limit", help="With --against-hosts: only these hosts (an Ansible pattern).")
@click.option("--playbook-dir", type=click.Path(file_okay=False, exists=True), help="Stage playbooks to use.")
@click.pass_context
def plan(ctx, inventory, output_format, against_hosts, stages, limit, playbook_dir):
    """Show what `kinstall up` would do with INVENTORY: stages, hosts, batches, versions.

    With --against-hosts, contact the hosts and preview the drift: the tasks that would change
    each host, and those check mode cannot tell about (reported, never hidden)."""
    from installer import existing
    from installer import plan as planning
    from installer.inventory.validate import require_valid

    ctx.meta["format"] = output_format
    result = require_valid(inventory)
    existing.refuse_changes(result.cluster)
    made = planning.make(result.cluster, existing.installed(result.cluster))
    drift = None
    if against_hosts:
        from installer.runner import engine, report

        options = engine.RunRequest(Kind.PREVIEW, stages=engine.parse_stages(stages), limit=limit,
                                    command=f"kinstall plan --against-hosts {inventory}")
        if playbook_dir:
            options.playbook_dir = Path(playbook_dir)
        drift = engine.up(result.cluster, options, plan=made)
    if output_format == "json":
        body = made.as_dict()
        if drift is not None:
            body["drift"] = {"status": drift.status, "changed": [vars(t) for t in drift.tasks if t.changed],
                             "not_in_check_mode": drift.check.get("not_in_check_mode", []),
                             "failures": [vars(f) for f in drift.failures], "record": drift.id}
        click.echo(json.dumps(body, indent=2))
    else:
        if result.report.warnings:
            click.echo(result.report.as_text(), err=True)
        click.echo(planning.render(made))
        if drift is not None:
            click.echo("")
            click.echo(report.render_drift(drift))
    if drift is not None and drift.exit_code in (ExitCode.UNREACHABLE, ExitCode.INTERRUPTED):
        ctx.exit(drift.exit_code)


@cli.command()
@INVENTORY
@click.option("--stages", help="Run only these stages (comma-separated, in the plan's order).")
@click.option("--skip-stages", help="Run every stage but these.")
@click.option("--limit", help="Only these hosts (an Ansible pattern); the others are not contacted.")
@click.option("--exclude", metavar="HOST[,HOST]", help="Leave these hosts out of the run, such as an unreachable one "
              "while new hosts are added: they are not contacted, and what they need waits for a run with them.")
@click.option("--resume", is_flag=True, help="Continue the cluster's last failed or interrupted run from its "
              "failed stage.")
@click.option("--check-idempotent", is_flag=True, help="After a successful run, run again and fail (exit 8) if "
              "anything changed.")
@click.option("--yes", is_flag=True, help="Do not ask before changing the hosts.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: progress and a report; json: one JSON object per line (plan, progress, record).")
@click.option("--playbook-dir", type=click.Path(file_okay=False, exists=True),
              help="Stage playbooks to run instead of kinstall's own (playbooks/<stage>.yml).")
@click.pass_context
def up(ctx, inventory, stages, skip_stages, limit, exclude, resume, check_idempotent, yes, output, playbook_dir):
    """Validate INVENTORY, show the plan, then run the stage playbooks on its hosts.

    Nothing is contacted when the inventory is invalid. Exit codes: see the README."""
    from installer.runner import engine

    options = engine.RunRequest(Kind.UP, stages=engine.parse_stages(stages),
                                skip_stages=engine.parse_stages(skip_stages) or [], limit=limit, resume=resume,
                                check_idempotent=check_idempotent,
                                exclude=[h.strip() for h in (exclude or "").split(",") if h.strip()],
                                command=_command_line("up"))
    if playbook_dir:
        options.playbook_dir = Path(playbook_dir)
    _up(ctx, inventory, options, yes, output)


def _refuse_exclusions(cluster, excluded: list[str]) -> None:
    """--exclude names hosts of the inventory, and not the first control plane, which acts for
    the cluster (joins, manifests, drains): a run cannot go on without it."""
    from installer.inventory.model import CONTROL_PLANE

    unknown = [host for host in excluded if host not in cluster.hosts]
    if unknown:
        raise InvalidInput(f"{cluster.inventory_file}: --exclude {', '.join(unknown)}: not a host of this inventory "
                           f"(its hosts: {', '.join(cluster.hosts)})")
    first = (cluster.groups.get(CONTROL_PLANE) or [None])[0]
    if first in excluded:
        raise InvalidInput(f"{cluster.inventory_file}: --exclude {first}: the first host of kube_control_plane acts "
                           "for the cluster (joins, manifests, drains) and cannot be left out; list a reachable "
                           "control plane first in that group")
    if set(cluster.hosts) <= set(excluded):
        raise InvalidInput(f"{cluster.inventory_file}: --exclude leaves no host to run on")


def _up(ctx, inventory: str, options, yes: bool, output: str, overrides: dict | None = None) -> None:
    """validate, refuse what an installed cluster cannot take, show the plan, ask, run, report."""
    from installer import existing
    from installer import plan as planning
    from installer.inventory.validate import require_valid
    from installer.runner import engine, progress, report

    ctx.meta["format"] = output
    result = require_valid(inventory, overrides)
    _refuse_exclusions(result.cluster, options.exclude)
    existing.refuse_changes(result.cluster)
    made = planning.make(result.cluster, existing.installed(result.cluster))
    if output == "json":
        emit = progress.JsonLines(click.echo)
        click.echo(json.dumps({"type": "plan", **made.as_dict(), "excluded": options.exclude}))
    else:
        if result.report.warnings:
            click.echo(result.report.as_text(), err=True)
        click.echo(planning.render(made))
        if options.exclude:
            click.echo(f"\n  left out of this run: {', '.join(options.exclude)} (not contacted; what they need of "
                       "this run, such as routes to new nodes' pods, waits for a run that includes them)")
        click.echo("")
        emit = (progress.LiveLine if sys.stdout.isatty() else progress.PlainLines)(click.echo)
        if not yes and sys.stdin.isatty():
            if not click.confirm("Run these stages on the hosts?", default=False):
                raise KinstallError("stopped before contacting any host", ExitCode.INTERRUPTED)
    record = engine.up(result.cluster, options, emit, plan=made)
    if output == "json":
        from dataclasses import asdict

        click.echo(json.dumps({"type": "record", **asdict(record)}))
    else:
        click.echo(report.render(record))
    # (the record's verify-hosts.json: kinstall's own verify role ran, not a --playbook-dir stand-in)
    verify_ran = any(s.name == "verify" and s.status == "successful" for s in record.stages) and \
        (Path(record.directory) / "verify-hosts.json").is_file()
    only_verify_failed = bool(record.failures) and all(f.stage == "verify" and not f.unreachable
                                                       for f in record.failures) and \
        (Path(record.directory) / "verify-hosts.json").is_file()
    if (record.exit_code == 0 and verify_ran) or only_verify_failed:
        # The verify stage ran on the hosts: the API checks complete it, as `kinstall verify` does;
        # a failed check is the verify's exit code (9), not a failed task's.
        from installer.verify import results as verdicts
        from installer.verify import run as verification

        found = verification.of_run(result.cluster, record, settle=180)
        if output == "json":
            click.echo(json.dumps({"type": "verify", **json.loads(verdicts.as_json(found))}))
        else:
            click.echo("\nverify:\n" + verdicts.render(found) + "\nthe function checks (pods, Services, DNS, volumes, "
                       f"self-healing, rolling updates): kinstall verify {inventory}")
        if verdicts.failed(found) or only_verify_failed:
            ctx.exit(ExitCode.VERIFY_FAILED)
    ctx.exit(record.exit_code)


@cli.command()
@INVENTORY
@click.option("--to", "version", required=True, metavar="X.Y.Z",
              help="The Kubernetes release to move to (the inventory's kube_version is not edited).")
@click.option("--stages", help="Run only these stages (comma-separated), e.g. download,upgrade.")
@click.option("--resume", is_flag=True, help="Continue the cluster's last failed or interrupted run.")
@click.option("--yes", is_flag=True, help="Do not ask before changing the hosts.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: progress and a report; json: one JSON object per line (plan, progress, record).")
@click.pass_context
def upgrade(ctx, inventory, version, stages, resume, yes, output):
    """Move INVENTORY's cluster to Kubernetes X.Y.Z: `kinstall up` with kube_version X.Y.Z.

    The version-skew policy is checked against what kinstall installed and what the hosts report:
    no downgrade, one minor at a time. Then every stage runs; the upgrade stage takes an etcd
    snapshot and moves the first control plane (kubeadm upgrade apply), the others one at a time
    and the workers in batches of upgrade_batch, each drained and uncordoned. Set kube_version in
    the inventory afterwards, or the next `kinstall up` refuses the downgrade."""
    from installer.runner import engine

    version = version.removeprefix("v")
    if not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", version):
        raise UsageError(f"--to {version}: give a Kubernetes release as X.Y.Z, such as 1.36.4")
    options = engine.RunRequest(Kind.UPGRADE, stages=engine.parse_stages(stages), resume=resume,
                                command=_command_line("upgrade"))
    _up(ctx, inventory, options, yes, output, {"kube_version": version})


@cli.group()
def runs():
    """The records of earlier runs: what ran, where, how long, what changed and what failed."""


@runs.command("list")
@click.argument("inventory", required=False)
@FORMAT
def runs_list(inventory, output_format):
    """Runs of the cluster of INVENTORY, or of every cluster, oldest first."""
    from installer import state
    from installer.inventory.validate import require_valid
    from installer.runner import records, report

    if inventory:
        found = records.for_cluster(state.of(require_valid(inventory).cluster))
    else:
        found = records.everywhere()
    if output_format == "json":
        click.echo(json.dumps([{"id": r.id, "cluster": r.cluster, "mode": r.inputs.get("mode"), "status": r.status,
                                "started": r.started, "duration": r.duration, "exit_code": r.exit_code}
                               for r in found], indent=2))
    else:
        click.echo(report.render_list(found))


@runs.command("show")
@click.argument("run_id")
@FORMAT
def runs_show(run_id, output_format):
    """One run's record: inputs, stages, per-host recap, changed tasks and failures."""
    from dataclasses import asdict

    from installer.runner import records, report

    record = records.find(run_id)
    if output_format == "json":
        click.echo(json.dumps(asdict(record), indent=2))
    else:
        click.echo(report.render(record))
        changed = [t for t in record.tasks if t.changed]
        if changed:
            click.echo(f"changed tasks ({len(changed)}):")
            for task in changed:
                click.echo(f"  {task.host}: {task.stage} / {task.role + ' / ' if task.role else ''}{task.task} "
                           f"({task.duration:.2f} s)")
        slow = sorted(record.tasks, key=lambda t: -t.duration)[:5]
        if slow:
            click.echo("slowest tasks:")
            for task in slow:
                click.echo(f"  {task.duration:7.2f} s  {task.host}: {task.stage} / {task.task}")


def _run_operation(ctx, inventory: str, name: str, variables: dict, question: str | None, yes: bool,
                   limit: str | None = None):
    """Run one lifecycle operation (stages.OPERATIONS) on INVENTORY's hosts with the run engine's
    records, lock and progress; returns the record after printing its report."""
    from installer.inventory.validate import require_valid
    from installer.runner import engine, progress, report

    result = require_valid(inventory)
    if question and not yes:
        if not sys.stdin.isatty():
            raise KinstallError(f"{question.rstrip('?')}: pass --yes to confirm when not running interactively",
                                ExitCode.USAGE)
        if not click.confirm(question, default=False):
            raise KinstallError("stopped before contacting any host", ExitCode.INTERRUPTED)
    options = engine.RunRequest(Kind.OPERATION, operation=name, operation_vars=variables, limit=limit,
                                command=_command_line(name))
    emit = (progress.LiveLine if sys.stdout.isatty() else progress.PlainLines)(click.echo)
    record = engine.up(result.cluster, options, emit)
    click.echo(report.render(record))
    return result.cluster, record


@cli.command()
@INVENTORY
@click.option("--limit", help="Only these hosts (an Ansible pattern).")
@click.option("--yes", is_flag=True, help="Do not ask before wiping the hosts.")
@click.pass_context
def reset(ctx, inventory, limit, yes):
    """Wipe Kubernetes, etcd and the container runtime, with all their data, from the cluster's
    hosts (or those of --limit); `kinstall up` rebuilds them. Needs --yes when not run
    interactively. After a reset of every host, the cluster's admin kubeconfig is removed and
    the checks against the installed cluster (plugin, release) start afresh."""
    from installer import state

    what = f"the hosts matching {limit}" if limit else "every host of the cluster"
    cluster, record = _run_operation(ctx, inventory, "reset", {},
                                     f"Wipe Kubernetes, etcd and the container runtime, with all their data, from "
                                     f"{what}?", yes, limit)
    if record.exit_code == 0 and not limit:
        shutil.rmtree(state.of(cluster) / "kubeconfig", ignore_errors=True)
    ctx.exit(record.exit_code)


@cli.command()
@click.argument("inventory", required=False)
@click.option("--kubeconfig", type=click.Path(dir_okay=False, exists=True),
              help="Verify any cluster through this kubeconfig: the API and function checks (no SSH to its hosts).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--junit", type=click.Path(dir_okay=False, writable=True), help="Also write a JUnit XML report here.")
@click.option("--cert-days", type=click.IntRange(min=0), help="A certificate that expires within this many days fails "
              "(default: the inventory's verify_cert_days, 30).")
@click.option("--image", help="The image of the function checks' pods (default: the inventory's verify_image).")
@click.option("--skip-function", is_flag=True, help="Leave out the function checks (they run pods in a namespace "
              "of their own, removed afterwards).")
@click.pass_context
def verify(ctx, inventory, kubeconfig, output_format, junit, cert_days, image, skip_function):
    """Prove INVENTORY's cluster works. On every host (over SSH, recorded like a run): etcd's member
    healthy over TLS and the quorum, containerd, kubelet, the API server through the host's own
    path, certificate expiry. Through the API: its release, every node Ready, every system pod
    Ready, the API server's readiness checks. Function checks, with pods in a namespace removed
    afterwards (also on failure and Ctrl-C): pod-to-pod across every pair of nodes, pod-to-service,
    DNS, self-healing, a rolling update with no replica unavailable, a claim on each StorageClass
    keeping its data, NetworkPolicy isolation between two tenants (where the plugin enforces
    policy). The plugin's own health (Calico's BGP sessions and Tungsten Fabric's contrail-status
    on each host, Romana's host and block lists). Each check passes, fails (what was expected, what was seen, diagnostics) or
    is skipped with the reason. Exit 9 when a check failed."""
    from installer.runner import progress
    from installer.verify import results as verdicts
    from installer.verify import run as verification

    if bool(inventory) == bool(kubeconfig):
        raise UsageError("give INVENTORY (every check, over SSH and the API) or --kubeconfig FILE (no SSH)")
    if inventory:
        quiet = output_format == "json" or not sys.stdout.isatty()
        found, exit_code = verification.of_cluster(_valid_cluster(inventory), _command_line("verify"), cert_days, image,
                                                   skip_function,
                                                   (lambda _: None) if quiet else progress.LiveLine(click.echo))
    else:
        found, exit_code = verification.of_kubeconfig(Path(kubeconfig), image, skip_function)
    if junit:
        Path(junit).write_bytes(verdicts.as_junit(found))
    click.echo(verdicts.as_json(found) if output_format == "json" else verdicts.render(found))
    ctx.exit(exit_code)


def _command_line(command: str) -> str:
    """The command as the user typed it, for the run record: kinstall's own arguments when run as
    kinstall, else (under a test runner, say) just the command's name."""
    if Path(sys.argv[0]).name == "kinstall" and sys.argv[1:]:
        return " ".join(["kinstall", *sys.argv[1:]])
    return f"kinstall {command}"


def _valid_cluster(inventory: str):
    from installer.inventory.validate import require_valid

    return require_valid(inventory).cluster


@cli.command()
@INVENTORY
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--watch", type=click.IntRange(min=2), metavar="SECONDS",
              help="Show it again every SECONDS seconds, as top does, until Ctrl-C.")
@click.pass_context
def status(ctx, inventory, output_format, watch):
    """One screen on INVENTORY's cluster: its nodes (roles, version, Ready, CPU and memory from the
    metrics API), its etcd members (health, leader, version, database size, asked over SSH) and
    the last run of `up` or a lifecycle operation. Reads only."""
    from installer import status as cluster_status

    cluster = _valid_cluster(inventory)
    while True:
        shown = cluster_status.show(cluster, output_format, _command_line("status"))
        if not watch:
            break
        click.clear()
        click.echo(f"{time.strftime('%H:%M:%S')}  every {watch} s (Ctrl-C to stop)\n{shown}")
        time.sleep(watch)
    click.echo(shown)


@cli.command("remove-node")
@INVENTORY
@click.argument("node")
@click.option("--skip-reset", is_flag=True, help="Do not reset the host itself (a dead or unreachable host).")
@click.option("--yes", is_flag=True, help="Do not ask before removing it.")
@click.pass_context
def remove_node(ctx, inventory, node, skip_reset, yes):
    """Take NODE out of the cluster of INVENTORY: drain it, delete it from Kubernetes and from
    etcd's members (only while the others keep a quorum), then reset its host (unless
    --skip-reset). Works from the remaining hosts, so a dead NODE can be removed too. Take NODE
    out of the inventory afterwards. Needs --yes when not run interactively."""
    from installer.inventory.model import CONTROL_PLANE
    from installer.inventory.validate import require_valid

    cluster = require_valid(inventory).cluster
    if node not in cluster.hosts:
        raise InvalidInput(f"{inventory}: {node} is not a host of this inventory's cluster (its hosts: "
                           f"{', '.join(cluster.hosts)})")
    if cluster.groups[CONTROL_PLANE] == [node]:
        raise InvalidInput(f"{inventory}: {node} is the cluster's only control plane; removing it would leave no API "
                           "server: add another control plane first, or use `kinstall reset` to remove the cluster")
    _, record = _run_operation(ctx, inventory, "remove-node",
                               {"kinstall_remove_node": node, "kinstall_remove_node_reset": not skip_reset},
                               f"Remove {node} from the cluster{'' if skip_reset else ' and wipe its host'}?", yes)
    ctx.exit(record.exit_code)


@cli.group()
def certs():
    """The cluster's certificates."""


@certs.command("check")
@INVENTORY
@click.option("--warn-days", type=int, default=30, show_default=True,
              help="Mark certificates that expire within this many days.")
@click.pass_context
def certs_check(ctx, inventory, warn_days):
    """Every certificate on the cluster's hosts (kubeadm's, etcd's, kubelet's, those inside the
    kubeconfigs) with its subject and expiry, soonest first. Reads only."""
    from installer import certificates, state

    cluster, record = _run_operation(ctx, inventory, "certs-check", {}, None, True)
    if record.exit_code == 0:
        found = certificates.read(state.of(cluster) / "certificates.json")
        click.echo(certificates.render(found, warn_days))
    ctx.exit(record.exit_code)


@certs.command("renew")
@INVENTORY
@click.option("--yes", is_flag=True, help="Do not ask before restarting the control plane.")
@click.pass_context
def certs_renew(ctx, inventory, yes):
    """Renew the cluster's certificates: etcd's that expire within 30 days (re-issued by the
    controller's CA, one member restarted at a time), then every kubeadm certificate on each
    control plane in turn (its static pods restarted, the API server waited for), and fetch the
    admin kubeconfig anew. Needs --yes when not run interactively."""
    _, record = _run_operation(ctx, inventory, "certs-renew", {},
                               "Renew the certificates and restart each control plane in turn?", yes)
    ctx.exit(record.exit_code)


@cli.group()
def etcd():
    """Lifecycle of the cluster's etcd: snapshots and restores."""


@etcd.command("snapshot")
@INVENTORY
@click.pass_context
def etcd_snapshot(ctx, inventory):
    """Save a checked snapshot of etcd's data and fetch it to the controller
    (<cluster state>/etcd-snapshots/, mode 0600: it holds every Secret of the cluster)."""
    from installer import state

    cluster, record = _run_operation(ctx, inventory, "etcd-snapshot", {}, None, True)
    if record.exit_code == 0:
        directory = state.of(cluster) / "etcd-snapshots"
        newest = max(directory.glob("*.db"), key=lambda p: p.stat().st_mtime, default=None)
        if newest is not None:
            click.echo(f"snapshot: {newest}")
    ctx.exit(record.exit_code)


@etcd.command("restore")
@INVENTORY
@click.argument("snapshot", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask before replacing every member's data.")
@click.pass_context
def etcd_restore(ctx, inventory, snapshot, yes):
    """Replace the data of every etcd member with SNAPSHOT (a file `kinstall etcd snapshot` made).
    Each member's current data is kept aside as <data dir>.before-<run id>; the API servers stop
    while etcd is restored. Needs --yes when not run interactively."""
    _, record = _run_operation(ctx, inventory, "etcd-restore", {"etcd_restore_snapshot": str(snapshot.resolve())},
                               f"Replace the data of every etcd member with {snapshot}?", yes)
    ctx.exit(record.exit_code)


@cli.command()
@INVENTORY
@click.option("--arch", "archs", multiple=True, type=click.Choice(["amd64", "arm64"]),
              help="Only these architectures (default: every one kinstall supports).")
@FORMAT
@click.pass_context
def artifacts(ctx, inventory, archs, output_format):
    """Everything the cluster of INVENTORY will fetch: files with their URLs, sha256 and path in a
    files mirror, and the container images its network plugin and addons run (after
    kube_image_repo, quay_image_repo and docker_image_repo), so an air-gapped mirror can be filled
    from this list."""
    from installer import artifacts as listing
    from installer import images as pinned_images
    from installer.inventory.validate import require_valid

    ctx.meta["format"] = output_format
    cluster = require_valid(inventory).cluster
    found = listing.for_cluster(cluster, list(archs) or None)
    images = listing.images_for_cluster(cluster)
    pinned = pinned_images.for_cluster(cluster)
    if output_format == "json":
        click.echo(json.dumps([{"kind": "file", **a} for a in listing.as_dicts(found)]
                              + [{"kind": "bundle-image", **image} for image in images]
                              + [{"kind": "image", **image} for image in pinned], indent=2))
    else:
        click.echo(listing.render(found, images, pinned))


@cli.command()
@click.argument("inventory", required=False, type=click.Path(path_type=Path))
@click.option("--output", "output", type=click.Path(path_type=Path, file_okay=False),
              help="The bundle directory (made if missing; files already there and intact are kept).")
@click.option("--from", "mirror", help="The files repository to fill it from (default: the inventory's files_repo).")
@click.option("--arch", "archs", multiple=True, type=click.Choice(["amd64", "arm64"]),
              help="Only these architectures (default: every one kinstall supports).")
@click.option("--stages", "stage_names", help="Only the files of these stages (default: all).")
@click.option("--check", "check_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Only verify the bundle in this directory: every file against its manifest's sha256.")
def bundle(inventory, output, mirror, archs, stage_names, check_dir):
    """Build a bundle directory for air-gapped installs: every file the cluster of INVENTORY
    fetches, from a files repository, each checked against its sha256; or, with --check DIR,
    verify a bundle (exit 1 naming each missing or corrupt file)."""
    from installer import artifacts as listing
    from installer import bundle as bundles
    from installer.inventory.validate import require_valid

    if check_dir is not None:
        problems = bundles.check(check_dir)
        if problems:
            raise KinstallError(f"bundle {check_dir}: {len(problems)} file(s) do not match its manifest: "
                                + "; ".join(problems) + ". Rebuild the bundle, or copy those files again",
                                ExitCode.INVALID)
        manifest = bundles.read_manifest(check_dir)
        click.echo(f"bundle {check_dir}: all {len(manifest['files'])} files match the manifest "
                   f"({len(manifest['images'])} images); the manifest's sha256 (download_bundle_sha256): "
                   f"{bundles.manifest_sha256(check_dir)}")
        return
    if inventory is None or output is None:
        raise UsageError("give INVENTORY and --output DIR to build a bundle, or --check DIR to verify one")
    cluster = require_valid(inventory).cluster
    mirror = mirror or cluster.settings.get("files_repo")
    if not mirror:
        raise UsageError("say where to fill the bundle from: --from URL, or files_repo in the inventory")
    found = listing.for_cluster(cluster, list(archs) or None)
    if stage_names:
        wanted = {s.strip() for s in stage_names.split(",")}
        found = [a for a in found if a.stage in wanted]
    fetched = bundles.build(found, mirror, output, report=click.echo)
    click.echo(f"bundle {output}: {len(found)} files ({len(fetched)} fetched, {len(found) - len(fetched)} already there); "
               f"install from it with download_source: bundle, download_bundle_dir: {output.resolve()} and "
               f"download_bundle_sha256: {bundles.manifest_sha256(output)}")


@cli.command()
def schema():
    """Print the inventory's JSON Schema (draft 2020-12), for editors and CI."""
    from installer.inventory.schema import schema as full

    click.echo(json.dumps(full(), indent=2))


@cli.command("plugins")
@click.argument("name", required=False, type=click.Choice(plugins.names()))
@FORMAT
def plugins_command(name, output_format):
    """Print the network plugin support matrix, or one plugin's facts: releases, data path,
    NetworkPolicy and tenant isolation, ports, host settings and its own settings."""
    from installer.plugins import matrix

    if output_format == "json":
        rows = [row for row in matrix.rows() if name in (None, row["name"])]
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(matrix.render(name))


@cli.group()
def lab():
    """The local lab: Debian 12 machines (podman, systemd, sshd) to install onto."""


@lab.command("up")
@click.option("--name", default="kinstall", show_default=True, help="The lab's name.")
@click.option("--nodes", default=3, show_default=True, type=int, help="How many nodes.")
@click.option("--control-planes", type=int, help="Control plane nodes (default 1); the rest are workers.")
@click.option("--etcd", type=int, help="etcd members, an odd number (default 3, or 1 below 3 nodes).")
@click.option("--write-inventory", type=click.Path(dir_okay=False), help="Also write the inventory here.")
@click.option("--node-memory", type=int, help="Cap each new node's memory (MB), to try small machines.")
def lab_up(name, nodes, control_planes, etcd, write_inventory, node_memory):
    """Build the node image (once) and boot the lab, or reuse it; write its inventory."""
    from pathlib import Path

    from installer.lab import nodes as labs

    result = labs.up(name, nodes, control_planes, etcd, report=lambda m: click.echo(f"lab {name}: {m}", err=True),
                     node_memory_mb=node_memory)
    if write_inventory:
        labs.write_inventory(result.lab, Path(write_inventory))
    lab_ = result.lab
    click.echo(f"lab {lab_.name}: {len(lab_.nodes)} nodes on {lab_.subnet} "
               f"({len(result.created)} booted, {len(lab_.nodes) - len(result.created)} reused) "
               f"in {result.boot_seconds:.1f} s")
    click.echo(f"inventory: {write_inventory or lab_.inventory}")
    click.echo(f"ssh:       kinstall lab ssh {lab_.name} {lab_.nodes[0].name}")


@lab.command("down")
@click.argument("name")
def lab_down(name):
    """Remove the lab NAME: its nodes, volumes, network and files."""
    from installer.lab import nodes as labs

    removed = labs.down(name)
    click.echo(f"lab {name}: removed {len(removed)} nodes, their volumes, the network and the lab's files")


@lab.command("status")
@click.argument("name", default="kinstall")
@FORMAT
def lab_status(name, output_format):
    """Each node of lab NAME: container state, address, SSH reachable."""
    from installer.lab import nodes as labs

    rows = labs.status(name)
    if output_format == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'node':<8} {'address':<15} {'state':<10} ssh")
    for row in rows:
        click.echo(f"{row['node']:<8} {row['ip']:<15} {row['state']:<10} {'ok' if row['ssh'] else 'no'}")


@lab.command("list")
def lab_list():
    """The labs on this machine."""
    from installer.lab import nodes as labs

    for name in labs.names():
        click.echo(name)


@lab.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("node")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def lab_ssh(name, node, command):
    """Open a shell (or run COMMAND) on NODE of lab NAME, host key checked."""
    import os

    from installer.lab import nodes as labs

    argv = labs.ssh_command(labs.load(name), node, *command)
    os.execvp(argv[0], argv)


@lab.command("files")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
def lab_files(output_format):
    """The lab's files repository (Debian's binaries in the upstream layout): build it if needed
    and print where it is and what it holds. JSON gives the variables a role run needs."""
    from installer.lab import files_repo

    found = files_repo.manifest()
    if output_format == "json":
        click.echo(json.dumps(files_repo.role_vars(found), indent=2))
        return
    click.echo(f"files repository: {found['dir']}")
    for component, entry in found["components"].items():
        click.echo(f"  {component:<12} {entry['version']:<8} (Debian {entry['debian_version']})  sha256 {entry['sha256']}")
    for component, entry in found.get("newer", {}).items():
        click.echo(f"  {component:<12} {entry['version']:<8} (Debian {entry['suite']} {entry['debian_version']}, to "
                   f"upgrade to)  sha256 {entry['sha256']}")
    click.echo(f"  test image   {found['test_image']['name']}  {found['test_image']['path']}")


@lab.command("kubernetes")
@FORMAT
def lab_kubernetes(output_format):
    """The lab's real Kubernetes: v1.20.2 built from Debian's source package, and its images.
    Builds it if needed (a few minutes and ~4 GB of disk, once; cached by recipe) and prints
    what it holds."""
    from installer.lab import kubernetes

    found = kubernetes.manifest(report=lambda message: click.echo(f"kubernetes: {message}", err=True))
    if output_format == "json":
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"Kubernetes v{found['kubernetes']} from Debian's {found['debian_source']}, Go {found['go']}")
    click.echo(f"  directory {found['dir']}")
    for path, sha256 in found["files"].items():
        click.echo(f"  {path}  sha256 {sha256}")
    for name, why in found["not_built"].items():
        click.echo(f"  not built: {name}: {why}")


@lab.command("doctor")
def lab_doctor():
    """Check this machine's prerequisites for the lab and say how to fix what is missing."""
    from installer.lab import prereqs

    checks = prereqs.checks()
    for check in checks:
        click.echo(f"{'ok ' if check.ok else 'MISSING'} {check.name}: {check.detail}"
                   + ("" if check.ok else f"\n        fix: {check.fix}"))
    if not all(check.ok for check in checks):
        raise KinstallError("some prerequisites are missing (see above)", ExitCode.ENVIRONMENT)


def main() -> None:
    cli(prog_name="kinstall")


__all__ = ["cli", "main", "plugins"]
