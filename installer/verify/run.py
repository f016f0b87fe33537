"""`kinstall verify`, and the verdicts of `up`'s verify stage: the checks on the hosts (the verify
stage, run and recorded like any run), then through the API, the network plugin's own and the
function checks, each skipped with the reason when what it needs did not answer. Returns results
and an exit code; the CLI renders them."""

from __future__ import annotations

from pathlib import Path

from installer import plan as planning
from installer import stages
from installer.errors import ExitCode
from installer.inventory.model import CLUSTER, ETCD
from installer.verify import api as api_checks
from installer.verify import results as verdicts


def of_cluster(cluster, command: str, cert_days: int | None, image: str | None, skip_function: bool,
               progress) -> tuple[list, int]:
    """Every check of an inventory's cluster: the hosts over SSH, then the API, the plugin's and
    the function checks with the admin kubeconfig kinstall fetched."""
    found, exit_code, kubeconfig = _on_hosts(cluster, command, cert_days, progress)
    found += _plugin_checks(kubeconfig, found, cluster)
    settings = cluster.settings
    found += _function_checks(kubeconfig, found, skip_function, exit_code, image or settings["verify_image"],
                              settings.get("dns_domain") or settings["cluster_name"], settings["verify_external_name"],
                              cluster.plugin.tenant_isolation, cluster.plugin.name)
    return found, _exit_code(found, exit_code)


def of_kubeconfig(kubeconfig: Path, image: str | None, skip_function: bool) -> tuple[list, int]:
    """The API and function checks of any cluster, with no SSH (its hosts are not known)."""
    from installer.inventory.schema import default

    found = [verdicts.Result("infrastructure", "host checks", "cluster", verdicts.SKIP,
                             reason="no inventory: the hosts are not reached over SSH with --kubeconfig")]
    found += api_checks.run(kubeconfig)
    found += _function_checks(kubeconfig, found, skip_function, 0, image or default("verify_image"),
                              default("cluster_name"), default("verify_external_name"), "unknown", None)
    return found, _exit_code(found, 0)


def after_up(cluster, record) -> tuple[list | None, int]:
    """After `up`: when its verify stage ran kinstall's own verify role on the hosts (the record
    has its verify-hosts.json), the API checks complete it as `kinstall verify` does, and a failed
    check is the verify's exit code (9), not a failed task's. (None, the run's exit code) else."""
    from installer.runner import records

    if not (Path(record.directory) / "verify-hosts.json").is_file():
        return None, record.exit_code
    verify_ran = any(s.name == "verify" and s.status == records.SUCCESSFUL for s in record.stages)
    only_verify_failed = bool(record.failures) and all(f.stage == "verify" and not f.unreachable
                                                       for f in record.failures)
    if not ((record.exit_code == 0 and verify_ran) or only_verify_failed):
        return None, record.exit_code
    found = of_run(cluster, record, settle=180)
    return found, ExitCode.VERIFY_FAILED if verdicts.failed(found) or only_verify_failed else record.exit_code


def of_run(cluster, record, settle: float = 0) -> list:
    """The checks of a run's verify stage on the hosts (its record's verify-hosts.json), then the
    API checks with the admin kubeconfig kinstall fetched for the cluster."""
    from installer.verify import hosts as host_checks

    ran_on = planning.stage_plan(stages.by_name("verify"), cluster).hosts
    # A host the run never reached for any task nor failed on was not part of it (--exclude, --limit).
    touched = {t.host for t in record.tasks} | {f.host for f in record.failures}
    left_out = [host for host in ran_on if host not in touched]
    found = host_checks.read(Path(record.directory) / "verify-hosts.json", ran_on, cluster.groups.get(ETCD, []),
                             left_out)
    return found + api_checks.run(kubeconfig_of(record), cluster.release.version, cluster.groups.get(CLUSTER, []),
                                  settle)


def kubeconfig_of(record) -> Path:
    from installer.runner.report import kubeconfig_path

    return kubeconfig_path(record)


def _exit_code(found: list, run_exit_code: int) -> int:
    """A failed check is exit 9; a run that could not finish (unreachable, interrupted) keeps its own."""
    if run_exit_code in (0, ExitCode.VERIFY_FAILED):
        return ExitCode.VERIFY_FAILED if verdicts.failed(found) else 0
    return run_exit_code


def _on_hosts(cluster, command: str, cert_days: int | None, progress):
    """The verify stage on the inventory's hosts (recorded, locked), then the API checks with the
    admin kubeconfig kinstall fetched: (results, the run's exit code, that kubeconfig)."""
    from installer.runner import engine, records
    from installer.runner.kinds import Kind

    options = engine.RunRequest(Kind.VERIFY, stages=["verify"], command=command,
                                operation_vars={} if cert_days is None else {"verify_cert_days": cert_days})
    record = engine.up(cluster, options, progress)
    found = of_run(cluster, record)
    if record.status == records.INTERRUPTED:
        return found, ExitCode.INTERRUPTED, kubeconfig_of(record)
    return found, (ExitCode.UNREACHABLE if record.status == records.UNREACHABLE else ExitCode.VERIFY_FAILED
                   if record.exit_code else 0), kubeconfig_of(record)


def _api_unanswered(found: list) -> str | None:
    """Why the checks through the API cannot run (its first check skipped or unanswered), or None."""
    first = next((r for r in found if r.group == "api"), None)
    if first is not None and first.status == verdicts.SKIP:
        return first.reason
    if first is None or first.expected == "the API server answers":
        return "the API server did not answer"
    return None


def _plugin_checks(kubeconfig: Path, found: list, cluster) -> list:
    """The network plugin's checks asked through the API (Romana's), when the API server answered."""
    from installer.verify import plugin as plugin_checks

    if _api_unanswered(found):
        return []
    return plugin_checks.run(api_checks.connect(kubeconfig), cluster.plugin.api_check,
                             cluster.groups.get(CLUSTER, []))


def _function_checks(kubeconfig: Path, found: list, skip: bool, run_exit_code: int, image: str, dns_domain: str,
                     external_name: str, isolation: str | None, plugin: str | None) -> list:
    """The function checks, when the API server answered the API checks and the run finished."""
    from installer.verify import function

    if skip:
        return [verdicts.Result("function", "function checks", "cluster", verdicts.SKIP, reason="--skip-function")]
    if run_exit_code == ExitCode.INTERRUPTED:
        return []
    reason = _api_unanswered(found)
    if reason:
        return [verdicts.Result("function", "function checks", "cluster", verdicts.SKIP, reason=reason)]
    timer = verdicts.Timer()
    try:
        return function.run(api_checks.connect(kubeconfig), image, dns_domain, external_name, isolation, plugin)
    except api_checks.unanswered() as error:
        return [verdicts.Result("function", "function checks", "cluster", verdicts.FAIL, timer.seconds,
                                api_checks.error_text(error), "the API server answers the checks' requests")]
