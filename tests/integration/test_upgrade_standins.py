"""The upgrade stage's order, batches, drain and uncordon, its stop at the first failed host and
`--resume`, on five lab machines, asserted from the calls recorded by STAND-INS.

Only one Kubernetes release can be built here (v1.20.2), so an upgrade between releases cannot
run for real. Here kubeadm, kubelet and kubectl of 1.35.8 and 1.36.4, and the API server they
talk to, are the stand-ins of tests/standins/ (see its README): everything else is real: the
lab's machines over SSH, kinstall's run engine, the playbook and roles, the download stage's
checks of the stand-in files by sha256, systemd restarting kubelet, and a real etcd (Debian's
3.4.23, set up by the etcd stage) whose snapshot the upgrade takes first."""

import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner

from installer import bundle as bundles
from installer import components
from installer.cli import cli
from installer.lab import nodes as labs
from tests.integration.helpers import last_record, ssh
from tests.paths import ROOT

pytestmark = pytest.mark.lab

LAB = "kinstall-upgrade"
OLD, NEW = "1.35.8", "1.36.4"
STANDINS = ROOT / "tests" / "standins"
CALLS = "/var/log/kinstall-standin-calls.jsonl"
API_PORT = 16443
TOOLS = ("kubeadm", "kubelet", "kubectl")


def _standin_bundle(lab_bundle: Path, target: Path) -> dict:
    """A bundle directory: the lab's own files (etcd for the etcd stage) and the stand-in tools of
    both releases at the paths the download role reads; returns {tool: {version: sha256}}. It has
    no manifest: release files in the mirror layout, verified by the inventory's sums alone."""
    target.mkdir()
    for entry in lab_bundle.iterdir():
        if entry.name not in ("dl.k8s.io", bundles.MANIFEST):
            (target / entry.name).symlink_to(entry)
    sums = {tool: {} for tool in TOOLS}
    for version in (OLD, NEW):
        text = (STANDINS / "kube_tool.py").read_text().replace("@VERSION@", version)
        for tool in TOOLS:
            path = target / components.artifact(tool, version, "amd64").mirror_path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            sums[tool][version] = hashlib.sha256(text.encode()).hexdigest()
    return sums


