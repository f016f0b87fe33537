"""`kinstall lab`: the local lab of podman machines to install onto."""

from __future__ import annotations

import json

import click

from installer.cli.base import FORMAT, cli
from installer.errors import ExitCode, KinstallError


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
@FORMAT
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
