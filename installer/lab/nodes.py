"""Lab lifecycle: up (create or reuse), down, status, list, ssh. Each lab has a podman network of
its own, one container per node (systemd as PID 1, sshd, its own host key and machine id), an
SSH key, a known_hosts file (host key checking stays on) and an inventory kinstall validates."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from installer import paths
from installer.errors import UsageError
from installer.lab import bundle, image, podman, prereqs
from installer.lab.podman import LABEL, LabError

NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
SUBNETS = ipaddress.IPv4Network("172.30.0.0/16")
NODE_MEMORY_MB = 768  # what a node with containerd, etcd and a kubelet needs, roughly
MAX_NODES = 30
SSH_TIMEOUT = 90.0


@dataclass
class Node:
    name: str
    ip: str
    container: str


@dataclass
class Lab:
    name: str
    subnet: str
    network: str
    image: str
    nodes: list[Node] = field(default_factory=list)
    control_planes: int = 1
    etcd: int = 1
    node_memory_mb: int | None = None  # a memory cap per node (cgroup), to try small machines

    @property
    def directory(self) -> Path:
        return paths.labs() / self.name

    @property
    def inventory(self) -> Path:
        return self.directory / "inventory.yml"

    @property
    def key(self) -> Path:
        return self.directory / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.directory / "ssh_config"

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise UsageError(f"lab {self.name} has no node '{name}'; its nodes: "
                         + ", ".join(n.name for n in self.nodes))

    def save(self) -> None:
        (self.directory / "lab.json").write_text(json.dumps(asdict(self), indent=2) + "\n")


@dataclass
class UpResult:
    lab: Lab
    created: list[str]  # nodes created by this call
    image_seconds: float
    boot_seconds: float


# ---------------------------------------------------------------- loading

def _check_name(name: str) -> None:
    if not NAME.match(name):
        raise UsageError(f"lab name '{name}' is not valid: use 1 to 20 lowercase letters, digits and '-', "
                         "starting with a letter")


def load(name: str) -> Lab:
    _check_name(name)
    state = paths.labs() / name / "lab.json"
    if not state.exists():
        known = names()
        if name in known:
            raise UsageError(f"lab {name} has nodes but no state in {state.parent}; is KINSTALL_HOME set "
                             f"differently from when it was created? (`kinstall lab down {name}` still removes it)")
        raise UsageError(f"there is no lab named '{name}'; "
                         + (f"labs here: {', '.join(known)}" if known else "create one with `kinstall lab up`"))
    data = json.loads(state.read_text())
    data["nodes"] = [Node(**n) for n in data["nodes"]]
    return Lab(**data)


def names() -> list[str]:
    found = {p.parent.name for p in paths.labs().glob("*/lab.json")} if paths.labs().is_dir() else set()
    try:
        found |= {c.get("Labels", {}).get(LABEL) for c in podman.labelled("container")} - {None}
    except LabError:
        pass
    return sorted(found)


# ---------------------------------------------------------------- up

def _available_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def _used_subnets() -> list[ipaddress.IPv4Network]:
    used = []
    for net in json.loads(podman.run("network", "ls", "--format", "json") or "[]"):
        for subnet in net.get("subnets") or []:
            try:
                used.append(ipaddress.IPv4Network(subnet.get("subnet", ""), strict=False))
            except ValueError:
                continue
    routes = subprocess.run(["ip", "-j", "-4", "route"], capture_output=True, text=True)
    for route in json.loads(routes.stdout or "[]") if routes.returncode == 0 else []:
        dst = route.get("dst", "")
        if dst and dst != "default":
            try:
                used.append(ipaddress.IPv4Network(dst if "/" in dst else f"{dst}/32", strict=False))
            except ValueError:
                continue
    return used


def _pick_subnet() -> str:
    used = _used_subnets()
    for candidate in SUBNETS.subnets(new_prefix=24):
        if candidate.network_address.packed[2] < 10:
            continue
        if not any(candidate.overlaps(u) for u in used):
            return str(candidate)
    raise LabError(f"no free /24 left in {SUBNETS} for a lab network; remove labs with `kinstall lab down`")


def _foreign(kind: str, name: str, lab: str) -> bool:
    if not podman.exists(kind, name):
        return False
    return podman.labels(kind, name).get(LABEL) != lab


def _check_room(nodes: int, node_memory_mb: int | None = None) -> None:
    if not 1 <= nodes <= MAX_NODES:
        raise UsageError(f"--nodes must be 1 to {MAX_NODES}, not {nodes}")
    if node_memory_mb is not None and node_memory_mb < 256:
        raise UsageError(f"--node-memory must be at least 256 MB (systemd and sshd need that), not {node_memory_mb}")
    each = node_memory_mb or NODE_MEMORY_MB
    need, have = nodes * each, _available_memory_mb()
    if need > have * 0.8:
        raise UsageError(f"a lab of {nodes} nodes needs about {need} MB of memory and this machine has {have} MB "
                         f"available; use at most {max(1, int(have * 0.8) // each)} nodes")


def _layout(nodes: int, control_planes: int | None, etcd: int | None) -> tuple[int, int]:
    control = control_planes or 1
    members = etcd if etcd is not None else (3 if nodes >= 3 else 1)
    if not 1 <= control <= nodes:
        raise UsageError(f"--control-planes must be 1 to {nodes} (the number of nodes), not {control}")
    if not 1 <= members <= nodes or members % 2 == 0:
        raise UsageError(f"--etcd must be an odd number from 1 to {nodes}, not {members}")
    return control, members


def up(name: str = "kinstall", nodes: int = 3, control_planes: int | None = None, etcd: int | None = None,
       report=lambda message: None, node_memory_mb: int | None = None) -> UpResult:
    """Create the lab, or reuse what exists (starting stopped nodes, adding missing ones).
    node_memory_mb caps each new node's memory, as a small machine would have."""
    _check_name(name)
    prereqs.require()
    _check_room(nodes, node_memory_mb)
    existing = load(name) if (paths.labs() / name / "lab.json").exists() else None
    if existing and nodes < len(existing.nodes):
        raise UsageError(f"lab {name} has {len(existing.nodes)} nodes; a lab does not shrink: "
                         f"`kinstall lab down {name}` first, or ask for --nodes {len(existing.nodes)}")
    control, members = _layout(nodes, control_planes or (existing.control_planes if existing else None),
                               etcd if etcd is not None else (existing.etcd if existing else None))
    network = f"kinstall-{name}"
    wanted = [f"node{i}" for i in range(1, nodes + 1)]
    if _foreign("network", network, name):
        raise LabError(f"a podman network named {network} exists and does not belong to lab {name}; "
                       "remove it or choose another --name")
    for node in wanted:
        if _foreign("container", f"{name}-{node}", name):
            raise LabError(f"a container named {name}-{node} exists and does not belong to lab {name}; "
                           "remove it or choose another --name")
    tag, image_seconds = image.ensure(report)
    bundle.ensure(report)  # the lab's binaries and images, built once (see bundle.py)
    undo: list = []
    start = time.monotonic()
    try:
        lab = existing or _new_lab(name, network, tag, undo)
        lab.control_planes, lab.etcd = control, members
        if node_memory_mb is not None:
            lab.node_memory_mb = node_memory_mb
        created = _ensure_nodes(lab, wanted, undo, report)
        _wait_for_ssh(lab, [n for n in lab.nodes if n.name in wanted])
        write_inventory(lab)
        lab.save()
    except BaseException:
        for action in reversed(undo):
            action()
        raise
    return UpResult(lab, created, image_seconds, time.monotonic() - start)