def _inventory(lab, bundle: Path, sums: dict, path: Path, version: str, **extra) -> str:
    data = yaml.safe_load(Path(lab.inventory).read_text())
    variables = data["all"]["vars"]
    variables.pop("download_bundle_sha256")  # the lab bundle's manifest: this bundle has none
    variables.update(kube_version=version, download_bundle_dir=str(bundle), upgrade_batch=2,
                     drain_timeout="30s", drain_grace_period=5, upgrade_node_ready_timeout=15, **extra)
    for tool in TOOLS:
        variables[f"{tool}_checksums"] = {"amd64": sums[tool]}
    data["all"]["children"] = {
        "kube_control_plane": {"hosts": {"node1": None, "node2": None}},
        "etcd": {"hosts": {"node1": None, "node2": None, "node3": None}},
        "kube_node": {"hosts": {"node3": None, "node4": None, "node5": None}},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def _install_old_release(lab) -> None:
    """What a cluster of 1.35.8 leaves on each host, made of stand-ins: the release directory
    and its links, kubelet's unit (running), kubelet.conf, and admin.conf on the control planes;
    the stand-in API service on node1."""
    old = (STANDINS / "kube_tool.py").read_text().replace("@VERSION@", OLD)
    api = f"{lab.addresses['node1']}:{API_PORT}"
    for node in lab.nodes:
        control = node in ("node1", "node2")
        script = "\n".join([
            "set -eu",
            f"mkdir -p /etc/kinstall-standin /usr/local/lib/kinstall/kubernetes-v{OLD} /etc/kubernetes",
            f"echo {node} > /etc/kinstall-standin/node",
            f"echo {api} > /etc/kinstall-standin/api",
            *[f"cat > /usr/local/lib/kinstall/kubernetes-v{OLD}/{tool} <<'STANDIN'\n{old}STANDIN\n"
              f"chmod 0755 /usr/local/lib/kinstall/kubernetes-v{OLD}/{tool}\n"
              f"ln -sfn /usr/local/lib/kinstall/kubernetes-v{OLD}/{tool} /usr/local/bin/{tool}"
              for tool in TOOLS if control or tool != "kubectl"],
            "echo 'stand-in kubeconfig' > /etc/kubernetes/kubelet.conf",
            "echo 'stand-in kubeconfig' > /etc/kubernetes/admin.conf" if control else "true",
            "printf '[Unit]\\nDescription=stand-in kubelet\\n[Service]\\nExecStart=/usr/local/bin/kubelet\\n"
            "Restart=always\\nRestartSec=1\\n[Install]\\nWantedBy=multi-user.target\\n' "
            "> /etc/systemd/system/kubelet.service",
            "systemctl daemon-reload",
        ])
        ssh(lab, node, script)
    server = (STANDINS / "kube_api.py").read_text()
    node_args = " ".join(f"--node {n}{':control-plane' if n in ('node1', 'node2') else ''}" for n in lab.nodes)
    ssh(lab, "node1", f"cat > /usr/local/lib/kinstall-standin-api.py <<'STANDIN'\n{server}STANDIN\n"
                      f"rm -f {CALLS}; systemd-run --unit kinstall-standin-api /usr/bin/python3 "
                      f"/usr/local/lib/kinstall-standin-api.py --listen 0.0.0.0:{API_PORT} --release {OLD} "
                      f"{node_args} --log {CALLS}")
    for node in lab.nodes:
        ssh(lab, node, "systemctl enable --now kubelet >/dev/null 2>&1")


def _calls(lab) -> list[dict]:
    text = ssh(lab, "node1", f"cat {CALLS}").stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _changes(calls) -> list[tuple]:
    """The successful calls that change the cluster, as (the node it is about, what)."""
    found = []
    for call in calls:
        if call["rc"] != 0:
            continue
        argv = call["argv"]
        if call["tool"] == "kubectl":
            words = [w for w in argv if not w.startswith("-") and w != "/etc/kubernetes/admin.conf"]
            if words and words[0] in ("drain", "cordon", "uncordon"):
                found.append((words[1], words[0]))
        elif call["tool"] == "kubeadm":
            found.append((call["node"], " ".join(argv[:2])))
        elif call["tool"] == "kubelet":
            found.append((call["node"], f"kubelet {call['version']}"))
    return found


@pytest.fixture(scope="module")
def standin_cluster(tmp_path_factory, request):
    if LAB in labs.names():
        labs.down(LAB)
    lab = labs.up(LAB, nodes=5, control_planes=2, etcd=3).lab
    work = tmp_path_factory.mktemp("upgrade")
    addresses = {node.name: node.ip for node in lab.nodes}
    captured = SimpleNamespace(inventory=str(lab.inventory), ssh_config=str(lab.ssh_config), home=work / "home",
                               nodes=[n.name for n in lab.nodes], addresses=addresses)
    lab_bundle = Path(yaml.safe_load(Path(captured.inventory).read_text())["all"]["vars"]["download_bundle_dir"])
    sums = _standin_bundle(lab_bundle, work / "bundle")
    captured.old_inventory = _inventory(captured, work / "bundle", sums, work / "old.yml", OLD)
    captured.new_inventory = _inventory(captured, work / "bundle", sums, work / "new.yml", NEW)
    previous = os.environ.get("KINSTALL_HOME")
    os.environ["KINSTALL_HOME"] = str(captured.home)
    # A real etcd cluster (the upgrade snapshots it first), then the stand-in 1.35.8 cluster.
    result = CliRunner().invoke(cli, ["up", captured.old_inventory, "--stages", "os,download,etcd", "--yes"])
    assert result.exit_code == 0, result.output
    _install_old_release(captured)
    yield captured
    if previous is None:
        os.environ.pop("KINSTALL_HOME", None)
    else:
        os.environ["KINSTALL_HOME"] = previous
    if not request.session.testsfailed and not request.config.getoption("--keep-lab"):
        labs.down(LAB)


def test_upgrade_runs_in_the_skew_policys_order_and_stops_at_the_first_failed_host(standin_cluster):
    lab = standin_cluster
    before = len(_calls(lab))
    ssh(lab, "node4", "touch /etc/kinstall-standin/not-ready")  # node4's new kubelet will not become Ready
    result = CliRunner().invoke(cli, ["upgrade", lab.old_inventory, "--to", NEW, "--stages", "upgrade", "--yes"])
    assert result.exit_code == 4, result.output  # a stage failed on a host
    assert (f"node4: the upgrade from {OLD} to {NEW} failed at 'The node is Ready with the new kubelet': the node "
            f"was not Ready on kubelet v{NEW} within 15 s") in result.output
    assert "--resume" in result.output
    changes = _changes(_calls(lab)[before:])
    assert changes == [
        ("node1", "drain"), ("node1", "upgrade apply"), ("node1", f"kubelet {NEW}"), ("node1", "uncordon"),
        ("node2", "drain"), ("node2", "upgrade node"), ("node2", f"kubelet {NEW}"), ("node2", "uncordon"),
    ] + _interleaved(changes[8:], [
        [("node3", "drain"), ("node3", "upgrade node"), ("node3", f"kubelet {NEW}"), ("node3", "uncordon")],
        [("node4", "drain"), ("node4", "upgrade node"), ("node4", f"kubelet {NEW}"), ("node4", "uncordon")],
    ]), changes
    assert not [c for c in changes if c[0] == "node5"], "the batch after the failed one was touched"
    snapshots = list(Path(lab.home).glob("clusters/*/etcd-snapshots/*"))
    assert len(snapshots) == 1 and oct(snapshots[0].stat().st_mode & 0o777) == "0o600"
    record = last_record(lab)
    tasks = [t["task"] for t in record["tasks"] if t["status"] in ("ok", "changed")]
    assert tasks.index("Save and check a snapshot on the first member") < tasks.index(
        "Upgrade the control plane (kubeadm upgrade apply, on the first control plane)")
    nodes = _nodes(lab)
    assert nodes["node4"] == (f"v{NEW}", "False", False)  # uncordoned after its failure
    assert nodes["node5"] == (f"v{OLD}", "True", False)


def _interleaved(actual, sequences):
    """actual, if it is a merge of the sequences keeping each one's order (hosts of one batch run
    together); else the sequences one after another, which then fails the comparison."""
    position = {seq[0][0]: 0 for seq in sequences}
    by_node = {seq[0][0]: seq for seq in sequences}
    for item in actual:
        seq = by_node.get(item[0])
        if seq is None or position[item[0]] >= len(seq) or seq[position[item[0]]] != item:
            return sum(sequences, [])
        position[item[0]] += 1
    return actual if all(position[n] == len(by_node[n]) for n in by_node) else sum(sequences, [])


def _nodes(lab) -> dict:
    text = ssh(lab, "node1", "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json").stdout
    return {n["metadata"]["name"]: (n["status"]["nodeInfo"]["kubeletVersion"], n["status"]["conditions"][0]["status"],
                                    bool(n["spec"].get("unschedulable"))) for n in json.loads(text)["items"]}


def test_resume_refuses_while_the_failed_host_is_broken_then_continues_from_it(standin_cluster):
    lab = standin_cluster
    before = len(_calls(lab))
    result = CliRunner().invoke(cli, ["upgrade", lab.old_inventory, "--to", NEW, "--resume", "--yes"])
    assert result.exit_code == 4, result.output
    assert f"node4: Kubernetes {NEW} already, but NotReady" in result.output
    assert _changes(_calls(lab)[before:]) == []
    # The repair: whatever kept its kubelet from becoming Ready is gone, kubelet restarted.
    ssh(lab, "node4", "rm /etc/kinstall-standin/not-ready && systemctl restart kubelet")
    before = len(_calls(lab))
    result = CliRunner().invoke(cli, ["upgrade", lab.old_inventory, "--to", NEW, "--resume", "--yes"])
    assert result.exit_code == 0, result.output
    assert _changes(_calls(lab)[before:]) == [("node5", "drain"), ("node5", "upgrade node"),
                                              ("node5", f"kubelet {NEW}"), ("node5", "uncordon")]
    assert set(_nodes(lab).values()) == {(f"v{NEW}", "True", False)}


def test_a_rerun_at_the_new_release_changes_nothing_and_a_downgrade_is_refused_from_the_hosts(standin_cluster):
    lab = standin_cluster
    before = len(_calls(lab))
    result = CliRunner().invoke(cli, ["up", lab.new_inventory, "--stages", "upgrade", "--yes", "--check-idempotent"])
    assert result.exit_code == 0, result.output
    record = last_record(lab)
    assert not [t for t in record["tasks"] if t["status"] == "changed"], "a run at the new release changed something"
    # No run record says 1.36.4 was installed (only the upgrade stage ran): the hosts refuse it.
    result = CliRunner().invoke(cli, ["up", lab.old_inventory, "--stages", "upgrade", "--yes"])
    assert result.exit_code == 4, result.output
    assert f"cannot move to Kubernetes {OLD}: node1 runs {NEW}, a newer release (kubeadm cannot downgrade)" \
        in result.output
    assert "Nothing was changed" in result.output
    assert _changes(_calls(lab)[before:]) == []
