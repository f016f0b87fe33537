"""What every command group shares: the `kinstall` group itself, which turns errors into their
messages and exit codes, the options several commands take, and how a command names itself in
a run record."""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import click

from installer import __version__
from installer.errors import ExitCode, InvalidInput, KinstallError

FORMAT = click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
                      show_default=True, help="Output format.")
INVENTORY = click.argument("inventory", type=click.Path(dir_okay=True, path_type=str))
# The commands that run playbooks: progress as it happens and a report, or JSON lines.
OUTPUT = click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
                      help="text: progress and a report; json: one JSON object per line (plan, progress, record).")


def yes(what: str):
    """--yes: do not ask before WHAT (a command that changes hosts asks on a terminal, and needs it elsewhere)."""
    return click.option("--yes", is_flag=True, help=f"Do not ask before {what}.")


class _Group(click.Group):
    """Turns KinstallError into a message and its exit code; a traceback only under --debug."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KinstallError as error:
            if isinstance(error, InvalidInput) and error.report is not None:
                emit_report(error.report, ctx.meta.get("format", "text"))
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


def emit_report(report, output_format: str) -> None:
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


def command_line(command: str) -> str:
    """The command as the user typed it, for the run record: kinstall's own arguments when run as
    kinstall, else (under a test runner, say) just the command's name."""
    if Path(sys.argv[0]).name == "kinstall" and sys.argv[1:]:
        return " ".join(["kinstall", *sys.argv[1:]])
    return f"kinstall {command}"


def valid_cluster(inventory: str):
    from installer.inventory.validate import require_valid

    return require_valid(inventory).cluster


def main() -> None:
    cli(prog_name="kinstall")
