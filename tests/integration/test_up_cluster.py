"""`kinstall up` to a working Kubernetes, for real: v1.20.2 from the lab's bundle (built from
Debian's source package) on fresh lab nodes, every stage, the bridge network plugin. Nothing here
is a stand-in: kubeadm, kubelet, the control plane's images, kube-proxy and the CNI plugins all
run on the nodes."""

import base64
import datetime
import hashlib
import itertools
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner

from installer import bundle as bundles
from installer.cli import cli
from installer.lab import nodes as labs
from installer.state import legacy_id
from tests.integration.helpers import last_record, ssh

pytestmark = pytest.mark.lab

KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
TEST_IMAGE_ARCHIVE = "/var/tmp/kinstall-busybox.tar"
# The tasks that call a kubeadm phase (roles control_plane and kubeadm_join).
KUBEADM_TASKS = ("Initialise the first control plane", "Share the control plane certificates",
                 "Make a short-lived join token", "Join with kubeadm")


def _lab(name, tmp_path_factory, nodes=3, **layout):
    if name in labs.names():
        labs.down(name)
    lab = labs.up(name, nodes=nodes, **layout).lab
    home = tmp_path_factory.mktemp(f"{name}-home")
    # The lab's paths first: they are found under KINSTALL_HOME, which then points at the run state.
    captured = SimpleNamespace(inventory=str(lab.inventory), ssh_config=str(lab.ssh_config), home=home,
                               nodes=[n.name for n in lab.nodes], name=name,
                               containers={n.name: n.container for n in lab.nodes})
    previous = os.environ.get("KINSTALL_HOME")
    os.environ["KINSTALL_HOME"] = str(home)
    return lab, captured, previous


def _teardown(name, request, previous):
    if previous is None:
        os.environ.pop("KINSTALL_HOME", None)
    else:
        os.environ["KINSTALL_HOME"] = previous
    if request.session.testsfailed or request.config.getoption("--keep-lab"):
        print(f"lab {name} kept: `kinstall lab ssh {name} node1`; remove it with `kinstall lab down {name}`")
    if not request.session.testsfailed and not request.config.getoption("--keep-lab"):
        labs.down(name)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, request):
    """A fresh 3-node lab (node1 control plane, node2 and node3 workers, etcd on all three) and a
    first `kinstall up` of every stage, with the idempotency gate."""
    lab, captured, previous = _lab("kinstall-k8s", tmp_path_factory)
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["up", captured.inventory, "--yes", "--check-idempotent"])
    captured.first_up = result
    captured.first_up_seconds = time.monotonic() - started
    yield captured
    _teardown("kinstall-k8s", request, previous)


def kubectl(lab, command, node="node1", check=True):
    return ssh(lab, node, f"{KUBECTL} {command}", check=check)


def _wait(lab, what, probe, timeout=180):
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out waiting for {what}; what the cluster said:\n{_pods_and_events(lab)}")
        time.sleep(2)


def _pods_and_events(lab):
    """Every pod with its node and state, and the latest events: what a timed-out wait needs to be understood."""
    pods = kubectl(lab, "get pods -A -o wide", check=False)
    events = kubectl(lab, "get events -A --sort-by=.lastTimestamp", check=False)
    nodes = kubectl(lab, "get nodes -o wide", check=False)
    tail = "\n".join(events.stdout.splitlines()[-40:])
    return f"{nodes.stdout}{nodes.stderr}\n{pods.stdout}{pods.stderr}\n{tail}{events.stderr}"


def _ready_since(lab, node, since):
    """node is Ready and schedulable, by a status its kubelet reported at or after `since` (epoch seconds)."""
    status = json.loads(kubectl(lab, f"get node {node} -o json").stdout)
    ready = [c for c in status["status"]["conditions"] if c["type"] == "Ready"]
    if not ready or ready[0]["status"] != "True" or status["spec"].get("unschedulable"):
        return False
    heartbeat = datetime.datetime.strptime(ready[0]["lastHeartbeatTime"], "%Y-%m-%dT%H:%M:%SZ")
    return heartbeat.replace(tzinfo=datetime.UTC).timestamp() >= since


def test_up_makes_a_cluster_whose_second_run_changes_nothing_and_calls_no_kubeadm_phase(cluster):
    result = cluster.first_up
    assert result.exit_code == 0, result.output
    assert "idempotent: the second run changed nothing" in result.output
    record = last_record(cluster)
    ran = [s["name"] for s in record["stages"] if s["status"] == "successful"]
    assert ran[:10] == ["preflight", "os", "download", "runtime", "etcd", "loadbalancer", "upgrade",
                        "control-plane", "nodes", "network"], ran
    kubeadm = [t for t in record["tasks"] if t["task"].startswith(KUBEADM_TASKS) and t["status"] != "skipped"]
    assert any(t["stage"] == "control-plane" for t in kubeadm) and any(t["stage"] == "nodes" for t in kubeadm)
    assert not [t for t in kubeadm if t["second_run"]], "the re-run called kubeadm"
    nodes = kubectl(cluster, "get nodes -o jsonpath='{range .items[*]}{.metadata.name} "
                             "{.status.conditions[?(@.type==\"Ready\")].status} {.status.nodeInfo.kubeletVersion}"
                             "{\"\\n\"}{end}'").stdout.split("\n")
    assert sorted(line for line in nodes if line) == [f"{n} True v1.20.2" for n in cluster.nodes]
    # the verify stage on every host, then the API checks: all pass on the cluster just built
    verified = result.output.split("\nverify:\n", 1)[1]
    assert re.search(r"^\d+ passed, 0 failed, 0 skipped$", verified, re.M), verified
    for node in cluster.nodes:
        assert re.search(rf"^PASS +infrastructure +API through the host's path \({node}\) ", verified, re.M), verified


def test_the_admin_kubeconfig_is_0600_on_the_controller_and_printed_as_a_path(cluster):
    match = re.search(r"admin kubeconfig \(0600; keep it secret\): (\S+)", cluster.first_up.output)
    assert match, cluster.first_up.output
    path = Path(match.group(1))
    assert oct(path.stat().st_mode & 0o777) == "0o600" and oct(path.parent.stat().st_mode & 0o777) == "0o700"
    text = path.read_text()
    assert "client-key-data" in text and "client-key-data" not in cluster.first_up.output
    assert "server: https://" in text


def _cluster_secrets(cluster) -> dict[str, str]:
    """The secrets the cluster keeps in /var/lib/kinstall/pki.tar (read on node1): name -> content
    (the encryption key of Secrets at rest among them, once kube_encrypt_secret_data made one)."""
    names = ssh(cluster, "node1", "tar -tf /var/lib/kinstall/pki.tar").stdout.split()
    found = {name: ssh(cluster, "node1", f"tar -xOf /var/lib/kinstall/pki.tar {name}").stdout
             for name in names if name.endswith((".key", "certificate-key", "encryption/token", "encryption/keys.json"))}
    for name in [name for name in found if name.endswith("keys.json")]:  # every key Secrets were encrypted with
        found.update({f"{name}#{key['name']}": key["secret"] for key in json.loads(found.pop(name))})
    return found


