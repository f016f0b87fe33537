"""The addons' manifests (CoreDNS, NFS, Ceph CSI, metrics-server), rendered by Ansible's own
templating from an inventory that declares them all, for every Kubernetes release kinstall
supports, and validated strictly against that release's API schemas. None of these ran on a
cluster: no image of them exists where kinstall is built (the README says so)."""

import json

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader
from ansible.template import Templar, trust_as_template

from installer import images, releases
from installer.inventory.validate import validate
from installer.runner import engine
from tests import kube_schemas
from tests.paths import FIXTURES, ROLES

filter_loader.add_directory(str(ROLES / "kinstall_lib" / "filter_plugins"))
INVENTORY = FIXTURES / "valid-storage-classes" / "hosts.yaml"
# The newest patch of each minor kinstall supports.
MINORS = list({release.minor: release for release in releases.supported().values()}.values())
# Ceph CSI and metrics-server as pinned need a current release (validate refuses them elsewhere).
CURRENT_ONLY = {"ceph-csi.yaml", "ceph-csi-secret.yaml", "metrics-server.yaml"}
TEMPLATES = ["coredns.yaml", "dns-autoscaler.yaml", "nodelocaldns.yaml", "nfs.yaml", "ceph-csi-secret.yaml", "ceph-csi.yaml",
             "metrics-server.yaml"]


def variables(release, **settings):
    result = validate(INVENTORY)
    cluster = result.cluster
    cluster.release = release
    cluster.settings.update(kube_version=release.version, **settings)
    values = engine.extravars(cluster, "test-run")
    # Secret settings reach Ansible from the inventory itself, not as extra variables.
    values.update({k: cluster.settings[k] for k in engine.SECRET_SETTINGS if cluster.settings.get(k)})
    hostvars = {host: {key: value for key, (value, _) in result.inventory.resolve(host).items()}
                for host in cluster.hosts}
    values.update(groups={"all": list(cluster.hosts), **cluster.groups}, hostvars=hostvars, ansible_managed="test")
    return cluster, values


def render(template, values):
    text = (ROLES / "addons" / "templates" / (template + ".j2")).read_text()
    rendered = Templar(loader=DataLoader(), variables=values).template(trust_as_template(text))
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


CASES = [(t, r) for r in MINORS for t in TEMPLATES if r.status == "current" or t not in CURRENT_ONLY]


@pytest.mark.parametrize(("template", "release"), CASES, ids=[f"{t}-{r.version}" for t, r in CASES])
def test_every_addon_object_validates_for_the_release(template, release):
    cluster, values = variables(release)
    objects = render(template, values)
    assert objects
    for obj in objects:
        kube_schemas.validate(obj, release.version)
    pinned = set(images.references(cluster).values())
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        assert {c["image"] for c in pod.get("containers", [])} <= pinned


def test_coredns_answers_at_the_clusters_dns_address_with_the_releases_image():
    for release, image in (("1.36", "registry.k8s.io/coredns/coredns:v1.13.1"),
                           ("1.21", "registry.k8s.io/coredns/coredns:v1.8.0"), ("1.15", "registry.k8s.io/coredns:1.3.1")):
        newest = next(r for r in reversed(MINORS) if r.minor == release)
        _, values = variables(newest, upstream_dns_servers=["192.0.2.53"], enable_dns_autoscaler=False)
        objects = {(o["kind"], o["metadata"]["name"]): o for o in render("coredns.yaml", values)}
        assert objects["Service", "kube-dns"]["spec"]["clusterIP"] == "10.233.0.10"
        deployment = objects["Deployment", "coredns"]["spec"]
        assert deployment["template"]["spec"]["containers"][0]["image"] == image
        assert deployment["replicas"] == 2
        assert "forward . 192.0.2.53 {" in objects["ConfigMap", "coredns"]["data"]["Corefile"]
        assert "kubernetes cluster.local in-addr.arpa ip6.arpa" in objects["ConfigMap", "coredns"]["data"]["Corefile"]