def _new_lab(name: str, network: str, tag: str, undo: list) -> Lab:
    directory = paths.labs() / name
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    undo.append(lambda: shutil.rmtree(directory, ignore_errors=True))
    # Two labs coming up at once would pick the same free subnet: the choice and the network that
    # takes it happen under one lock.
    with image.exclusive(paths.labs() / ".networks.lock"):
        subnet = _pick_subnet()
        gateway = str(ipaddress.IPv4Network(subnet).network_address + 1)
        if not podman.exists("network", network):
            podman.run("network", "create", "--subnet", subnet, "--gateway", gateway, "--label", f"{LABEL}={name}",
                       network)
            undo.append(lambda: podman.run("network", "rm", "-f", network, check=False))
    lab = Lab(name=name, subnet=subnet, network=network, image=tag)
    _keygen(lab.key, f"kinstall lab {name}")
    return lab


def _keygen(path: Path, comment: str) -> None:
    if path.exists():
        return
    result = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise LabError(f"ssh-keygen failed: {result.stderr.strip()}")
    path.chmod(0o600)


def _ensure_nodes(lab: Lab, wanted: list[str], undo: list, report) -> list[str]:
    created = []
    network = ipaddress.IPv4Network(lab.subnet)
    (lab.directory / "hostkeys").mkdir(mode=0o700, exist_ok=True)
    (lab.directory / "machine-id").mkdir(mode=0o700, exist_ok=True)
    for index, name in enumerate(wanted, start=1):
        container = f"{lab.name}-{name}"
        if not any(n.name == name for n in lab.nodes):
            lab.nodes.append(Node(name=name, ip=str(network.network_address + 10 + index), container=container))
        node = lab.node(name)
        if podman.exists("container", container):
            if podman.inspect("container", container)["State"]["Status"] != "running":
                report(f"starting {name}")
                podman.run("start", container)
            continue
        report(f"booting {name} at {node.ip}")
        hostkey = lab.directory / "hostkeys" / name
        _keygen(hostkey, f"{name} host key")
        machine_id = lab.directory / "machine-id" / name
        if not machine_id.exists():
            machine_id.write_text(uuid.uuid4().hex + "\n")
        volume = f"{container}-containerd"
        if not podman.exists("volume", volume):
            podman.run("volume", "create", "--label", f"{LABEL}={lab.name}", volume)
        podman.run("run", "-d", "--name", container, "--hostname", name, "--network", lab.network, "--ip", node.ip,
                   "--systemd=always", "--privileged", "--cgroupns=private",
                   *([f"--memory={lab.node_memory_mb}m"] if lab.node_memory_mb else []),
                   "--label", f"{LABEL}={lab.name}", "--label", f"io.kinstall.node={name}",
                   "-v", f"{volume}:/var/lib/containerd",
                   "-v", f"{lab.key}.pub:/root/.ssh/authorized_keys:ro",
                   "-v", f"{hostkey}:/etc/ssh/ssh_host_ed25519_key:ro",
                   "-v", f"{hostkey}.pub:/etc/ssh/ssh_host_ed25519_key.pub:ro",
                   "-v", f"{machine_id}:/etc/machine-id:ro",
                   lab.image)
        undo.append(lambda c=container, v=volume: (podman.run("rm", "-f", "-t", "2", c, check=False),
                                                   podman.run("volume", "rm", "-f", v, check=False)))
        created.append(name)
    _write_ssh_files(lab)
    return created