def _no_secret_on_the_controller(cluster, homes, outputs=()):
    """No CA key, certificate key or bootstrap token in any file under the homes, in any run
    directory left in the temporary directory, or in what kinstall printed."""
    tokens = kubectl(cluster, "-n kube-system get secrets -o jsonpath='{range .items[*]}"
                              "{.data.token-id}.{.data.token-secret}{\"\\n\"}{end}'").stdout.split()
    needles = []
    for line in tokens:
        if line.strip(".") and "." in line:
            token_id, secret = line.split(".", 1)
            if token_id and secret:
                needles.append(base64.b64decode(token_id).decode() + "." + base64.b64decode(secret).decode())
    secrets = _cluster_secrets(cluster)
    assert {"etcd/ca.key", "kubeadm/certificate-key"} <= set(secrets), sorted(secrets)
    for content in secrets.values():
        body = "".join(line for line in content.splitlines() if "PRIVATE KEY" not in line).strip()
        needles += [body[:64], base64.b64encode(body.encode()).decode()[:64]]  # as written, and as a config holds it
    files = [p for home in homes for p in Path(home).rglob("*") if p.is_file() and p != Path(cluster.inventory)]
    files += [p for p in Path(tempfile.gettempdir()).glob("kinstall-run-*/**/*") if p.is_file()]
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        assert "PRIVATE KEY" not in text, f"a private key is in {path}"
        for needle in needles:
            assert needle not in text, f"a secret is in {path}"
    for output in outputs:
        for needle in needles:
            assert needle not in output


def test_no_secret_stays_on_the_controller_and_the_cluster_keeps_them_root_only(cluster):
    """The cluster's secrets (the etcd CA's key, kubeadm's certificate key) live on its control
    planes and etcd members, 0600 in a 0700 directory; after the run no file on the controller
    holds one, nor a join token."""
    _no_secret_on_the_controller(cluster, [cluster.home], [cluster.first_up.output])
    for node in cluster.nodes:  # node1 control plane; node1-node3 etcd members
        assert ssh(cluster, node, "stat -c '%a %U' /var/lib/kinstall /var/lib/kinstall/pki.tar "
                                  "/var/lib/kinstall/cluster.json").stdout.split() == \
            ["700", "root", "600", "root", "600", "root"], node
        assert ssh(cluster, node, "test ! -e /etc/kubernetes/kubeadm-join.yaml", check=False).returncode == 0
    assert len({ssh(cluster, node, "sha256sum < /var/lib/kinstall/pki.tar").stdout for node in cluster.nodes}) == 1


def _host_changes(home) -> list[tuple[str, str]]:
    found = sorted(Path(home).glob("clusters/*/runs/*/record.json"), key=lambda p: p.parent.name)
    record = json.loads(found[-1].read_text())
    return [(t["host"], t["task"]) for t in record["tasks"] if t["changed"] and not t.get("on_controller")]


def _another_checkout(cluster, tmp_path, name, edit=lambda text: text) -> str:
    """The lab's inventory copied to another path, as a CI job's fresh checkout has it."""
    copy = tmp_path / name / "inventory.yml"
    copy.parent.mkdir(parents=True)
    copy.write_text(edit(Path(cluster.inventory).read_text()))
    return str(copy)


def test_another_controller_reruns_the_cluster_from_its_own_state(cluster, tmp_path):
    """Controller B (another KINSTALL_HOME, the inventory copied elsewhere) knows the cluster by
    what its hosts keep: a downgrade that A recorded is refused on B before any change, B's re-run
    changes nothing on any host, and B lists A's runs."""
    found = sorted(Path(cluster.home).glob("clusters/*/runs/*/record.json"), key=lambda p: p.parent.name)
    first = json.loads(found[0].read_text())
    assert first["command"].startswith("kinstall up") and first["status"] == "successful"
    history = "ls /var/lib/kinstall/runs"
    before = ssh(cluster, "node1", history).stdout
    home_b = tmp_path / "b-home"
    older = _another_checkout(cluster, tmp_path, "older",
                              lambda text: text.replace("kube_version: 1.20.2", "kube_version: 1.20.1"))
    refused = CliRunner().invoke(cli, ["up", older, "--yes"], env={"KINSTALL_HOME": str(home_b)})
    assert refused.exit_code == 1, refused.output
    assert f"the cluster runs Kubernetes 1.20.2 (run {first['id']}); 1.20.1 would be a downgrade" in \
        " ".join(refused.output.split()), refused.output
    assert ssh(cluster, "node1", history).stdout == before
    assert ssh(cluster, "node1", "test ! -e /var/lib/kinstall/lock", check=False).returncode == 0

    copy = _another_checkout(cluster, tmp_path, "checkout")
    again = CliRunner().invoke(cli, ["up", copy, "--yes"], env={"KINSTALL_HOME": str(home_b)})
    assert again.exit_code == 0, again.output
    assert _host_changes(home_b) == []
    listed = CliRunner().invoke(cli, ["runs", "list", copy], env={"KINSTALL_HOME": str(home_b / "fresh")})
    assert listed.exit_code == 0 and first["id"] in listed.output, listed.output
    _no_secret_on_the_controller(cluster, [cluster.home, home_b], [again.output])


