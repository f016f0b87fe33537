"""Small inventories written by tests: one host, n1, in every role."""

from pathlib import Path

GROUPS = ("  children:\n    kube_control_plane: {hosts: {n1: }}\n    etcd: {hosts: {n1: }}\n"
          "    kube_node: {hosts: {n1: }}\n")


def one_host(tmp_path: Path, cluster_vars: str = "", host_vars: str = "") -> Path:
    """hosts.yml in tmp_path: cluster_vars (YAML lines) under all.vars, host_vars (a flow mapping)
    on n1."""
    text = "all:\n"
    if cluster_vars:
        text += "  vars:\n" + "".join(f"    {line}\n" for line in cluster_vars.splitlines())
    if host_vars:
        text += f"  hosts:\n    n1: {host_vars}\n"
    (tmp_path / "hosts.yml").write_text(text + GROUPS)
    return tmp_path / "hosts.yml"