def _write_ssh_files(lab: Lab) -> None:
    lines = []
    for node in lab.nodes:
        public = (lab.directory / "hostkeys" / f"{node.name}.pub").read_text().split()
        lines.append(f"{node.name},{node.ip} {public[0]} {public[1]}")
    lab.known_hosts.write_text("\n".join(lines) + "\n")
    config = [f"# ssh -F {lab.ssh_config} NODE"]
    for node in lab.nodes:
        config += [f"Host {node.name}", f"  HostName {node.ip}", f"  HostKeyAlias {node.name}"]
    config += ["Host *", "  User root", f"  IdentityFile {lab.key}", "  IdentitiesOnly yes",
               f"  UserKnownHostsFile {lab.known_hosts}", "  StrictHostKeyChecking yes", "  BatchMode yes",
               "  LogLevel ERROR", "  ConnectTimeout 5"]
    lab.ssh_config.write_text("\n".join(config) + "\n")


def ssh_command(lab: Lab, node: str, *command: str) -> list[str]:
    lab.node(node)
    return ["ssh", "-F", str(lab.ssh_config), node, *command]


def _wait_for_ssh(lab: Lab, nodes: list[Node]) -> None:
    """Until every node answers over SSH (host key checked) and systemd has finished booting."""
    pending = {n.name for n in nodes}
    deadline = time.monotonic() + SSH_TIMEOUT
    last = {}
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            result = subprocess.run(ssh_command(lab, name, "systemctl", "is-system-running", "--wait"),
                                    capture_output=True, text=True, timeout=60)
            state = result.stdout.strip()
            if state in ("running", "degraded"):
                pending.discard(name)
            else:
                last[name] = (state or result.stderr.strip())[-300:]
        if pending:
            time.sleep(0.3)
    if pending:
        detail = "; ".join(f"{n}: {last.get(n, 'no answer')}" for n in sorted(pending))
        raise LabError(f"lab {lab.name}: no SSH answer from {', '.join(sorted(pending))} within "
                       f"{SSH_TIMEOUT:.0f} s ({detail})")