def test_the_cluster_lock_refuses_a_second_controller_and_is_taken_over_after_its_lease(cluster, tmp_path):
    """While A runs `up`, B's is refused with exit 6 naming A's host, pid and run. A killed with
    SIGKILL stops refreshing the lock; after its lease B takes it over, says so, and completes."""
    env = {**os.environ, "KINSTALL_HOME": str(cluster.home), "KINSTALL_LOCK_LEASE": "12"}
    a = subprocess.Popen([sys.executable, "-m", "installer", "up", cluster.inventory, "--yes"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    b_home = {"KINSTALL_HOME": str(tmp_path / "b-home")}
    copy = _another_checkout(cluster, tmp_path, "checkout")
    try:
        holder = _wait(cluster, "A to hold the lock", lambda: ssh(
            cluster, "node1", "cat /var/lib/kinstall/lock 2>/dev/null", check=False).stdout.strip(), timeout=60)
        holder = json.loads(holder)
        assert holder["pid"] == a.pid
        refused = CliRunner().invoke(cli, ["up", copy, "--yes"], env=b_home)
        assert refused.exit_code == 6, refused.output
        said = " ".join(refused.output.split())
        assert f"run {holder['run']} of" in said and f"@{socket.gethostname()} (pid {a.pid}," in said, said
    finally:  # A's controller dies: A and its ansible-playbook (which runs in a session of its own)
        ansible = subprocess.run(["pgrep", "-P", str(a.pid)], capture_output=True, text=True).stdout.split()
        for pid in [a.pid, *map(int, ansible)]:
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        a.wait()
    time.sleep(13)  # A's lease
    # The lock is the cluster's whatever the stages: one stage is enough for B to take it and finish.
    taken = CliRunner().invoke(cli, ["up", copy, "--yes", "--stages", "preflight"], env=b_home)
    assert taken.exit_code == 0, taken.output
    assert f"took over the cluster's lock from run {holder['run']}" in " ".join(taken.output.split())
    assert ssh(cluster, "node1", "test ! -e /var/lib/kinstall/lock", check=False).returncode == 0
    assert not list(Path(tempfile.gettempdir()).glob(f"kinstall-run-{a.pid}-*")), "A's run directory was not swept"


def test_an_inventory_pointed_at_another_clusters_hosts_is_refused_before_any_change(cluster, tmp_path):
    """Another cluster_name on these hosts, or hosts that carry two clusters' ids: refused, naming
    the hosts, with nothing written to them."""
    state = "cat /var/lib/kinstall/cluster.json; ls /var/lib/kinstall/runs"
    before = {node: ssh(cluster, node, state).stdout for node in cluster.nodes}
    named = "all:\n  vars:\n    cluster_name: other.local\n"
    other = _another_checkout(cluster, tmp_path, "other", lambda text: text.replace("all:\n  vars:\n", named, 1))
    refused = CliRunner().invoke(cli, ["up", other, "--yes"], env={"KINSTALL_HOME": str(tmp_path / "home")})
    assert refused.exit_code == 1, refused.output
    said = " ".join(refused.output.split())
    assert "node1, node2, node3 belong to the cluster 'cluster.local'" in said and "not to 'other.local'" in said, said
    identity = json.loads(ssh(cluster, "node3", "cat /var/lib/kinstall/cluster.json").stdout)
    ssh(cluster, "node3", "cp /var/lib/kinstall/cluster.json /root/cluster.json.kept && "
                          f"echo '{json.dumps({**identity, 'id': 'f' * 32})}' > /var/lib/kinstall/cluster.json")
    try:
        mixed = CliRunner().invoke(cli, ["up", cluster.inventory, "--yes"])
    finally:
        ssh(cluster, "node3", "mv /root/cluster.json.kept /var/lib/kinstall/cluster.json")
    assert mixed.exit_code == 1, mixed.output
    assert f"node3: cluster id {'f' * 32}" in " ".join(mixed.output.split()), mixed.output
    assert {node: ssh(cluster, node, state).stdout for node in cluster.nodes} == before


def test_a_cluster_built_before_it_kept_its_state_is_adopted(cluster, tmp_path):
    """A cluster whose state only its controller kept (the CA in the controller's directory for the
    inventory's path, as kinstall did before): the first run under the cluster's own state changes
    nothing on the hosts but the id, the CA and the history it writes there, and the CA leaves the
    controller."""
    secrets = _cluster_secrets(cluster)
    home = tmp_path / "old-home"
    legacy = home / "clusters" / legacy_id("cluster.local", cluster.inventory) / "pki"
    legacy.mkdir(parents=True)
    for name in ssh(cluster, "node1", "tar -tf /var/lib/kinstall/pki.tar").stdout.split():
        (legacy / name).parent.mkdir(parents=True, exist_ok=True)
        (legacy / name).write_text(ssh(cluster, "node1", f"tar -xOf /var/lib/kinstall/pki.tar {name}").stdout)
    for node in cluster.nodes:  # the cluster as the kinstall before it kept its state left it
        ssh(cluster, node, "mv /var/lib/kinstall /root/kinstall-state.kept")
    try:
        adopted = CliRunner().invoke(cli, ["up", cluster.inventory, "--yes"], env={"KINSTALL_HOME": str(home)})
        assert adopted.exit_code == 0, adopted.output
        assert _host_changes(home) == []
        assert not legacy.exists()
        assert _cluster_secrets(cluster) == secrets
        for node in cluster.nodes:
            assert ssh(cluster, node, "ls /var/lib/kinstall").stdout.split() == ["cluster.json", "pki.tar", "runs"]
        _no_secret_on_the_controller(cluster, [home], [adopted.output])
    finally:  # the cluster the other tests know (its id, its history)
        for node in cluster.nodes:
            ssh(cluster, node, "rm -rf /var/lib/kinstall && mv /root/kinstall-state.kept /var/lib/kinstall")


@pytest.fixture(scope="module")
def test_image(cluster):
    """The tests' own image (a static busybox), imported on every node; never part of what
    kinstall installs."""
    inventory = Path(cluster.inventory).read_text()
    bundle = Path(re.search(r"download_bundle_dir: (\S+)", inventory).group(1))
    image = bundles.read_manifest(bundle)["test_image"]
    for node in cluster.nodes:
        subprocess.run(["scp", "-F", cluster.ssh_config, "-q", str(bundle / image["path"]),
                        f"{node}:{TEST_IMAGE_ARCHIVE}"], check=True, timeout=120)
        ssh(cluster, node, f"ctr -n k8s.io images import {TEST_IMAGE_ARCHIVE} >/dev/null")
    return image["name"]


def test_pods_on_every_node_reach_each_other_and_a_service(cluster, test_image):
    manifest = f"""
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: echo, namespace: default}}
spec:
  selector: {{matchLabels: {{app: echo}}}}
  template:
    metadata: {{labels: {{app: echo}}}}
    spec:
      tolerations: [{{operator: Exists}}]
      containers:
        - name: echo
          image: {test_image}
          imagePullPolicy: Never
          command: ["/bin/sh", "-c",
                    "mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
---
apiVersion: v1
kind: Service
metadata: {{name: echo, namespace: default}}
spec:
  selector: {{app: echo}}
  ports: [{{port: 80, targetPort: 8080}}]
"""
    ssh(cluster, "node1", f"cat > /var/tmp/echo.yaml <<'EOF'\n{manifest}\nEOF\n{KUBECTL} apply -f /var/tmp/echo.yaml")

    def running():
        rows = kubectl(cluster, "get pods -l app=echo -o jsonpath='{range .items[*]}{.spec.nodeName} "
                                "{.status.phase} {.status.podIP} {.metadata.name}{\"\\n\"}{end}'").stdout.split("\n")
        pods = [r.split() for r in rows if r.strip()]
        ok = [p for p in pods if len(p) == 4 and p[1] == "Running"]
        return ok if sorted(p[0] for p in ok) == sorted(cluster.nodes) else None

    pods = _wait(cluster, "an echo pod Running on every node", running)
    get = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {} {} | tail -n 1"
    service = kubectl(cluster, "get service echo -o jsonpath='{.spec.clusterIP}'").stdout.strip()
    # A client pod on each node asks the echo pod on another node, across the routes, then the
    # Service; its log is the evidence. Not `kubectl exec`: on the lab the name=systemd cgroup
    # hierarchy is shared by every node, and a kubelet may remove another node's empty container
    # cgroup there, after which runc cannot exec into that container (lab-notes).
    clients = {}
    for node, _, _, _ in pods:
        other = next(p for p in pods if p[0] != node)
        script = (f"{get.format(other[2], 8080)}; for i in $(seq 1 30); do a=$({get.format(service, 80)}); "
                  f"[ -n \"$a\" ] && break; sleep 2; done; echo \"$a\"")
        clients[node] = (f"client-{node}", other[3])
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"client-{node}", "namespace": "default"},
               "spec": {"nodeName": node, "restartPolicy": "Never", "tolerations": [{"operator": "Exists"}],
                        "containers": [{"name": "client", "image": test_image, "imagePullPolicy": "Never",
                                        "command": ["/bin/sh", "-c", script]}]}}
        ssh(cluster, "node1", f"{KUBECTL} apply -f - <<'EOF'\n{json.dumps(pod)}\nEOF")

    def finished():
        phases = kubectl(cluster, "get pods -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase}"
                                  "{\"\\n\"}{end}'").stdout.split("\n")
        done = dict(line.split() for line in phases if line.startswith("client-") and len(line.split()) == 2)
        return done if all(done.get(name) in ("Succeeded", "Failed") for name, _ in clients.values()) else None

    assert set(_wait(cluster, "the client pods done", finished).values()) == {"Succeeded"}
    for node, (name, expected) in clients.items():
        answers = kubectl(cluster, f"logs {name}").stdout.split("\n")
        assert answers[0] == expected, (node, answers)  # the pod on another node
        assert answers[1] in {p[3] for p in pods}, (node, answers)  # the Service
        kubectl(cluster, f"delete pod {name} --wait=false")
    from_node = ssh(cluster, "node2", get.format(service, 80)).stdout.strip()
    assert from_node in {p[3] for p in pods}
    kubectl(cluster, "delete -f /var/tmp/echo.yaml --wait=false")


