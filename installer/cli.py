"""The kinstall command line. Each command parses its parameters, calls one domain function and
renders the result; this module is the only place that prints or exits."""

from __future__ import annotations

import json
import sys
import traceback

import click

from installer import __version__, plugins
from installer.errors import ExitCode, InvalidInput, KinstallError

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
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
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
@click.pass_context
def plan(ctx, inventory, output_format):
    """Show what `kinstall up` would do with INVENTORY: stages, hosts, batches, versions."""
    from installer import plan as planning
    from installer.inventory.validate import require_valid

    ctx.meta["format"] = output_format
    result = require_valid(inventory)
    made = planning.make(result.cluster)
    if output_format == "json":
        click.echo(json.dumps(made.as_dict(), indent=2))
    else:
        if result.report.warnings:
            click.echo(result.report.as_text(), err=True)
        click.echo(planning.render(made))


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


def main() -> None:
    cli(prog_name="kinstall")


__all__ = ["cli", "main", "plugins"]
