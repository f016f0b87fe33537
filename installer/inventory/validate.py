"""validate(path): read an inventory, check it against the schema and the rules, build the Cluster.

Nothing is contacted: this reads files only."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from installer.errors import InvalidInput, UsageError
from installer.inventory import cluster as cluster_model
from installer.inventory import model, rules, schema, settings, templating
from installer.inventory.findings import Report


@dataclass
class Result:
    report: Report
    inventory: model.Inventory
    cluster: cluster_model.Cluster | None


def validate(path: str | Path, overrides: dict | None = None) -> Result:
    """overrides: settings given on the command line (`kinstall upgrade --to`), which replace the
    inventory's values and are checked like them."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"inventory '{path}' does not exist; pass the path of your inventory file "
                         "(hosts.yaml or inventory.ini)")
    file = model.find_inventory_file(path)
    if file.is_dir():
        raise UsageError(f"'{path}' is a directory without an inventory file; kinstall looks for "
                         + ", ".join(model.INVENTORY_NAMES))
    inventory = model.load(file)
    report = Report()
    report.extend(inventory.findings)
    for doc in inventory.documents:
        root = "inventory" if doc is inventory.main else "vars"
        report.extend(schema.validate_document(doc, root))
    if inventory.main is None or inventory.main.data is None:
        if inventory.main is not None and not report.findings:
            report.add(inventory.main.finding((), "the inventory is empty; see inventories/ for samples",
                                              rule="empty"))
        return Result(report, inventory, None)
    resolved, findings = settings.resolve(inventory)
    report.extend(findings)
    for name, value in (overrides or {}).items():
        resolved[name] = dataclasses.replace(resolved[name], value=value, valid=schema.value_is_valid(name, value))
    resolved, findings = templating.evaluate(resolved, _variables(inventory))
    report.extend(findings)
    context = rules.Context(inventory, resolved)
    report.extend(rules.check(context))
    built = cluster_model.build(inventory, resolved, str(file), context.kubespray_differences) if report.ok else None
    return Result(report, inventory, built)


def _variables(inventory: model.Inventory) -> dict:
    """The variables a host of the cluster sees from its groups (templated settings may use them)."""
    hosts = sorted(inventory.members(model.CLUSTER)) or sorted(inventory.hosts)
    if not hosts:
        return {}
    return {name: value for name, (value, _) in inventory.group_level(hosts[0]).items()}


def require_valid(path: str | Path, overrides: dict | None = None) -> Result:
    """validate(), raising InvalidInput (with the report) when there is any error."""
    result = validate(path, overrides)
    if not result.report.ok:
        count = len(result.report.errors)
        raise InvalidInput(f"{count} error{'s' if count != 1 else ''} in the inventory; nothing was changed",
                           report=result.report)
    return result