def test_a_claim_binds_to_a_local_volume_from_a_host_directory(cluster, test_image):
    for node in ("node2", "node3"):
        ssh(cluster, node, "mkdir -p /mnt/disks/vol1")
    inventory = Path(cluster.inventory)
    document = yaml.safe_load(inventory.read_text())
    document["all"]["vars"].update(local_volume_provisioner_enabled=True, local_volume_provisioner_storage_classes={
        "local-storage": {"host_dir": "/mnt/disks", "is_default": True}})
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    result = CliRunner().invoke(cli, ["up", cluster.inventory, "--yes", "--stages", "addons", "--check-idempotent"])
    assert result.exit_code == 0, result.output
    assert "idempotent: the second run changed nothing" in result.output
    volumes = kubectl(cluster, "get pv -o jsonpath='{range .items[*]}{.metadata.name} {.spec.local.path} "
                               "{.spec.storageClassName}{\"\\n\"}{end}'").stdout.split("\n")
    assert sorted(v for v in volumes if v) == ["local-node2-vol1 /mnt/disks/vol1 local-storage",
                                               "local-node3-vol1 /mnt/disks/vol1 local-storage"]
    default = kubectl(cluster, "get storageclass local-storage -o jsonpath="
                               "'{.metadata.annotations.storageclass\\.kubernetes\\.io/is-default-class}'").stdout
    assert default == "true"
    manifest = f"""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data, namespace: default}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 1Mi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: writer, namespace: default}}
spec:
  restartPolicy: Never
  containers:
    - name: writer
      image: {test_image}
      imagePullPolicy: Never
      command: ["/bin/sh", "-c", "hostname > /data/written-by"]
      volumeMounts: [{{name: data, mountPath: /data}}]
  volumes: [{{name: data, persistentVolumeClaim: {{claimName: data}}}}]
"""
    ssh(cluster, "node1", f"cat > /var/tmp/claim.yaml <<'EOF'\n{manifest}\nEOF\n{KUBECTL} apply -f /var/tmp/claim.yaml")

    def done():
        phase = kubectl(cluster, "get pod writer -o jsonpath='{.status.phase} {.spec.nodeName}'").stdout.split()
        return phase if phase and phase[0] == "Succeeded" else None

    _, node = _wait(cluster, "the pod writing to its claim", done)
    assert kubectl(cluster, "get pvc data -o jsonpath='{.status.phase}'").stdout == "Bound"
    assert ssh(cluster, node, "cat /mnt/disks/vol1/written-by").stdout.strip() == "writer"


def _verify_namespaces(lab) -> list[str]:
    return kubectl(lab, "get namespaces -l kinstall.io/verify -o name").stdout.split()


def test_verify_proves_the_cluster_works_and_names_what_breaks(cluster, tmp_path):
    """`kinstall verify` on the real cluster: every check it can answer passes (DNS and
    NetworkPolicy are skipped: no CoreDNS, and the bridge plugin enforces no policy); with node3
    cordoned, node2's kubelet stopped and node3's local proxy stopped, the nodes check names node3,
    node2's kubelet check and node3's API path check fail; with node1's route to node2's pods
    blackholed, pod-to-pod names that direction. No
    verification namespace is left behind, after a failed run either. First another lab comes up
    and goes down beside this cluster: the host's cgroup root gains nothing, and the checks that
    follow pass on this cluster all the same."""
    cgroup_root = Path("/sys/fs/cgroup/systemd")
    before = sorted(p.name for p in cgroup_root.iterdir()) if cgroup_root.is_dir() else []
    labs.up("kinstall-other", nodes=1)
    labs.down("kinstall-other")
    assert (sorted(p.name for p in cgroup_root.iterdir()) if cgroup_root.is_dir() else []) == before
    result = CliRunner().invoke(cli, ["verify", cluster.inventory, "--format", "json",
                                      "--junit", str(tmp_path / "verify.xml")])
    assert result.exit_code == 0, result.output
    checks = {(c["name"], c["target"]): c for c in json.loads(result.output)["checks"]}
    passed = {name for (name, _), c in checks.items() if c["status"] == "pass"}
    assert {"etcd member", "etcd quorum", "containerd", "kubelet", "API through the host's path", "certificate expiry",
            "API server release", "nodes Ready", "system pods Ready", "API server readiness checks",
            "pod-to-pod across nodes", "pod-to-service", "self-healing", "rolling update", "volume"} <= passed, checks
    assert checks[("DNS", "cluster")]["reason"] == "the cluster has no DNS Service (kube-system/kube-dns)"
    assert checks[("NetworkPolicy between tenants", "cluster")]["reason"] == \
        "the network plugin (bridge) enforces no NetworkPolicy"
    assert checks[("pod-to-pod across nodes", "cluster")]["seen"] == "6 of 6 node pairs answered"
    assert checks[("volume", "local-storage")]["status"] == "pass"
    assert kubectl(cluster, "get pv -o jsonpath='{.items[*].status.phase}'").stdout.split().count("Available") == 1
    assert _verify_namespaces(cluster) == []

    kubectl(cluster, "cordon node3")
    ssh(cluster, "node2", "systemctl stop kubelet")
    proxy = ssh(cluster, "node3", "for s in nginx haproxy; do systemctl is-active -q $s && systemctl stop $s && "
                                  "echo $s; done; true").stdout.strip()
    try:
        stopped = CliRunner().invoke(cli, ["verify", cluster.inventory, "--skip-function"])
    finally:
        restarted = int(ssh(cluster, "node2", "date +%s").stdout)
        ssh(cluster, "node2", "systemctl start kubelet")
        if proxy:
            ssh(cluster, "node3", f"systemctl start {proxy}")
        kubectl(cluster, "uncordon node3")
    assert proxy, "node3 runs no local proxy to stop"
    assert stopped.exit_code == 9, stopped.output
    assert re.search(r"^FAIL +infrastructure +kubelet \(node2\) .*expected kubelet active; seen kubelet inactive$",
                     stopped.output, re.M), stopped.output
    assert re.search(r"^PASS +infrastructure +kubelet \(node1\)", stopped.output, re.M)
    # node3's kubelet reaches the API through its local proxy, which is stopped
    assert re.search(r"^FAIL +infrastructure +API through the host's path \(node3\) .*expected https://[^ ]+/healthz "
                     r"answers ok; seen .*refused", stopped.output, re.M), stopped.output
    assert re.search(r"^PASS +infrastructure +API through the host's path \(node2\)", stopped.output, re.M)
    assert re.search(r"^FAIL +api +nodes Ready .*seen .*node3 cordoned \(SchedulingDisabled\)$", stopped.output, re.M)
    # A Ready condition from before the restart stays True until the node controller's grace period ends;
    # only one the restarted kubelet reported says node2 is back.
    _wait(cluster, "node2 Ready again", lambda: _ready_since(cluster, "node2", restarted))
    _wait(cluster, "node3 Ready again", lambda: _ready_since(cluster, "node3", 0))

    # node1's route to node2's pods dropped (a blackhole: nothing leaves the node for it)
    pod_cidr = kubectl(cluster, "get node node2 -o jsonpath='{.spec.podCIDR}'").stdout.strip()
    route = ssh(cluster, "node1", f"ip route show {pod_cidr}").stdout.strip()
    assert route, "node1 has no route to node2's pods"
    ssh(cluster, "node1", f"ip route replace blackhole {pod_cidr}")
    try:
        broken = CliRunner().invoke(cli, ["verify", cluster.inventory])
    finally:
        ssh(cluster, "node1", f"ip route replace {route}")
    assert broken.exit_code == 9, broken.output
    pairs = re.search(r"^FAIL +function +pod-to-pod across nodes .*$", broken.output, re.M)
    assert pairs, broken.output
    # node2's pods still reach node1's: the bridge plugin masquerades pod traffic that leaves a node
    # (ipMasq), so node1 answers node2's address, which it still routes to.
    assert re.search(r"seen 5 of 6 answered; node1 -> node2 \([0-9.]+\): nc: timed out$", pairs.group(0)), pairs.group(0)
    assert "diagnostics of pod-to-pod across nodes:" in broken.output
    assert re.search(r"^PASS +api +nodes Ready", broken.output, re.M)
    assert _verify_namespaces(cluster) == []


