"""The Kubernetes roles' templates and filters, rendered by Ansible's own templating for every
release kinstall supports: kubeadm's configuration in the form its API version takes (v1beta2,
v1beta3, v1beta4), checked against kubeadm's published types (tests/schemas/kubeadm.yml), the
join configuration, the inventory's taints and labels."""

import base64
import importlib.util

import jsonschema
import kubernetes_validate
import pytest
import yaml
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader
from ansible.template import Templar, trust_as_template

from installer import releases
from tests import kube_schemas
from tests.paths import ROLES, ROOT

FILTERS = ROLES / "kinstall_lib" / "filter_plugins"
filter_loader.add_directory(str(FILTERS))
# The newest patch release of each minor kinstall supports.
MINORS = list({release.minor: release for release in releases.supported().values()}.values())


def render(template: str, **variables) -> list[dict]:
    text = (ROLES / template).read_text()
    rendered = Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def init_vars(release) -> dict:
    return dict(kinstall_kubeadm_api=release.kubeadm_api, kubelet_cri_socket="/run/containerd/containerd.sock",
                control_plane_address="10.0.0.1", kube_apiserver_port=6443, inventory_hostname="cp1",
                control_plane_taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                control_plane_kubelet_args={"node-ip": "10.0.0.1", "node-labels": "zone=a"},
                control_plane_certificate_key="ab" * 32, cluster_name="cluster.local", kube_version=release.version,
                control_plane_endpoint="10.0.0.1:6443", kube_pods_subnet="10.233.64.0/18",
                kube_service_addresses="10.233.0.0/18", control_plane_etcd_endpoints=["https://10.0.0.1:2379"],
                control_plane_cert_sans=["10.0.0.1", "cp1"], kube_network_node_prefix=24,
                control_plane_cgroup_driver="systemd", kubelet_fail_swap_on=True, kubelet_max_pods=110,
                kubelet_protect_kernel_defaults=False, kube_proxy_mode="iptables", kube_proxy_conntrack_max_per_core=0,
                dns_domain="cluster.local", kube_log_level=2, kube_feature_gates=[], kube_proxy_strict_arp=False,
                kube_proxy_nodeport_addresses=[], dns_mode="coredns", enable_nodelocaldns=True,
                nodelocaldns_ip="169.254.25.10", control_plane_apiserver_args={}, control_plane_apiserver_volumes=[])


def render_join(release, control_plane: bool, file_discovery: bool = False) -> list[dict]:
    """The join configuration of host n2 (a control plane or a worker) for the release's API."""
    return render("kubeadm_join/templates/kubeadm-join.yaml.j2", kinstall_kubeadm_api=release.kubeadm_api,
                  kubeadm_join_file_discovery=file_discovery, kubeadm_join_discovery_file="/etc/kubernetes/d.conf",
                  kubelet_cri_socket="/run/containerd/containerd.sock", inventory_hostname="n2",
                  kubeadm_join_endpoint="10.0.0.1:6443", kubeadm_join_token="abcdef.0123456789abcdef",
                  kubeadm_join_ca_hash="sha256:" + "0" * 64, kubeadm_join_taints=[],
                  kubeadm_join_kubelet_args={"node-ip": "10.0.0.2"}, kubeadm_join_control_plane=control_plane,
                  kubeadm_join_address="10.0.0.2", kube_apiserver_port=6443, kubeadm_join_certificate_key="cd" * 32)


def render_vars(path: str, **variables) -> dict:
    """The API server's flags and mounts as the role's vars/main.yml works them out."""
    defined = yaml.safe_load((ROLES / path).read_text())
    templar = Templar(loader=DataLoader(), variables={**defined, **variables})
    return {name: templar.template(trust_as_template(defined[name]))
            for name in ("control_plane_apiserver_args", "control_plane_apiserver_volumes")}


