"""Commands that read the cluster and kinstall's records of it: runs, verify, status."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from installer.cli.base import FORMAT, INVENTORY, cli, command_line, valid_cluster
from installer.errors import KinstallError, UsageError


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
    from installer.runner import custody, records, report

    if inventory:
        cluster = require_valid(inventory).cluster
        try:  # the cluster's own history first: it holds the runs of every controller
            with custody.held(cluster, records.new_run_id(), command_line("runs list"), [], lock=False,
                              secrets=False):
                pass
        except KinstallError as error:
            click.echo(f"kinstall: the cluster's own history could not be read, so this is this controller's copy "
                       f"alone: {error.message}", err=True)
        found = records.for_cluster(state.of(cluster))
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


@cli.command()
@click.argument("inventory", required=False)
@click.option("--kubeconfig", type=click.Path(dir_okay=False, exists=True),
              help="Verify any cluster through this kubeconfig: the API and function checks (no SSH to its hosts).")
@FORMAT
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
        found, exit_code = verification.of_cluster(valid_cluster(inventory), command_line("verify"), cert_days, image,
                                                   skip_function,
                                                   (lambda _: None) if quiet else progress.LiveLine(click.echo))
    else:
        found, exit_code = verification.of_kubeconfig(Path(kubeconfig), image, skip_function)
    if junit:
        Path(junit).write_bytes(verdicts.as_junit(found))
    click.echo(verdicts.as_json(found) if output_format == "json" else verdicts.render(found))
    ctx.exit(exit_code)


@cli.command()
@INVENTORY
@FORMAT
@click.option("--watch", type=click.IntRange(min=2), metavar="SECONDS",
              help="Show it again every SECONDS seconds, as top does, until Ctrl-C.")
@click.pass_context
def status(ctx, inventory, output_format, watch):
    """One screen on INVENTORY's cluster: its nodes (roles, version, Ready, CPU and memory from the
    metrics API), its etcd members (health, leader, version, database size, asked over SSH) and
    the last run of `up` or a lifecycle operation. Reads only."""
    from installer import status as cluster_status

    cluster = valid_cluster(inventory)
    while True:
        shown = cluster_status.show(cluster, output_format, command_line("status"))
        if not watch:
            break
        click.clear()
        click.echo(f"{time.strftime('%H:%M:%S')}  every {watch} s (Ctrl-C to stop)\n{shown}")
        time.sleep(watch)
    click.echo(shown)
