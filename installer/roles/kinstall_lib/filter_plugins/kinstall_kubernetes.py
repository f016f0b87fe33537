"""Filters for the Kubernetes roles: the inventory's node_taints and node_labels (Kubespray's
forms) in the forms kubeadm and kubelet take, kubectl's tables, addresses within a network."""

from __future__ import annotations

import ipaddress
import re

from ansible.errors import AnsibleFilterError

TAINT = re.compile(r"^(?P<key>[^=:\s,]+)(=(?P<value>[^:\s,]*))?:(?P<effect>NoSchedule|PreferNoSchedule|NoExecute)\Z")


def kinstall_taints(taints):
    """["key=value:Effect", ...] -> [{key, value?, effect}, ...] (kubeadm's nodeRegistration.taints)."""
    result = []
    for text in taints or []:
        match = TAINT.match(str(text))
        if not match:
            raise AnsibleFilterError(f"node_taints: {text!r} is not key=value:Effect (NoSchedule, "
                                     "PreferNoSchedule or NoExecute)")
        taint = {"key": match["key"], "effect": match["effect"]}
        if match["value"]:
            taint["value"] = match["value"]
        result.append(taint)
    return result


def kinstall_labels(labels):
    """{key: value} -> "key=value,..." (kubelet's --node-labels), in key order."""
    return ",".join(f"{key}={value}" for key, value in sorted((labels or {}).items()))


def kinstall_control_plane_taint(kube_version):
    """kubeadm's taint on control planes: node-role.kubernetes.io/master until 1.23,
    node-role.kubernetes.io/control-plane from 1.24 (both in 1.24: the old one was dropped in 1.25)."""
    minor = int(str(kube_version).split(".")[1])
    key = "node-role.kubernetes.io/master" if minor < 24 else "node-role.kubernetes.io/control-plane"
    return {"key": key, "effect": "NoSchedule"}


# Booleans as Go's strconv.ParseBool reads them, which is how Kubernetes reads --feature-gates.
GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
            "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def kinstall_feature_gates(gates):
    """["Name=true", ...] (Kubespray's kube_feature_gates) -> {Name: true} (featureGates of kubelet's
    and kube-proxy's configuration)."""
    result = {}
    for text in gates or []:
        name, sep, value = str(text).partition("=")
        if not sep or value not in GO_BOOLS or not name.isalnum():
            raise AnsibleFilterError(f"kube_feature_gates: {text!r} is not Name=true or Name=false")
        result[name] = GO_BOOLS[value]
    return result


def kinstall_rows(lines, fields):
    """Lines of space-separated fields -> {first field: [the others]}, for lines with exactly
    `fields` fields (kubectl's jsonpath tables, where an empty value leaves a field out)."""
    rows = {}
    for line in lines or []:
        parts = str(line).split()
        if len(parts) == int(fields):
            rows[parts[0]] = parts[1:]
    return rows


def kinstall_nth_address(cidr, n):
    """The n-th address of a network ("10.233.0.0/18", 10 -> "10.233.0.10"): kubeadm's rule for the
    cluster DNS address, and Romana's for its pinned Service addresses."""
    network = ipaddress.ip_network(str(cidr), strict=False)
    if not 0 < int(n) < network.num_addresses - 1:
        raise AnsibleFilterError(f"{cidr} has no address number {n}")
    return str(network.network_address + int(n))


class FilterModule:
    def filters(self):
        return {"kinstall_taints": kinstall_taints, "kinstall_labels": kinstall_labels,
                "kinstall_control_plane_taint": kinstall_control_plane_taint, "kinstall_rows": kinstall_rows,
                "kinstall_nth_address": kinstall_nth_address, "kinstall_feature_gates": kinstall_feature_gates}
