"""The stages of `kinstall up`, in order. Their names are used across the project: the plan, the
playbooks (playbooks/<name>.yml), --stages and the run records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str

    @property
    def playbook(self) -> str:
        return f"{self.name}.yml"


STAGES = (
    Stage("preflight", "check every host before changing any"),
    Stage("os", "packages, kernel settings, swap, /etc/hosts, time sync"),
    Stage("download", "fetch binaries and images once, verify checksums, distribute"),
    Stage("runtime", "containerd, runc, CNI plugins, crictl"),
    Stage("etcd", "the etcd cluster over TLS"),
    Stage("loadbalancer", "the local proxy to the API servers on non-control-plane nodes"),
    # Before control-plane and nodes: a host whose kubelet is older than kube_version is moved to it
    # here, in the version-skew policy's order, before any stage could put a newer kubelet beside
    # an older API server. Hosts that run kube_version already, or no Kubernetes yet, are only read.
    Stage("upgrade", "move hosts that run an older Kubernetes to kube_version, in a safe order"),
    Stage("control-plane", "kubeadm init on the first control plane, join the others"),
    Stage("nodes", "kubelet on the workers, kubeadm join"),
    Stage("network", "the network plugin"),
    Stage("addons", "DNS, storage classes, metrics-server, tenants"),
    Stage("verify", "prove the cluster works"),
)
NAMES = tuple(stage.name for stage in STAGES)

# Lifecycle operations: playbooks run on their own by their commands (`kinstall etcd snapshot`, ...),
# with the same records, lock and progress as the stages.
OPERATIONS = (
    Stage("etcd-snapshot", "save a snapshot of etcd's data and fetch it to the controller"),
    Stage("etcd-restore", "restore every etcd member from a snapshot"),
    Stage("reset", "wipe Kubernetes, etcd and the container runtime from the hosts"),
    Stage("remove-node", "drain a node, delete it from Kubernetes and etcd, reset its host"),
    Stage("certs-check", "every certificate on the hosts with its expiry"),
    Stage("certs-renew", "renew etcd's certificates near expiry and every kubeadm certificate"),
)


def by_name(name: str) -> Stage:
    return STAGES[NAMES.index(name)]
