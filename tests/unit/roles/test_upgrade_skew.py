"""The version-skew rule preflight and the upgrade stage apply to what each host's kubelet reports
(roles/upgrade/tasks/read.yml), rendered by Ansible's templating as on a host."""

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from tests.paths import ROLES

TASKS = yaml.safe_load((ROLES / "upgrade/tasks/read.yml").read_text())
NOTE = next(t for t in TASKS if t["name"] == "Note it")


def _noted(kubelet_says: str, kube_version: str) -> dict:
    variables = {"kube_version": kube_version, "inventory_hostname": "node2",
                 "upgrade_observed": {"stdout": kubelet_says}}
    templar = Templar(loader=DataLoader(), variables=variables)
    variables.update({name: templar.template(trust_as_template(value)) for name, value in NOTE["vars"].items()})
    templar = Templar(loader=DataLoader(), variables=variables)
    return {name: templar.template(trust_as_template(value)).strip()
            for name, value in NOTE["ansible.builtin.set_fact"].items()}


@pytest.mark.parametrize("says, target, moves_from", [
    ("", "1.36.4", ""),                      # not joined yet: nothing to move
    ("Kubernetes v1.36.4", "1.36.4", ""),    # there already
    ("Kubernetes v1.36.2", "1.36.4", "1.36.2"),  # a patch
    ("Kubernetes v1.35.8", "1.36.4", "1.35.8"),  # the next minor
])
def test_a_host_moves_by_a_patch_or_one_minor(says, target, moves_from):
    noted = _noted(says, target)
    assert noted["upgrade_from"] == moves_from and noted["upgrade_refusal"] == ""


@pytest.mark.parametrize("says, target, refusal", [
    ("Kubernetes v1.36.4", "1.35.8", "node2 runs 1.36.4, a newer release (kubeadm cannot downgrade)"),
    ("Kubernetes v1.36.4", "1.36.2", "node2 runs 1.36.4, a newer release (kubeadm cannot downgrade)"),
    ("Kubernetes v1.34.11", "1.36.4", "node2 runs 1.34.11, more than one minor behind (upgrade one minor at a time)"),
    ("Kubernetes v0.36.4", "1.36.4", "node2 runs 0.36.4, more than one minor behind (upgrade one minor at a time)"),
])
def test_a_downgrade_or_a_skipped_minor_is_refused_naming_the_host(says, target, refusal):
    assert _noted(says, target)["upgrade_refusal"] == refusal