def test_node_local_dns_caches_on_every_node_and_asks_coredns_for_the_clusters_names():
    _, values = variables(MINORS[-1], upstream_dns_servers=["192.0.2.53"], dns_domain="corp.example")
    objects = {(o["kind"], o["metadata"]["name"]): o for o in render("nodelocaldns.yaml", values)}
    corefile = objects["ConfigMap", "nodelocaldns"]["data"]["Corefile"]
    zones = [line.split()[0] for line in corefile.splitlines() if line.endswith("{") and not line.startswith(" ")]
    assert zones == ["corp.example:53", "in-addr.arpa:53", "ip6.arpa:53", ".:53"]
    assert corefile.count("bind 169.254.25.10") == 4
    assert corefile.count("forward . 10.233.0.10 {") == 3 and "forward . 192.0.2.53" in corefile
    assert "health 169.254.25.10:9254" in corefile
    pod = objects["DaemonSet", "nodelocaldns"]["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "Default"
    assert pod["containers"][0]["image"] == "registry.k8s.io/dns/k8s-dns-node-cache:1.25.0"
    assert pod["containers"][0]["args"][:2] == ["-localip", "169.254.25.10"]


def test_storage_classes_are_backed_and_one_is_default():
    _, values = variables(MINORS[-1])
    objects = [o for t in ("nfs.yaml", "ceph-csi.yaml") for o in render(t, values)]
    classes = {o["metadata"]["name"]: o for o in objects if o["kind"] == "StorageClass"}
    assert set(classes) == {"shared", "archive", "ceph-rbd", "cephfs"}
    defaults = [n for n, c in classes.items() if c["metadata"].get("annotations", {}).get(
        "storageclass.kubernetes.io/is-default-class") == "true"]
    assert defaults == ["shared"]
    assert classes["archive"]["reclaimPolicy"] == "Retain"
    shared = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "nfs-provisioner-shared")
    assert shared["spec"]["template"]["spec"]["volumes"][0]["nfs"] == {"server": "192.0.2.1", "path": "/export/k8s"}
    assert classes["ceph-rbd"]["parameters"]["pool"] == "kubernetes"
    assert classes["cephfs"]["parameters"]["fsName"] == "k8sfs"
    config = json.loads(next(o for o in objects if o["metadata"]["name"] == "ceph-csi-config")["data"]["config.json"])
    assert config == [{"clusterID": "9f1d3c52-6c1e-4f4b-9d7e-2b8f0a3c1e55",
                       "monitors": ["192.0.2.61", "192.0.2.62:6789"]}]
    drivers = {o["metadata"]["name"] for o in objects if o["kind"] == "CSIDriver"}
    assert drivers == {"rbd.csi.ceph.com", "cephfs.csi.ceph.com"}


def test_the_ceph_key_lives_only_in_its_secret():
    _, values = variables(MINORS[-1])
    key = values["ceph_csi_user_key"]
    assert key not in yaml.safe_dump_all(render("ceph-csi.yaml", values))
    (secret,) = render("ceph-csi-secret.yaml", values)
    assert secret["kind"] == "Secret" and secret["stringData"]["userKey"] == key
    tasks = (ROLES / "addons" / "tasks" / "main.yml").read_text()
    assert "addons_manifest: ceph-csi-secret.yaml\n    addons_manifest_secret: true" in tasks


def test_the_dns_autoscaler_owns_corednss_replicas():
    _, values = variables(MINORS[-1])
    autoscaler = {(o["kind"], o["metadata"]["name"]): o for o in render("dns-autoscaler.yaml", values)}
    command = autoscaler["Deployment", "dns-autoscaler"]["spec"]["template"]["spec"]["containers"][0]["command"]
    params = json.loads(next(c for c in command if c.startswith("--default-params=")).split("=", 1)[1])
    assert params == {"linear": {"preventSinglePointFailure": True, "coresPerReplica": 256, "nodesPerReplica": 16,
                                 "min": 2}}
    assert "--target=Deployment/coredns" in command
    coredns = {(o["kind"], o["metadata"]["name"]): o for o in render("coredns.yaml", values)}
    assert "replicas" not in coredns["Deployment", "coredns"]["spec"]  # a re-apply must not undo the autoscaler
    _, values = variables(MINORS[-1], enable_dns_autoscaler=False)
    coredns = {(o["kind"], o["metadata"]["name"]): o for o in render("coredns.yaml", values)}
    assert coredns["Deployment", "coredns"]["spec"]["replicas"] == 2