def _args(value, api):
    """kubeadm's extra arguments: a map up to v1beta3, a list of {name, value} from v1beta4."""
    if api.endswith("v1beta4"):
        assert isinstance(value, list) and all(set(item) == {"name", "value"} for item in value), value
        return {item["name"]: item["value"] for item in value}
    assert isinstance(value, dict), value
    return value


@pytest.mark.parametrize("release", MINORS, ids=lambda r: r.version)
def test_kubeadm_init_configuration_takes_the_form_of_its_api_version(release):
    init, cluster, kubelet, proxy = render("control_plane/templates/kubeadm-config.yaml.j2", **init_vars(release))
    api = release.kubeadm_api
    assert (init["apiVersion"], init["kind"]) == (api, "InitConfiguration")
    assert (cluster["apiVersion"], cluster["kind"]) == (api, "ClusterConfiguration")
    socket = init["nodeRegistration"]["criSocket"]
    assert socket == ("/run/containerd/containerd.sock" if api.endswith("v1beta2")
                      else "unix:///run/containerd/containerd.sock")
    assert _args(init["nodeRegistration"]["kubeletExtraArgs"], api) == {"node-ip": "10.0.0.1", "node-labels": "zone=a"}
    assert _args(cluster["controllerManager"]["extraArgs"], api) == {"node-cidr-mask-size": "24", "v": "2"}
    assert _args(cluster["apiServer"]["extraArgs"], api) == _args(cluster["scheduler"]["extraArgs"], api) == {"v": "2"}
    assert cluster["kubernetesVersion"] == f"v{release.version}"
    assert cluster["etcd"]["external"]["endpoints"] == ["https://10.0.0.1:2379"]
    assert cluster["networking"] == {"dnsDomain": "cluster.local", "podSubnet": "10.233.64.0/18",
                                     "serviceSubnet": "10.233.0.0/18"}
    assert len(init["certificateKey"]) == 64
    assert kubelet["kind"] == "KubeletConfiguration" and kubelet["cgroupDriver"] == "systemd"
    assert kubelet["failSwapOn"] is True and kubelet["protectKernelDefaults"] is False
    assert proxy["kind"] == "KubeProxyConfiguration" and proxy["conntrack"] == {"maxPerCore": 0}


@pytest.mark.parametrize("release", MINORS, ids=lambda r: r.version)
@pytest.mark.parametrize("control_plane", [True, False], ids=["control-plane", "worker"])
def test_join_configuration_carries_the_token_and_the_control_plane_part_only_for_control_planes(
        release, control_plane):
    (join,) = render_join(release, control_plane)
    assert (join["apiVersion"], join["kind"]) == (release.kubeadm_api, "JoinConfiguration")
    assert join["discovery"]["bootstrapToken"] == {"apiServerEndpoint": "10.0.0.1:6443",
                                                    "token": "abcdef.0123456789abcdef",
                                                    "caCertHashes": ["sha256:" + "0" * 64]}
    assert _args(join["nodeRegistration"]["kubeletExtraArgs"], release.kubeadm_api) == {"node-ip": "10.0.0.2"}
    assert ("controlPlane" in join) is control_plane
    if control_plane:
        assert join["controlPlane"]["certificateKey"] == "cd" * 32


def _filters():
    spec = importlib.util.spec_from_file_location("kinstall_kubernetes", FILTERS / "kinstall_kubernetes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()


def test_taints_and_labels_from_the_inventory():
    filters = _filters()
    taints = filters["kinstall_taints"]
    assert taints(["dedicated=gpu:NoSchedule", "spot:PreferNoSchedule"]) == [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}, {"key": "spot", "effect": "PreferNoSchedule"}]
    with pytest.raises(AnsibleError, match="'gpu' is not key=value:Effect"):
        taints(["gpu"])
    assert filters["kinstall_labels"]({"zone": "a", "disk": "ssd"}) == "disk=ssd,zone=a"
    master = filters["kinstall_control_plane_taint"]
    assert master("1.20.2")["key"] == "node-role.kubernetes.io/master"
    assert master("1.36.4")["key"] == "node-role.kubernetes.io/control-plane"
    assert filters["kinstall_rows"](["n1 10.0.0.0/24 1.1.1.1", "n2  2.2.2.2"], 3) == {
        "n1": ["10.0.0.0/24", "1.1.1.1"]}


