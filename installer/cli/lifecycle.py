"""Commands that change the cluster's hosts: up, upgrade, reset, remove-node, certs, etcd. Each
parses, checks the preconditions (installer.lifecycle), asks, runs through the engine and
renders; what follows a run is the domain's (verify.run.after_up, lifecycle.after)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import click

from installer.cli.base import INVENTORY, OUTPUT, cli, command_line, yes
from installer.errors import ExitCode, KinstallError
from installer.runner.kinds import Kind

STAGES = click.option("--stages", help="Run only these stages (comma-separated, in the plan's order).")


@cli.command()
@INVENTORY
@STAGES
@click.option("--skip-stages", help="Run every stage but these.")
@click.option("--limit", help="Only these hosts (an Ansible pattern); the others are not contacted, but for the "
              "cluster's own state (its id, lock and history) on its control planes and etcd members.")
@click.option("--exclude", metavar="HOST[,HOST]", help="Leave these hosts out of the run, such as an unreachable one "
              "while new hosts are added: they are not contacted, and what they need waits for a run with them.")
@click.option("--resume", is_flag=True, help="Continue the cluster's last failed or interrupted run from its "
              "failed stage.")
@click.option("--check-idempotent", is_flag=True, help="After a successful run, run again and fail (exit 8) if "
              "anything changed.")
@click.option("--all-hosts", is_flag=True, help="Run every stage on every host of its groups, even when the run "
              "only adds hosts (by default the hosts that were there get only what the new ones need of them).")
@yes("changing the hosts")
@OUTPUT
@click.option("--playbook-dir", type=click.Path(file_okay=False, exists=True),
              help="Stage playbooks to run instead of kinstall's own (playbooks/<stage>.yml).")
@click.pass_context
def up(ctx, inventory, stages, skip_stages, limit, exclude, resume, check_idempotent, all_hosts, yes, output,
       playbook_dir):
    """Validate INVENTORY, show the plan, then run the stage playbooks on its hosts.

    Nothing is contacted when the inventory is invalid. Exit codes: see docs/troubleshooting.md."""
    from installer.runner import engine

    request = engine.RunRequest(Kind.UP, stages=engine.parse_stages(stages),
                                skip_stages=engine.parse_stages(skip_stages) or [], limit=limit, resume=resume,
                                check_idempotent=check_idempotent, all_hosts=all_hosts,
                                exclude=[h.strip() for h in (exclude or "").split(",") if h.strip()],
                                command=command_line("up"))
    if playbook_dir:
        request.playbook_dir = Path(playbook_dir)
    _run_plan(ctx, inventory, request, yes, output)


@cli.command()
@INVENTORY
@click.option("--to", "version", required=True, metavar="X.Y.Z",
              help="The Kubernetes release to move to (the inventory's kube_version is not edited).")
@click.option("--stages", help="Run only these stages (comma-separated), e.g. download,upgrade.")
@click.option("--resume", is_flag=True, help="Continue the cluster's last failed or interrupted run.")
@yes("changing the hosts")
@OUTPUT
@click.pass_context
def upgrade(ctx, inventory, version, stages, resume, yes, output):
    """Move INVENTORY's cluster to Kubernetes X.Y.Z: `kinstall up` with kube_version X.Y.Z.

    The version-skew policy is checked against what kinstall installed and what the hosts report:
    no downgrade, one minor at a time. Then every stage runs; the upgrade stage takes an etcd
    snapshot and moves the first control plane (kubeadm upgrade apply), the others one at a time
    and the workers in batches of upgrade_batch, each drained and uncordoned. Set kube_version in
    the inventory afterwards, or the next `kinstall up` refuses the downgrade."""
    from installer.lifecycle import preconditions
    from installer.runner import engine

    target = preconditions.upgrade_target(version)
    request = engine.RunRequest(Kind.UPGRADE, stages=engine.parse_stages(stages), resume=resume,
                                command=command_line("upgrade"))
    _run_plan(ctx, inventory, request, yes, output, {"kube_version": target})


def _run_plan(ctx, inventory: str, request, yes: bool, output: str, overrides: dict | None = None) -> None:
    """up and upgrade: the preconditions and the plan, shown; asked; that plan run and reported;
    the API checks after the verify stage."""
    from installer import plan as planning
    from installer.lifecycle import preconditions
    from installer.runner import custody, engine, progress, report
    from installer.verify import results as verdicts
    from installer.verify import run as verification

    ctx.meta["format"] = output
    result, made = preconditions.prepare(inventory, request.exclude, overrides, request.narrowable())
    cluster = result.cluster
    assert cluster is not None  # prepare raised otherwise
    emit: Callable
    with engine.hold(cluster, request) as held:
        made = preconditions.against_the_cluster(cluster, made, request.narrowable())
        if output == "json":
            emit = progress.JsonLines(click.echo)
            click.echo(json.dumps({"type": "plan", **made.as_dict(), "excluded": request.exclude}))
        else:
            if result.report.warnings:
                click.echo(result.report.as_text(), err=True)
            click.echo(planning.render(made))
            if request.exclude:
                click.echo(f"\n  left out of this run: {', '.join(request.exclude)} (not contacted; what they need "
                           "of this run, such as routes to new nodes' pods, waits for a run that includes them)")
            if held.took_over:
                click.echo(f"\n  {custody.took_over_line(held.took_over)}")
            click.echo("")
            emit = (progress.LiveLine if sys.stdout.isatty() else progress.PlainLines)(click.echo)
            _confirm("Run these stages on the hosts?", yes, ask_only_on_a_terminal=True)
        record = engine.up(cluster, request, emit, plan=made, held=held)
    click.echo(json.dumps({"type": "record", **asdict(record)}) if output == "json" else report.render(record))
    found, exit_code = verification.after_up(cluster, record)
    if found is not None:
        if output == "json":
            click.echo(json.dumps({"type": "verify", **json.loads(verdicts.as_json(found))}))
        else:
            click.echo("\nverify:\n" + verdicts.render(found) + "\nthe function checks (pods, Services, DNS, volumes, "
                       f"self-healing, rolling updates): kinstall verify {inventory}")
    ctx.exit(exit_code)


def _confirm(question: str | None, yes: bool, ask_only_on_a_terminal: bool = False) -> None:
    """Ask QUESTION on a terminal unless --yes; elsewhere an operation needs --yes (up goes on)."""
    if not question or yes:
        return
    if not sys.stdin.isatty():
        if ask_only_on_a_terminal:
            return
        raise KinstallError(f"{question.rstrip('?')}: pass --yes to confirm when not running interactively",
                            ExitCode.USAGE)
    if not click.confirm(question, default=False):
        raise KinstallError("stopped before contacting any host", ExitCode.INTERRUPTED)


def _run_operation(inventory: str, name: str, variables, question: str | None, yes: bool,
                   limit: str | None = None, check=None):
    """One lifecycle operation (stages.OPERATIONS) on INVENTORY's hosts with the run engine's
    records, lock and progress; check(cluster) first. variables: a dict, or a function of the
    cluster that makes it (and refuses input with InvalidInput). Returns (cluster, record) after
    its report."""
    from installer.inventory.validate import require_valid
    from installer.runner import engine, progress, report

    cluster = require_valid(inventory).cluster
    if check is not None:
        check(cluster)
    if callable(variables):
        variables = variables(cluster)
    _confirm(question, yes)
    request = engine.RunRequest(Kind.OPERATION, operation=name, operation_vars=variables, limit=limit,
                                command=command_line(name))
    record = engine.up(cluster, request, (progress.LiveLine if sys.stdout.isatty() else progress.PlainLines)(click.echo))
    click.echo(report.render(record))
    return cluster, record


@cli.command()
@INVENTORY
@click.option("--limit", help="Only these hosts (an Ansible pattern).")
@yes("wiping the hosts")
@click.pass_context
def reset(ctx, inventory, limit, yes):
    """Wipe Kubernetes, etcd and the container runtime, with all their data, from the cluster's
    hosts (or those of --limit); `kinstall up` rebuilds them. Needs --yes when not run
    interactively. After a reset of every host, the cluster's admin kubeconfig is removed and
    the checks against the installed cluster (plugin, release) start afresh."""
    from installer.lifecycle import after

    what = f"the hosts matching {limit}" if limit else "every host of the cluster"
    cluster, record = _run_operation(inventory, "reset", {}, f"Wipe Kubernetes, etcd and the container runtime, "
                                     f"with all their data, from {what}?", yes, limit)
    after.reset_done(cluster, record.exit_code, limit)
    ctx.exit(record.exit_code)


@cli.command("remove-node")
@INVENTORY
@click.argument("node")
@click.option("--skip-reset", is_flag=True, help="Do not reset the host itself (a dead or unreachable host).")
@yes("removing it")
@click.pass_context
def remove_node(ctx, inventory, node, skip_reset, yes):
    """Take NODE out of the cluster of INVENTORY: drain it, delete it from Kubernetes and from
    etcd's members (only while the others keep a quorum), then reset its host (unless
    --skip-reset). Works from the remaining hosts, so a dead NODE can be removed too. Take NODE
    out of the inventory afterwards. Needs --yes when not run interactively."""
    from installer.lifecycle import preconditions

    _, record = _run_operation(inventory, "remove-node",
                               {"kinstall_remove_node": node, "kinstall_remove_node_reset": not skip_reset},
                               f"Remove {node} from the cluster{'' if skip_reset else ' and wipe its host'}?", yes,
                               check=lambda cluster: preconditions.removable(cluster, node))
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
    kubeconfigs) with its subject and expiry, soonest first, and when each control plane's renewal
    timer renews them next (auto_renew_certificates). Reads only."""
    from installer import certificates, state

    cluster, record = _run_operation(inventory, "certs-check", {}, None, True)
    if record.exit_code == 0:
        click.echo(certificates.render(certificates.read(state.of(cluster) / "certificates.json"), warn_days))
        renewal = certificates.render_renewals(certificates.renewals(state.of(cluster) / "renewal.json"))
        if renewal:
            click.echo(renewal)
    ctx.exit(record.exit_code)


