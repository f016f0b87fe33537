"""Commands on the inventory alone, no host contacted: validate, plan (and its preview against
the hosts), artifacts, bundle, schema, plugins."""

from __future__ import annotations

import json
from pathlib import Path

import click

from installer import plugins
from installer.cli.base import FORMAT, INVENTORY, cli
from installer.errors import ExitCode, KinstallError, UsageError
from installer.runner.kinds import Kind


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
    from installer import plan as planning
    from installer.lifecycle import preconditions
    from installer.stages import NAMES as EVERY_STAGE

    ctx.meta["format"] = output_format
    # What a plain `up` would run (narrowed when it only adds hosts); the preview runs every host.
    result, made = preconditions.prepare(inventory, [], running=None if against_hosts else list(EVERY_STAGE))
    drift = None
    if against_hosts and result.cluster is not None:
        from installer.runner import engine

        request = engine.RunRequest(Kind.PREVIEW, stages=engine.parse_stages(stages), limit=limit,
                                    command=f"kinstall plan --against-hosts {inventory}")
        if playbook_dir:
            request.playbook_dir = Path(playbook_dir)
        drift = engine.up(result.cluster, request, plan=made)
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
            from installer.runner import report

            click.echo("")
            click.echo(report.render_drift(drift))
    if drift is not None and drift.exit_code in (ExitCode.UNREACHABLE, ExitCode.INTERRUPTED):
        ctx.exit(drift.exit_code)


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