CURRENT = [release for release in MINORS if release.status == "current"]


@pytest.mark.parametrize("release", CURRENT, ids=lambda r: r.version)
def test_local_volume_manifests_validate_against_the_release_schemas(release):
    dirs = ["fast /mnt/disks/vol1 1000000", "fast /mnt/disks/My_Vol 5"]
    hostvars = {"node2": {"addons_local_dirs": {"stdout_lines": dirs}},
                "node3": {"addons_local_dirs": {"stdout_lines": []}}}
    objects = render("addons/templates/local-volumes.yaml.j2", ansible_play_hosts=["node3", "node2"],
                     hostvars=hostvars, ansible_managed="test",
                     local_volume_provisioner_storage_classes={"fast": {"host_dir": "/mnt/disks", "is_default": True}})
    for obj in objects:
        kubernetes_validate.validate(obj, release.version, strict=True)
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert kinds == [("StorageClass", "fast"), ("PersistentVolume", "local-node2-vol1"),
                     ("PersistentVolume", "local-node2-my-vol")]
    volume = objects[1]
    assert volume["spec"]["local"] == {"path": "/mnt/disks/vol1"} and volume["spec"]["capacity"] == {"storage": "1000000"}
    assert volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["node2"]
    assert objects[0]["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}


TENANTS = {"shop": {"environments": ["dev", "prod"], "groups": ["shop-admins"], "quota": {"pods": 50,
                                                                                      "requests.cpu": "4"}},
           "lab": {}}


@pytest.mark.parametrize("release", CURRENT, ids=lambda r: r.version)
def test_tenant_manifests_isolate_each_namespace_and_validate_against_the_release_schemas(release):
    objects = render("addons/templates/tenants.yaml.j2", tenants=TENANTS, ansible_managed="test",
                     kinstall_network_plugin={"name": "calico", "tenant_isolation": "networkpolicy-v1"})
    for obj in objects:
        kubernetes_validate.validate(obj, release.version, strict=True)
    namespaces = [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"]
    assert namespaces == ["lab", "shop-dev", "shop-prod"]
    for namespace in namespaces:
        own = {o["kind"] + "/" + o["metadata"]["name"] for o in objects if o["metadata"].get("namespace") == namespace}
        assert {"NetworkPolicy/kinstall-default-deny", "NetworkPolicy/kinstall-allow-same-namespace",
                "LimitRange/kinstall-defaults"} <= own, own
    deny = next(o for o in objects if o["metadata"]["name"] == "kinstall-default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    quota = next(o for o in objects if o["kind"] == "ResourceQuota" and o["metadata"]["namespace"] == "shop-prod")
    assert quota["spec"]["hard"] == {"pods": "50", "requests.cpu": "4"}
    binding = next(o for o in objects if o["kind"] == "RoleBinding" and o["metadata"]["namespace"] == "shop-dev")
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "shop-admins"}]
    assert not [o for o in objects if o["kind"] == "ResourceQuota" and o["metadata"]["namespace"] == "lab"]


def test_romana_tenants_use_its_namespace_isolation_and_ingress_only_policies():
    objects = render("addons/templates/tenants.yaml.j2", tenants={"shop": {"environments": ["dev"]}},
                     ansible_managed="test", kinstall_network_plugin={"name": "romana",
                                                                      "tenant_isolation": "romana-annotation"})
    for obj in objects:  # Romana runs on 1.15 only
        kube_schemas.validate(obj, "1.15.0")
    namespace = next(o for o in objects if o["kind"] == "Namespace")
    assert namespace["metadata"]["annotations"] == {
        "net.beta.kubernetes.io/network-policy": '{"ingress": {"isolation": "DefaultDeny"}}'}
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert all(p["spec"]["policyTypes"] == ["Ingress"] and "egress" not in p["spec"] for p in policies)


KUBEADM_TYPES = yaml.safe_load((ROOT / "tests" / "schemas" / "kubeadm.yml").read_text())["versions"]


def check_kubeadm_types(doc):
    jsonschema.validate(doc, KUBEADM_TYPES[doc["apiVersion"]][doc["kind"]])


@pytest.mark.parametrize("release", MINORS, ids=lambda r: r.version)
def test_kubeadm_documents_match_the_published_types_of_their_version(release):
    documents = render("control_plane/templates/kubeadm-config.yaml.j2", **init_vars(release))
    for control_plane in (True, False):
        documents += render_join(release, control_plane)
    assert [d["kind"] for d in documents] == ["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration",
                                              "KubeProxyConfiguration", "JoinConfiguration", "JoinConfiguration"]
    for doc in documents:
        check_kubeadm_types(doc)


@pytest.mark.parametrize("release", MINORS, ids=lambda r: r.version)
def test_the_audit_log_and_file_discovery_take_the_form_of_each_api_version(release):
    """kubernetes_audit's flags and the pod's mounts of the policy's and the log's directories, and a
    join that discovers the cluster from a file (remove_anonymous_access), as each kubeadm API has them."""
    audit = render_vars("control_plane/vars/main.yml", kubernetes_audit=True,
                        audit_log_path="/var/log/audit/kube-apiserver-audit.log", audit_log_maxage=30,
                        audit_log_maxbackups=10, audit_log_maxsize=100,
                        audit_policy_file="/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml",
                        audit_log_hostpath="/var/log/kubernetes/audit", audit_log_mountpath="/var/log/audit")
    documents = render("control_plane/templates/kubeadm-config.yaml.j2", **{**init_vars(release), **audit})
    documents += render_join(release, False, file_discovery=True)
    api_server = documents[1]["apiServer"]
    args = _args(api_server["extraArgs"], release.kubeadm_api)
    assert args["audit-policy-file"] == "/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml"
    assert (args["audit-log-path"], args["audit-log-maxbackup"]) == ("/var/log/audit/kube-apiserver-audit.log", "10")
    assert [(v["hostPath"], v["mountPath"], v["readOnly"]) for v in api_server["extraVolumes"]] == [
        ("/etc/kubernetes/audit-policy", "/etc/kubernetes/audit-policy", True),
        ("/var/log/kubernetes/audit", "/var/log/audit", False)]
    assert documents[-1]["discovery"] == {"file": {"kubeConfigPath": "/etc/kubernetes/d.conf"},
                                          "tlsBootstrapToken": "abcdef.0123456789abcdef"}
    for doc in documents:
        check_kubeadm_types(doc)


def test_the_published_types_tell_the_versions_apart():
    (init, cluster, *_) = render("control_plane/templates/kubeadm-config.yaml.j2", **init_vars(MINORS[-1]))
    as_v1beta3 = {**init, "apiVersion": "kubeadm.k8s.io/v1beta3"}  # v1beta4's list of {name, value}
    with pytest.raises(jsonschema.ValidationError):
        check_kubeadm_types(as_v1beta3)
    with pytest.raises(jsonschema.ValidationError):  # v1beta2's socket form
        check_kubeadm_types({**init, "nodeRegistration": {**init["nodeRegistration"],
                                                          "criSocket": "/run/containerd/containerd.sock"}})
    with pytest.raises(jsonschema.ValidationError):  # gone after v1beta2
        check_kubeadm_types({**cluster, "useHyperKubeImage": False})
    with pytest.raises(jsonschema.ValidationError):
        check_kubeadm_types({**init, "certificateKey": "not-hex"})


@pytest.mark.parametrize("release", MINORS, ids=lambda r: r.version)
def test_kubesprays_cluster_settings_reach_kubeadm_kubelet_and_kube_proxy(release):
    """dns_domain, kube_log_level, kube_feature_gates, kube_proxy_strict_arp and
    kube_proxy_nodeport_addresses, in the forms of the release's APIs, still of their published types."""
    variables = {**init_vars(release), "dns_domain": "corp.example", "kube_log_level": 4,
                 "kube_feature_gates": ["SomeGate=true", "OtherGate=false"], "kube_proxy_strict_arp": True,
                 "kube_proxy_nodeport_addresses": ["10.0.0.0/24"], "kube_proxy_mode": "ipvs"}
    documents = render("control_plane/templates/kubeadm-config.yaml.j2", **variables)
    init, cluster, kubelet, proxy = documents
    api = release.kubeadm_api
    expected = {"v": "4", "feature-gates": "SomeGate=true,OtherGate=false"}
    assert _args(cluster["apiServer"]["extraArgs"], api) == expected
    assert _args(cluster["scheduler"]["extraArgs"], api) == expected
    assert _args(cluster["controllerManager"]["extraArgs"], api) == {"node-cidr-mask-size": "24", **expected}
    assert cluster["networking"]["dnsDomain"] == kubelet["clusterDomain"] == "corp.example"
    assert kubelet["featureGates"] == proxy["featureGates"] == {"SomeGate": True, "OtherGate": False}
    assert proxy["ipvs"] == {"strictARP": True} and proxy["nodePortAddresses"] == ["10.0.0.0/24"]
    for doc in documents:
        check_kubeadm_types(doc)


def test_kubelet_gives_pods_the_node_local_dns_cache_only_when_it_runs():
    release = MINORS[-1]
    kubelet = render("control_plane/templates/kubeadm-config.yaml.j2", **init_vars(release))[2]
    assert kubelet["clusterDNS"] == ["169.254.25.10"]
    for off in ({"enable_nodelocaldns": False}, {"dns_mode": "none"}):
        kubelet = render("control_plane/templates/kubeadm-config.yaml.j2", **{**init_vars(release), **off})[2]
        assert "clusterDNS" not in kubelet  # kubeadm's own: CoreDNS's Service address


def test_kubeadm_configuration_at_kubesprays_defaults_has_no_feature_gates_or_node_port_networks():
    init, cluster, kubelet, proxy = render("control_plane/templates/kubeadm-config.yaml.j2", **init_vars(MINORS[-1]))
    assert "featureGates" not in kubelet and "featureGates" not in proxy and "nodePortAddresses" not in proxy
    assert proxy["ipvs"] == {"strictARP": False} and kubelet["clusterDomain"] == "cluster.local"


def test_kubesprays_sample_renders_kubesprays_defaults_into_kubeadm_kubelet_and_kube_proxy():
    """The sample inventory's settings as `kinstall up` passes them to the roles, rendered, carry
    the defaults of Kubespray's reference list (installer/data/kubespray_names.tsv)."""
    from installer.inventory import kubespray
    from installer.inventory.validate import validate
    from installer.runner import engine

    cluster = validate(ROOT / "tests" / "fixtures" / "kubespray" / "sample" / "inventory.ini").cluster
    settings = engine.extravars(cluster, "test-run")
    release = MINORS[-1]
    variables = {**init_vars(release), **{k: v for k, v in settings.items() if k in init_vars(release)},
                 "kube_version": release.version}
    init, config, kubelet, proxy = render("control_plane/templates/kubeadm-config.yaml.j2", **variables)
    default = {name: kubespray.names()[name].default for name in (
        "kube_proxy_mode", "kubelet_protect_kernel_defaults", "kubelet_max_pods", "kube_network_node_prefix",
        "kube_pods_subnet", "kube_service_addresses", "cluster_name", "kube_log_level", "kube_proxy_strict_arp",
        "nodelocaldns_ip", "kube_proxy_conntrack_max_per_core")}
    assert proxy["mode"] == default["kube_proxy_mode"] == "ipvs"
    assert proxy["ipvs"]["strictARP"] is default["kube_proxy_strict_arp"] is False
    assert proxy["conntrack"]["maxPerCore"] == int(default["kube_proxy_conntrack_max_per_core"])
    assert kubelet["protectKernelDefaults"] is default["kubelet_protect_kernel_defaults"] is True
    assert kubelet["maxPods"] == int(default["kubelet_max_pods"])
    assert kubelet["clusterDNS"] == [default["nodelocaldns_ip"]]
    assert kubelet["clusterDomain"] == config["networking"]["dnsDomain"] == default["cluster_name"]
    assert config["networking"]["podSubnet"] == default["kube_pods_subnet"]
    assert config["networking"]["serviceSubnet"] == default["kube_service_addresses"]
    manager = _args(config["controllerManager"]["extraArgs"], release.kubeadm_api)
    assert manager["node-cidr-mask-size"] == str(default["kube_network_node_prefix"])
    assert manager["v"] == str(default["kube_log_level"])


@pytest.mark.parametrize("on", [True, False])
def test_the_encryption_configuration_writes_with_the_key_when_on_and_still_reads_with_it_when_off(on):
    """Turned off, the cluster's key stays second, so what was encrypted still reads and a rewrite
    stores it plaintext again; the key is the token's bytes, base64 (Kubespray's form)."""
    token = "0123456789abcdefghijklmnopqrstuv"
    (config,) = render("control_plane/templates/encryption.yaml.j2", kube_encrypt_secret_data=on,
                       kube_encryption_algorithm="aescbc", kube_encryption_resources=["secrets", "configmaps"],
                       control_plane_encryption_keys=[{"name": "key1", "secret": token}])
    assert (config["apiVersion"], config["kind"]) == ("apiserver.config.k8s.io/v1", "EncryptionConfiguration")
    (resources,) = config["resources"]
    assert resources["resources"] == ["secrets", "configmaps"]
    keyed = {"aescbc": {"keys": [{"name": "key1", "secret": base64.b64encode(token.encode()).decode()}]}}
    assert resources["providers"] == ([keyed, {"identity": {}}] if on else [{"identity": {}}, keyed])
    assert len(base64.b64decode(keyed["aescbc"]["keys"][0]["secret"])) == 32  # AES-256, secretbox's length


def test_a_new_kube_encrypt_token_writes_first_and_every_earlier_key_still_reads():
    """A rotation: the inventory's new token writes; the keys before it read what they encrypted,
    newest first, under the names they were stored with."""
    old, older, new = "o" * 32, "p" * 32, "n" * 32
    keys = [{"name": "key1", "secret": older}, {"name": "key2", "secret": old}, {"name": "key3", "secret": new}]
    (config,) = render("control_plane/templates/encryption.yaml.j2", kube_encrypt_secret_data=True,
                       kube_encryption_algorithm="secretbox", kube_encryption_resources=["secrets"],
                       control_plane_encryption_keys=keys, kube_encrypt_token=new)
    provider, identity = config["resources"][0]["providers"]
    listed = [(k["name"], base64.b64decode(k["secret"]).decode()) for k in provider["secretbox"]["keys"]]
    assert listed == [("key3", new), ("key2", old), ("key1", older)] and identity == {"identity": {}}
    (config,) = render("control_plane/templates/encryption.yaml.j2", kube_encrypt_secret_data=True,
                       kube_encryption_algorithm="secretbox", kube_encryption_resources=["secrets"],
                       control_plane_encryption_keys=keys[:2])  # no token in the inventory: the last one made
    assert [k["name"] for k in config["resources"][0]["providers"][0]["secretbox"]["keys"]] == ["key2", "key1"]