@certs.command("renew")
@INVENTORY
@yes("restarting the control plane")
@click.pass_context
def certs_renew(ctx, inventory, yes):
    """Renew the cluster's certificates: etcd's that expire within 30 days (re-issued by the
    controller's CA, one member restarted at a time), then every kubeadm certificate on each
    control plane in turn (its static pods restarted, the API server waited for), and fetch the
    admin kubeconfig anew. Needs --yes when not run interactively."""
    _, record = _run_operation(inventory, "certs-renew", {},
                               "Renew the certificates and restart each control plane in turn?", yes)
    ctx.exit(record.exit_code)


@cli.group()
def etcd():
    """Lifecycle of the cluster's etcd: snapshots and restores."""


@etcd.command("snapshot")
@INVENTORY
@click.option("--list", "listing", is_flag=True,
              help="Take none: list every snapshot there is (the controller's, each member's, the backup target's).")
@click.pass_context
def etcd_snapshot(ctx, inventory, listing):
    """Save a checked snapshot of etcd's data and fetch it to the controller
    (<cluster state>/etcd-snapshots/, mode 0600: it holds every Secret of the cluster). With
    --list, take none: show every snapshot there is, newest first, named as `kinstall etcd
    restore` takes it."""
    from installer import snapshots, state
    from installer.lifecycle import after

    if listing:
        cluster, record = _run_operation(inventory, "etcd-snapshots", {}, None, True)
        if record.exit_code == 0:
            click.echo(snapshots.render(snapshots.on_controller(state.of(cluster) / "etcd-snapshots")
                                        + snapshots.on_hosts(state.of(cluster) / "etcd-snapshots.json")))
        ctx.exit(record.exit_code)
    _, record = _run_operation(inventory, "etcd-snapshot", {}, None, True)
    newest = after.newest_snapshot(record) if record.exit_code == 0 else None
    if newest is not None:
        click.echo(f"snapshot: {newest}")
    ctx.exit(record.exit_code)


@etcd.command("restore")
@INVENTORY
@click.argument("snapshot")
@yes("replacing every member's data")
@click.pass_context
def etcd_restore(ctx, inventory, snapshot, yes):
    """Replace the data of every etcd member with SNAPSHOT: a file `kinstall etcd snapshot` fetched
    to the controller, or HOST:/path of one on a host of the inventory (a member's own, the
    scheduled backups' target; `kinstall etcd snapshot --list` names them so). Each member's
    current data is kept aside as <data dir>.before-<run id>; the API servers stop while etcd is
    restored. Needs --yes when not run interactively."""
    from installer.lifecycle import preconditions

    _, record = _run_operation(inventory, "etcd-restore", lambda cluster: preconditions.snapshot_source(cluster, snapshot),
                               f"Replace the data of every etcd member with {snapshot}?", yes)
    ctx.exit(record.exit_code)