def write_inventory(lab: Lab, extra: Path | None = None) -> Path:
    names = [n.name for n in lab.nodes]
    control = names[:lab.control_planes]
    workers = names[lab.control_planes:] or control
    etcd = names[:lab.etcd] if lab.control_planes >= lab.etcd else control + workers[:lab.etcd - len(control)]
    common = (f"-o UserKnownHostsFile={lab.known_hosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes")
    document = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(lab.key),
                "ansible_ssh_common_args": common,
                "ansible_python_interpreter": "/usr/bin/python3",
                # Kubernetes 1.20.2 with the bridge plugin, installed from the lab's offline bundle
                # (built from Debian's archive alone) with the checksums computed when it was built.
                **bundle.inventory_vars(bundle.ensure()),
            },
            "hosts": {n.name: {"ansible_host": n.ip, "ip": n.ip} for n in lab.nodes},
            "children": {
                "kube_control_plane": {"hosts": {h: None for h in control}},
                "etcd": {"hosts": {h: None for h in etcd}},
                "kube_node": {"hosts": {h: None for h in workers}},
            },
        }
    }
    text = (f"# Written by `kinstall lab up` for lab {lab.name}; SSH host keys are checked against\n"
            f"# {lab.known_hosts}. Edit freely: `kinstall lab up` rewrites only {lab.inventory}.\n"
            + yaml.safe_dump(document, sort_keys=False, default_flow_style=False).replace(": null", ":"))
    lab.inventory.write_text(text)
    if extra is not None:
        extra.parent.mkdir(parents=True, exist_ok=True)
        extra.write_text(text)
    return lab.inventory


# ---------------------------------------------------------------- down, status

def down(name: str) -> list[str]:
    """Remove every container, volume and network of the lab, and its directory. Works from the
    podman labels too, so a lab whose directory is gone is still cleaned up."""
    _check_name(name)
    directory = paths.labs() / name
    containers = podman.labelled("container", name)
    if not directory.exists() and not containers and not podman.labelled("network", name) \
            and not podman.labelled("volume", name):
        known = names()
        raise UsageError(f"there is no lab named '{name}'"
                         + (f"; labs here: {', '.join(known)}" if known else ""))
    removed = []
    for container in containers:
        cname = container["Names"][0]
        for attempt in range(3):
            try:
                podman.run("rm", "-f", "-t", "2", cname)
                break
            except LabError:
                # podman refuses ("container state improper") a container caught between running
                # and stopped; a moment later it removes it.
                if attempt == 2:
                    raise
                time.sleep(2)
        removed.append(cname)
    for volume in podman.labelled("volume", name):
        podman.run("volume", "rm", "-f", volume["Name"])
    for network in podman.labelled("network", name):
        podman.run("network", "rm", "-f", network["name"])
    for state_dir in cluster_states_of(directory):
        shutil.rmtree(state_dir, ignore_errors=True)
    shutil.rmtree(directory, ignore_errors=True)
    return removed


def cluster_states_of(directory: Path) -> list[Path]:
    """State directories (run records, fact cache, lock) of clusters whose inventory lived in the
    lab's directory: they go with the lab, so `lab down` leaves nothing behind."""
    found = []
    root = paths.clusters()
    for cluster in sorted(root.iterdir()) if root.is_dir() else []:
        for record in cluster.glob("runs/*/record.json"):
            try:
                inventory = json.loads(record.read_text()).get("inputs", {}).get("inventory", "")
            except (OSError, json.JSONDecodeError):
                continue
            if inventory and Path(inventory).is_relative_to(directory.resolve()):
                found.append(cluster)
                break
    return found


def status(name: str) -> list[dict]:
    lab = load(name)
    rows = []
    for node in lab.nodes:
        state = podman.inspect("container", node.container)["State"]["Status"] if podman.exists(
            "container", node.container) else "missing"
        reachable = False
        if state == "running":
            reachable = subprocess.run(ssh_command(lab, node.name, "true"), capture_output=True,
                                       timeout=30).returncode == 0
        rows.append({"node": node.name, "ip": node.ip, "container": node.container, "state": state,
                     "ssh": reachable})
    return rows