def test_status_shows_the_nodes_the_etcd_members_and_the_last_run(cluster):
    last = last_record(cluster, mode="up")
    result = CliRunner().invoke(cli, ["status", cluster.inventory])
    assert result.exit_code == 0, result.output
    for node in cluster.nodes:
        assert re.search(rf"^{node} +\S+ +v1\.20\.2 +Ready ", result.output, re.M), result.output
        assert re.search(rf"^{node} +{node} +healthy ", result.output, re.M), result.output
    assert re.search(r"^node1 +control-plane,master ", result.output, re.M)
    assert len(re.findall(r"^node\d +node\d +healthy +yes ", result.output, re.M)) == 1  # one leader
    assert "3 of 3 healthy; quorum intact (2 needed)" in result.output
    assert "CPU and memory: no metrics API" in result.output
    assert f"last run: {last['id']} " in result.output  # status's own read is not a run of the cluster


def test_containerd_and_the_cni_plugins_upgrade_one_node_at_a_time_while_the_pods_keep_serving(
        cluster, test_image):
    """For real: containerd 1.6.20 (bookworm) -> 1.7.24 (trixie) and the CNI plugins of the bridge
    network plugin 1.1.1 (bookworm) -> sid's, from the lab's files repository, by re-running with a
    new containerd_version and cni_version. Each node's containerd restarts after the one before
    answers again; a pod on every node keeps its container (no restart) and their Service keeps
    answering throughout; the second run changes nothing; pods started afterwards get their
    network from the new plugins on every node and answer across nodes."""
    import threading

    from installer.lab import files_repo

    found = files_repo.manifest()
    newer, cni = found["newer"]["containerd"]["version"], found["newer"]["cni-plugins"]["version"]
    assert cni != found["components"]["cni-plugins"]["version"]
    with tarfile.open(Path(found["dir"]) / found["newer"]["cni-plugins"]["path"]) as release:
        new_bridge = hashlib.sha256(release.extractfile("./bridge").read()).hexdigest()
    ssh(cluster, "node1", f"sed 's/echo/steady/g' /var/tmp/echo.yaml > /var/tmp/steady.yaml && "
                          f"{KUBECTL} apply -f /var/tmp/steady.yaml >/dev/null")
    pods = "get pods -l app=steady -o jsonpath='{range .items[*]}{.metadata.name} " \
           "{.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount} " \
           "{.status.containerStatuses[0].state.running.startedAt}{\"\\n\"}{end}'"

    def running():
        """A running container on every node; the upgrade must leave each one as it was (a restart
        before the upgrade is none of its doing, so the baseline is what runs, not a restart count of 0)."""
        rows = [r.split() for r in kubectl(cluster, pods).stdout.split("\n") if r.strip()]
        return rows if len(rows) == len(cluster.nodes) and all(len(r) == 4 for r in rows) else None

    before = sorted(map(tuple, _wait(cluster, "a steady pod on every node", running)))
    service = kubectl(cluster, "get service steady -o jsonpath='{.spec.clusterIP}'").stdout.strip()
    stop, answers, failures = threading.Event(), [], []

    def ask():
        while not stop.is_set():
            result = ssh(cluster, "node2", question, check=False)
            (answers if result.returncode == 0 and result.stdout.strip() else failures).append(time.time())
            time.sleep(0.5)

    question = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {service} 80 | tail -n 1"
    _wait(cluster, "the steady Service answering", lambda: ssh(cluster, "node2", question, check=False).stdout.strip())
    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    inventory = Path(cluster.inventory)
    document = yaml.safe_load(inventory.read_text())
    assert newer in document["all"]["vars"]["containerd_archive_checksums"]["amd64"]  # the lab declares both
    assert cni in document["all"]["vars"]["cni_binary_checksums"]["amd64"]
    document["all"]["vars"]["containerd_version"] = newer
    document["all"]["vars"]["cni_version"] = cni
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    result = CliRunner().invoke(cli, ["up", cluster.inventory, "--yes", "--stages", "download,runtime",
                                      "--check-idempotent"])
    stop.set()
    asker.join()
    assert result.exit_code == 0, result.output
    assert "idempotent: the second run changed nothing" in result.output
    assert len(answers) > 5 and failures == [], (len(answers), failures)
    starts = []
    for node in cluster.nodes:
        version = ssh(cluster, node, "ctr version | awk '/^Server:/ {s=1} s && /Version:/ {print $2; exit}'").stdout
        assert version.strip().startswith(newer), (node, version)
        starts.append(int(ssh(cluster, node, "systemctl show containerd -p ExecMainStartTimestampMonotonic "
                                             "--value").stdout))
    starts.sort()
    assert all(later - earlier > 300_000 for earlier, later in itertools.pairwise(starts)), starts
    after = sorted(tuple(r.split()) for r in kubectl(cluster, pods).stdout.split("\n") if r.strip())
    assert after == before  # the same containers, never restarted
    for node in cluster.nodes:
        installed = ssh(cluster, node, "sha256sum /opt/cni/bin/bridge").stdout.split()[0]
        assert installed == new_bridge, node
    # New sandboxes, set up by the new plugins on every node, answer from another node.
    kubectl(cluster, "delete pods -l app=steady --wait=false --grace-period=1")  # httpd as PID 1 ignores SIGTERM
    fresh = "get pods -l app=steady -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase} " \
            "{.status.podIP}{\"\\n\"}{end}'"

    def replaced():
        rows = [r.split() for r in kubectl(cluster, fresh).stdout.split("\n") if r.strip()]
        running = [r for r in rows if len(r) == 3 and r[1] == "Running" and r[0] not in {b[0] for b in before}]
        return running if len(running) == len(cluster.nodes) and len(rows) == len(cluster.nodes) else None

    for name, _, ip in _wait(cluster, "a new steady pod Running on every node", replaced):
        answer = ssh(cluster, "node2", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {ip} 8080 | tail -n 1")
        assert answer.stdout.strip() == name, (name, ip, answer.stdout)
    kubectl(cluster, "delete -f /var/tmp/steady.yaml --wait=false")


def test_certs_check_lists_every_certificate_and_renew_replaces_kubeadms(cluster):
    checked = CliRunner().invoke(cli, ["certs", "check", cluster.inventory])
    assert checked.exit_code == 0, checked.output
    for host, file in (("node1", "/etc/kubernetes/pki/apiserver.crt"), ("node1", "/etc/kubernetes/admin.conf"),
                       ("node2", "/etc/etcd/pki/member.crt"), ("node3", "/var/lib/kubelet/pki/kubelet-client-current.pem")):
        assert re.search(rf"^{host} +\d+ .*{re.escape(file)}", checked.output, re.M), (host, file, checked.output)
    assert "EXPIRED" not in checked.output and "renew within" not in checked.output
    enddate = "openssl x509 -noout -enddate -in /etc/kubernetes/pki/apiserver.crt"
    before = ssh(cluster, "node1", enddate).stdout
    kubeconfig = next(Path(cluster.home).glob("clusters/*/kubeconfig/admin.conf"))
    old_kubeconfig = kubeconfig.read_bytes()
    time.sleep(1)  # openssl shows seconds: a renewed certificate ends later
    renewed = CliRunner().invoke(cli, ["certs", "renew", cluster.inventory, "--yes"])
    assert renewed.exit_code == 0, renewed.output
    assert ssh(cluster, "node1", enddate).stdout != before
    assert kubeconfig.read_bytes() != old_kubeconfig and kubeconfig.stat().st_mode & 0o777 == 0o600
    assert kubectl(cluster, "get --raw /readyz").stdout == "ok"


def _api_outages(kubeconfig, stop, seen):
    """Every second until stop: whether the API answered a read (seen: (time, answered))."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    while not stop.is_set():
        started = time.monotonic()
        try:
            api.list_namespace(limit=1, _request_timeout=3)
            seen.append((started, True))
        except Exception:  # noqa: BLE001 - any failure to answer is an outage
            seen.append((started, False))
        stop.wait(max(0.0, 1 - (time.monotonic() - started)))


# The HTTP status a request without credentials gets, asked on a lab node (it has no curl).
_STATUS_OF = """import ssl, urllib.error, urllib.request
def status(url):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        return urllib.request.urlopen(url, timeout=10, context=context).status
    except urllib.error.HTTPError as error:
        return error.code"""


def _longest_outage(seen) -> float:
    longest, since = 0.0, None
    for at, answered in seen:
        if not answered and since is None:
            since = at
        elif answered and since is not None:
            longest, since = max(longest, at - since), None
    return longest if since is None else float("inf")


def _stored(lab, key) -> bytes:
    """The first bytes of a key's value as etcd stores it (read on node1, an etcd member)."""
    out = ssh(lab, "node1", f"etcdctl.sh get {key} --print-value-only | head -c 26 | base64 -w0").stdout
    return base64.b64decode(out)


def test_day_two_settings_are_turned_on_by_a_rerun_and_verify_fails_each_when_broken(cluster):
    """kubernetes_audit, kube_encrypt_secret_data, remove_anonymous_access and auto_renew_certificates
    set on the running cluster and `up` run again: only the control plane changes (its
    configuration, kubeadm's record of it, the API server's manifest, the anonymous role binding,
    the Secrets rewritten, the renewal timer), the API answers a request every second but for the
    API server's one restart; the next runs (the rotation's second run below, and the full run
    that adds node3 back in a later test) change nothing of it. Then the timer's service, started
    as the timer would, renews the certificates and the API answers; `certs check` says when the next
    renewal is; a Secret made before is encrypted in etcd and still reads back; a request the test
    makes is in the audit log and a Secret's data is not; requests without credentials are refused
    by the API server and by kubelet; `kinstall verify` passes the four checks, and fails each when
    it is broken: the timer disabled, the anonymous binding put back by hand, the audit log moved
    away, a plaintext Secret put in etcd. Last, a new kube_encrypt_token rotates the key: only the
    control plane's encryption tasks change, and a second run nothing."""
    import threading

    marker = f"kinstall-test-{int(time.time())}"
    kubectl(cluster, f"create secret generic before-{marker} --from-literal=word=kept-{marker}")
    key = f"/registry/secrets/default/before-{marker}"
    assert _stored(cluster, key).startswith(b"k8s\x00"), _stored(cluster, key)  # plaintext protobuf
    inventory = Path(cluster.inventory)
    document = yaml.safe_load(inventory.read_text())
    document["all"]["vars"].update(kubernetes_audit=True, remove_anonymous_access=True, kube_encrypt_secret_data=True,
                                   auto_renew_certificates=True)
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    kubeconfig = next(Path(cluster.home).glob("clusters/*/kubeconfig/admin.conf"))
    stop, seen = threading.Event(), []
    prober = threading.Thread(target=_api_outages, args=(kubeconfig, stop, seen), daemon=True)
    prober.start()
    try:
        result = CliRunner().invoke(cli, ["up", cluster.inventory, "--yes"])
    finally:
        stop.set()
        prober.join()
    assert result.exit_code == 0, result.output
    changed = {(t["host"], t["stage"], t["task"]) for t in last_record(cluster, mode="up")["tasks"] if t["changed"]}
    assert {(host, stage) for host, stage, _ in changed} == {("node1", "control-plane")}, changed
    assert {task for *_, task in changed} == {
        "Install the etcd client certificate, kubeadm's configuration, the audit policy and the encryption configuration",
        "Anonymous requests read cluster-info only while remove_anonymous_access is false",
        "Keep kubeadm's record of the cluster's configuration in step (the kubeadm-config ConfigMap)",
        "Regenerate the API server's manifest, and wait for kubelet to restart it when it changed",
        "Keep what it was made from", "Rewrite every object of kube_encryption_resources through the API",
        "Keep which configuration they were rewritten for", "Install the certificate renewal timer",
        "Start the certificate renewal timer now and at boot"}, changed
    outage = _longest_outage(seen)
    print(f"API outage while the API server restarted: {outage:.1f} s of {len(seen)} one-second probes")
    assert len(seen) > 30 and outage < 90, (outage, len(seen))
    running = ssh(cluster, "node1", "tr '\\0' ' ' < /proc/$(pgrep -x kube-apiserver)/cmdline").stdout
    assert "--audit-policy-file=/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml" in running, running

    # The renewal timer's service, started by hand as the timer would: new certificates, and the API answers.
    serial = "openssl x509 -noout -serial -in /etc/kubernetes/pki/apiserver.crt"
    before = ssh(cluster, "node1", serial).stdout
    ssh(cluster, "node1", "systemctl start --no-block kinstall-certs-renew.service")
    done = "systemctl show kinstall-certs-renew.service --property=ActiveState,Result,ExecMainStatus"
    _wait(cluster, "the renewal to finish", lambda: set(ssh(cluster, "node1", done).stdout.split()) == {
        "Result=success", "ExecMainStatus=0", "ActiveState=inactive"} and ssh(cluster, "node1", serial).stdout != before)
    assert kubectl(cluster, "get --raw /readyz").stdout == "ok"
    # kubelet reports the restarted static pods Ready after their startup probes (10 s apart)
    ready = "get pods -n kube-system -o jsonpath='{.items[*].status.conditions[?(@.type==\"Ready\")].status}'"
    _wait(cluster, "the control plane's pods Ready again", lambda: set(kubectl(cluster, ready).stdout.split()) == {"True"})
    checked = CliRunner().invoke(cli, ["certs", "check", cluster.inventory])
    assert re.search(r"^automatic renewal: node1 next \w{3} \d{4}-\d\d-\d\d 03:00:00 ", checked.output, re.M), checked.output
    # The Secret made before is stored encrypted, and reads back as it was.
    assert _stored(cluster, key).startswith(b"k8s:enc:secretbox:v1:key1:"), _stored(cluster, key)
    word = kubectl(cluster, f"get secret before-{marker} -o jsonpath='{{.data.word}}'").stdout
    assert base64.b64decode(word).decode() == f"kept-{marker}"
    assert ssh(cluster, "node1", "stat -c %a /etc/kubernetes/pki/secrets_encryption.yaml").stdout.strip() == "600"
    # The audit log has the request the test makes, and never a Secret's data.
    kubectl(cluster, f"get configmap {marker} --ignore-not-found")
    kubectl(cluster, f"create secret generic {marker} --from-literal=word=never-in-the-log-{marker}")
    log = "/var/log/kubernetes/audit/kube-apiserver-audit.log"
    audited = ssh(cluster, "node1", f"grep -c {marker} {log}; grep -c never-in-the-log {log}; "
                                    f"grep -c {base64.b64encode(f'never-in-the-log-{marker}'.encode()).decode()} {log}; "
                                    f"stat -c %a {log.rsplit('/', 1)[0]}", check=False).stdout.split()
    assert int(audited[0]) >= 2 and audited[1:] == ["0", "0", "700"], audited
    kubectl(cluster, f"delete secret {marker}")
    # Without credentials: refused by the API server (kube-public's cluster-info too) and by kubelet.
    asked = ("https://node1:6443/api/v1/namespaces/kube-public/configmaps/cluster-info", "https://127.0.0.1:10250/pods")
    answers = ssh(cluster, "node2", "python3 - <<'EOF'\n" + _STATUS_OF + f"\nfor url in {asked!r}: print(status(url))\nEOF"
                  ).stdout.split()
    assert answers == ["403", "401"], answers

    verified = CliRunner().invoke(cli, ["verify", cluster.inventory, "--skip-function"])
    assert verified.exit_code == 0, verified.output
    assert re.search(r"^PASS +infrastructure +audit log \(node1\) ", verified.output, re.M), verified.output
    for node in cluster.nodes:
        assert re.search(rf"^PASS +infrastructure +anonymous requests refused \({node}\) ", verified.output, re.M)
    assert re.search(r"^PASS +infrastructure +Secrets encrypted at rest \(node1\) .*each encrypted with secretbox$",
                     verified.output, re.M), verified.output
    assert re.search(r"^PASS +infrastructure +certificate renewal timer \(node1\) .*timer active, next renewal ",
                     verified.output, re.M), verified.output
    plain = "/registry/secrets/default/kinstall-plaintext"
    binding = "rolebinding kubeadm:bootstrap-signer-clusterinfo -n kube-public"
    kubectl(cluster, f"create {binding} --role kubeadm:bootstrap-signer-clusterinfo --user system:anonymous")
    ssh(cluster, "node1", f"mv {log} {log}.moved; systemctl disable --now kinstall-certs-renew.timer")
    # A Secret's plaintext form (kubectl's, as the API server would store it unencrypted) put in etcd by hand.
    ssh(cluster, "node1", f"{KUBECTL} get secret before-{marker} -o json | sed 's/before-{marker}/kinstall-plaintext/' "
                          f"> /var/tmp/plain.json && etcdctl.sh put {plain} < /var/tmp/plain.json >/dev/null")
    try:
        broken = CliRunner().invoke(cli, ["verify", cluster.inventory, "--skip-function"])
    finally:
        kubectl(cluster, f"delete {binding}")
        ssh(cluster, "node1", f"mv {log}.moved {log}; etcdctl.sh del {plain} >/dev/null; rm -f /var/tmp/plain.json; "
                              "systemctl enable --now kinstall-certs-renew.timer")
    assert broken.exit_code == 9, broken.output
    assert re.search(r"^FAIL +infrastructure +anonymous requests refused \(node1\) .*cluster-info answered 200$",
                     broken.output, re.M), broken.output
    assert re.search(r"^PASS +infrastructure +anonymous requests refused \(node2\) ", broken.output, re.M)
    assert re.search(r"^FAIL +infrastructure +audit log \(node1\) .*No such file", broken.output, re.M), broken.output
    assert re.search(r"^FAIL +infrastructure +certificate renewal timer \(node1\) .*seen kinstall-certs-renew.timer "
                     r"disabled, inactive$", broken.output, re.M), broken.output
    assert re.search(rf"^FAIL +infrastructure +Secrets encrypted at rest \(node1\) .*seen 1 of \d+ not: {plain}$",
                     broken.output, re.M), broken.output
    assert "encryption/token" in _cluster_secrets(cluster)  # the key kinstall made, kept with the cluster's secrets

    # A rotation: a new kube_encrypt_token and the control-plane stage run again. The API server
    # restarts for the new configuration alone (its manifest names the file, not its content); the
    # new key writes, the one before still reads, and every Secret is rewritten with the new key.
    document["all"]["vars"]["kube_encrypt_token"] = secrets.token_hex(16)
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    started = ssh(cluster, "node1", "pgrep -x kube-apiserver").stdout.split()
    rotated = CliRunner().invoke(cli, ["up", cluster.inventory, "--yes", "--stages", "control-plane",
                                       "--check-idempotent"])
    del document["all"]["vars"]["kube_encrypt_token"]  # the cluster keeps it: the next runs need it no more
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    assert rotated.exit_code == 0 and "idempotent: the second run changed nothing" in rotated.output, rotated.output
    changed = {(t["host"], t["task"]) for t in last_record(cluster, mode="up")["tasks"] if t["changed"]}
    assert changed == {("node1", task) for task in (
        "Install the etcd client certificate, kubeadm's configuration, the audit policy and the encryption configuration",
        "Keep kubeadm's record of the cluster's configuration in step (the kubeadm-config ConfigMap)",
        "Regenerate the API server's manifest, and wait for kubelet to restart it when it changed",
        "Keep what it was made from", "Rewrite every object of kube_encryption_resources through the API",
        "Keep which configuration they were rewritten for")}, changed
    assert ssh(cluster, "node1", "pgrep -x kube-apiserver").stdout.split() != started
    listed = ssh(cluster, "node1", "grep -o '\"name\": \"key[0-9]\"' /etc/kubernetes/pki/secrets_encryption.yaml").stdout
    assert listed.split() == ['"name":', '"key2"', '"name":', '"key1"'], listed
    assert _stored(cluster, key).startswith(b"k8s:enc:secretbox:v1:key2:"), _stored(cluster, key)
    word = kubectl(cluster, f"get secret before-{marker} -o jsonpath='{{.data.word}}'").stdout
    assert base64.b64decode(word).decode() == f"kept-{marker}"
    assert {"encryption/keys.json#key1", "encryption/keys.json#key2"} <= set(_cluster_secrets(cluster))
    kubectl(cluster, f"delete secret before-{marker}")
    _no_secret_on_the_controller(cluster, [cluster.home], [result.output, checked.output, verified.output,
                                                           broken.output, rotated.output])


def _etcd_members(lab, node="node1"):
    return sorted(line.split(", ")[2] for line in ssh(lab, node, "etcdctl.sh member list").stdout.splitlines())


def test_remove_node_drains_deletes_and_resets_a_worker_that_is_an_etcd_member(cluster):
    unconfirmed = CliRunner().invoke(cli, ["remove-node", cluster.inventory, "node3"])
    assert unconfirmed.exit_code == 2 and _etcd_members(cluster) == ["node1", "node2", "node3"]
    result = CliRunner().invoke(cli, ["remove-node", cluster.inventory, "node3", "--yes"])
    assert result.exit_code == 0, result.output
    names = kubectl(cluster, "get nodes -o jsonpath='{.items[*].metadata.name}'").stdout.split()
    assert sorted(names) == ["node1", "node2"]
    assert _etcd_members(cluster) == ["node1", "node2"]
    health = ssh(cluster, "node1", "etcdctl.sh endpoint health --cluster 2>&1").stdout
    assert health.count("is healthy") == 2, health
    # /var/lib/containerd is a volume of its own on the lab's nodes: emptied, not removed.
    left = ssh(cluster, "node3", "ls -d /etc/kubernetes /var/lib/etcd 2>/dev/null; ls -A /var/lib/containerd; "
                                 "systemctl is-active kubelet etcd containerd | grep -x active; true").stdout
    assert left.strip() == ""
    only = CliRunner().invoke(cli, ["remove-node", cluster.inventory, "node1", "--yes"])
    assert only.exit_code == 1 and "node1 is the cluster's only control plane" in only.output


def test_up_adds_the_host_back_touching_nothing_on_the_others(cluster):
    """Scale: the reset node3 is still in the inventory, so `up` joins it again (etcd member and
    worker), even while node2 cannot be reached over SSH, once the user leaves node2 out. On node1
    only what a new member needs changes: its etcd membership, its join token and the route to its
    pods; nothing of its own is installed again or restarted, and node2 is not contacted."""
    container = cluster.containers["node2"]
    # sshd stopped, and its open sessions (SSH multiplexing masters among them) ended with it.
    subprocess.run(["podman", "exec", container, "sh", "-c", "systemctl stop ssh.service && pkill -x sshd; true"],
                   check=True, capture_output=True)
    try:
        blocked = CliRunner().invoke(cli, ["up", cluster.inventory, "--yes"])
        assert blocked.exit_code == 3, blocked.output
        assert "UNREACHABLE node2" in blocked.output
        assert f"or leave node2 out (not contacted, finished by a later run): kinstall up {cluster.inventory} " \
               "--exclude node2" in blocked.output
        assert ssh(cluster, "node3", "test -e /etc/kubernetes/kubelet.conf", check=False).returncode != 0

        result = CliRunner().invoke(cli, ["up", cluster.inventory, "--yes", "--exclude", "node2"])
        assert result.exit_code == 0, result.output
        assert "left out of this run: node2 (not contacted" in result.output
    finally:
        subprocess.run(["podman", "exec", container, "systemctl", "start", "ssh.service"], capture_output=True)
    tasks = last_record(cluster)["tasks"]
    assert not [t for t in tasks if t["host"] == "node2"], "node2 was contacted"
    assert any(t["changed"] and t["host"] == "node3" and t["stage"] == "nodes" for t in tasks)
    others = [(t["stage"], t["task"]) for t in tasks if t["changed"] and t["host"] != "node3"]
    assert {stage for stage, _ in others} <= {"etcd", "nodes", "network"}, others
    assert not [task for _, task in others if "estart" in task], others
    assert _etcd_members(cluster) == ["node1", "node2", "node3"]
    ready = ("get node node3 -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'")
    _wait(cluster, "node3 Ready again", lambda: kubectl(cluster, ready, check=False).stdout == "True")
    # node2 back: a run with it finishes what it missed (the route to node3's pods), and only that.
    again = CliRunner().invoke(cli, ["up", cluster.inventory, "--yes"])
    assert again.exit_code == 0, again.output
    changed = {(t["host"], t["stage"]) for t in last_record(cluster)["tasks"] if t["changed"]}
    assert changed <= {("node2", "network"), ("node2", "os")}, changed


def test_reset_wipes_every_host_and_a_second_reset_changes_nothing(cluster):
    """Runs last: `kinstall reset` leaves no Kubernetes, etcd or containerd on any node (files,
    services, ports, mounts beneath their directories, pod bridge, kube-proxy's chains, /etc/hosts
    block), empties but keeps /var/lib/containerd, which is a volume of its own on the lab's nodes
    (as a disk may be on a real host); a second reset changes nothing; `up` then builds the
    cluster anew, every node Ready. What kinstall did not put there stays: a file planted by hand in
    /usr/local, one in the release directory, a command of a name kinstall uses in /usr/local/bin."""
    planted = "/usr/local/keep-me /var/cache/kinstall/releases/mine.txt /usr/local/bin/crictl"
    for node in cluster.nodes:
        ssh(cluster, node, f"for f in {planted}; do echo planted > $f; done")
    unconfirmed = CliRunner().invoke(cli, ["reset", cluster.inventory])
    assert unconfirmed.exit_code == 2 and kubectl(cluster, "get nodes", check=False).returncode == 0
    result = CliRunner().invoke(cli, ["reset", cluster.inventory, "--yes"])
    assert result.exit_code == 0, result.output
    paths = ("/etc/kubernetes /var/lib/kubelet /etc/etcd /var/lib/etcd /etc/containerd "
             "/etc/cni/net.d /opt/cni/bin /usr/local/lib/kinstall /usr/local/bin/kubelet /usr/local/bin/etcd "
             "/usr/local/bin/etcdctl.sh /etc/systemd/system/kubelet.service /etc/systemd/system/containerd.service")
    for node in cluster.nodes:
        kept = ssh(cluster, node, f"cat {planted}; ls -A /var/cache/kinstall/releases").stdout.split()
        assert kept == ["planted", "planted", "planted", "mine.txt"], (node, kept)
    for node in cluster.nodes:
        probe = (f"ls -d {paths} 2>/dev/null; ss -Hltn '( sport = :6443 or sport = :2379 or sport = :10250 )'; "
                 "systemctl is-active kubelet containerd etcd 2>/dev/null | grep -x active; "
                 "ip -o link show cni0 2>/dev/null; iptables-save | grep -m1 KUBE-; "
                 "grep '^# BEGIN kinstall cluster hosts' /etc/hosts; "
                 "ls -A /var/lib/containerd; mountpoint -q /var/lib/containerd || echo volume gone; "
                 "grep -E ' /(var/lib/kubelet|run/containerd)[ /]| /var/lib/containerd/' /proc/self/mounts; "
                 "pgrep -x containerd-shim; true")
        assert ssh(cluster, node, probe).stdout.strip() == "", node
    assert not list(Path(cluster.home).glob("clusters/*/kubeconfig/admin.conf"))

    again = CliRunner().invoke(cli, ["reset", cluster.inventory, "--yes"])
    assert again.exit_code == 0, again.output
    assert not [t for t in last_record(cluster)["tasks"] if t["changed"]], "a second reset changed something"
    for node in cluster.nodes:
        ssh(cluster, node, f"rm -f {planted}")

    rebuilt = CliRunner().invoke(cli, ["up", cluster.inventory, "--yes"])
    assert rebuilt.exit_code == 0, rebuilt.output

    def all_ready():
        lines = kubectl(cluster, "get nodes --no-headers", check=False).stdout.splitlines()
        return sorted(line.split()[0] for line in lines if " Ready " in line) == sorted(cluster.nodes)

    _wait(cluster, "every node Ready after the rebuild", all_ready)

