"""Cluster settings written as Jinja expressions, worked out the way Ansible would: its own templar
over the inventory's settings (lookups and filters included), then checked like any other value.
An expression that needs what only a host knows (its facts, inventory_hostname) is left to
Ansible, where kinstall does not need the value itself; elsewhere it is refused."""

from __future__ import annotations

import dataclasses
import re

from installer.inventory import kubespray, schema
from installer.inventory.findings import WARNING, Finding
from installer.inventory.settings import Setting

# Names only Ansible knows on a host: its facts and the play's magic variables.
_HOST_NAMES = re.compile(r"\b(ansible_\w+|inventory_hostname\w*|inventory_dir|inventory_file|playbook_dir|hostvars|"
                         r"group_names|groups|play_hosts|omit)\b")
# Settings kinstall itself reads before any host is contacted (the plan, the rules, the downloads).
_CONTROLLER = {"kube_version", "cluster_name", "dns_domain", "etcd_version", "containerd_version", "runc_version",
               "cni_version", "crictl_version", "download_source", "files_repo", "download_bundle_dir",
               "upgrade_batch", "kube_network_plugin"}


def _templated(value) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def may_stay_templated(name: str) -> bool:
    """Whether Ansible may work the value out on each host: a plain string kinstall does not read."""
    spec = schema.variables().get(name, {})
    return (name not in _CONTROLLER and spec.get("type") == "string" and "enum" not in spec
            and "format" not in spec)


def evaluate(settings: dict[str, Setting], variables: dict) -> tuple[dict[str, Setting], list[Finding]]:
    """The settings with every Jinja value worked out, and a finding for each that cannot be.
    variables: the inventory's other variables, as a host of the cluster sees them."""
    pending = {name: s for name, s in settings.items() if _templated(s.value) and s.source is not None
               and not kubespray.default_expression(name, s.value)}
    if not pending:
        return settings, []
    from ansible.errors import AnsibleError, AnsibleUndefinedVariable
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    def trusted(value):
        return trust_as_template(value) if isinstance(value, str) else value

    known = {**{name: trusted(value) for name, value in variables.items()},
             **{name: trusted(s.value) for name, s in settings.items()}}
    templar = Templar(loader=DataLoader(), variables=known)
    out = dict(settings)
    findings: list[Finding] = []
    for name, setting in pending.items():
        expression = setting.value
        try:
            value = templar.template(trust_as_template(expression))
        except AnsibleUndefinedVariable as exc:
            if _HOST_NAMES.search(expression) and may_stay_templated(name):
                findings.append(setting.source.finding(
                    name, f"'{name}' depends on each host ({_HOST_NAMES.search(expression).group(0)}): Ansible "
                    "works it out there, and kinstall checks it on the hosts", severity=WARNING,
                    rule="templated", key=True))
                continue
            findings.append(setting.source.finding(
                name, f"'{name}' is a Jinja expression kinstall cannot work out from the inventory "
                f"({_first_line(exc)}); kinstall needs its value before it contacts any host: write the value",
                rule="templated", key=True))
            out[name] = dataclasses.replace(setting, valid=False)
            continue
        except (AnsibleError, RecursionError) as exc:
            findings.append(setting.source.finding(
                name, f"'{name}' is a Jinja expression Ansible cannot evaluate: {_first_line(exc)}",
                rule="templated", key=True))
            out[name] = dataclasses.replace(setting, valid=False)
            continue
        problems = schema.problems(name, value)
        for problem in problems:
            findings.append(setting.source.finding(name, f"'{name}' comes out as {schema.shown(value)}: {problem}",
                                                   rule="templated", key=True))
        out[name] = dataclasses.replace(setting, value=value, valid=not problems)
    return out, findings


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
