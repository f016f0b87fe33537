"""The network plugins' manifests, rendered by Ansible's own templating from the sample
inventories for every Kubernetes release each plugin supports and validated the way the API
server would take them: Kubernetes objects against that release's schemas (strict), Calico's
resources against the fields its reference documents. Nothing here ran on a cluster: no image of
Calico, Romana or Tungsten Fabric exists where kinstall is built (the README says so)."""

import base64
import ipaddress
import re

import jsonschema
import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader
from ansible.template import Templar, trust_as_template

from installer import images, plugins, releases
from installer.inventory.validate import validate
from installer.runner import engine
from tests import kube_schemas
from tests.paths import ROLES, ROOT, SAMPLES

filter_loader.add_directory(str(ROLES / "kinstall_lib" / "filter_plugins"))
CALICO_SCHEMAS = yaml.safe_load((ROOT / "tests" / "schemas" / "calico-resources.yml").read_text())["kinds"]
SAMPLE = {"calico": "ha-calico", "romana": "romana-legacy", "opencontrail": "opencontrail-legacy"}
TEMPLATES = {"calico": ["calico.yaml", "calico-resources.yaml"], "romana": ["romana.yaml"],
             "opencontrail": ["opencontrail.yaml"]}


def newest_patches(plugin):
    """The newest patch of each minor the plugin runs on."""
    by_minor = {}
    for release in releases.supported().values():
        if plugin.supports_minor(tuple(int(p) for p in release.minor.split("."))):
            by_minor[release.minor] = release
    return list(by_minor.values())


CASES = [(name, release) for name in TEMPLATES for release in newest_patches(plugins.get(name))]


def variables(name, release, settings=None, extra_hosts=None, groups=None):
    """The extra variables kinstall passes to the roles for the sample inventory, with `release`
    and `settings`, plus Ansible's groups and hostvars."""
    result = validate(SAMPLES / SAMPLE[name])
    cluster = result.cluster
    cluster.release = release
    cluster.settings.update(kube_version=release.version, **(settings or {}))
    values = engine.extravars(cluster, "test-run")
    hostvars = {host: {key: value for key, (value, _) in result.inventory.resolve(host).items()}
                for host in cluster.hosts}
    for host, extra in (extra_hosts or {}).items():
        hostvars[host].update(extra)
    values.update(groups={"all": list(cluster.hosts), **cluster.groups, **(groups or {})}, hostvars=hostvars,
                  kube_network_plugin=name)
    return cluster, values


def render(template, values):
    text = (ROLES / "network" / "templates" / (template + ".j2")).read_text()
    rendered = Templar(loader=DataLoader(), variables=values).template(trust_as_template(text))
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def check(obj, release):
    if obj["apiVersion"] == "crd.projectcalico.org/v1":
        assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}, obj
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", obj["metadata"]["name"]), obj["metadata"]
        jsonschema.validate(obj["spec"], CALICO_SCHEMAS[obj["kind"]])
    else:
        kube_schemas.validate(obj, release.version)


def used_images(objects):
    found = set()
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("initContainers", []) + pod.get("containers", []):
            found.add(container["image"])
    return found


def all_objects(name, release, **kw):
    cluster, values = variables(name, release, **kw)
    objects = [obj for template in TEMPLATES[name] for obj in render(template, values)]
    for obj in objects:
        check(obj, release)
    return cluster, objects


@pytest.mark.parametrize(("name", "release"), CASES, ids=[f"{n}-{r.version}" for n, r in CASES])
def test_every_object_validates_for_each_release_and_runs_only_pinned_images(name, release):
    cluster, objects = all_objects(name, release)
    assert objects
    pinned = {i["reference"] for i in images.for_cluster(cluster) if i["stage"] == "network"}
    assert used_images(objects) == pinned


def test_the_supported_releases_are_the_plugins_own():
    assert {(n, r.minor) for n, r in CASES} == {("calico", "1.34"), ("calico", "1.35"), ("calico", "1.36"),
                                                ("romana", "1.15"), ("opencontrail", "1.21")}


@pytest.mark.parametrize("release", newest_patches(plugins.get("calico")), ids=lambda r: r.version)
def test_calico_bgp_with_route_reflectors_peers_and_typha(release):
    peers = [{"router_id": "192.0.2.1", "as": "65001", "sourceaddress": "UseNodeIP"}]
    cluster, objects = all_objects(
        "calico", release, settings={"typha_enabled": True, "typha_replicas": 2, "peer_with_router": True,
                                     "quay_image_repo": "mirror.example.net:5000/quay"},
        extra_hosts={"worker1": {"peers": peers}, "cp2": {"cluster_id": "10.0.0.2"}}, groups={"calico_rr": ["cp2"]})
    by = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    pool = by["IPPool", "default-ipv4-ippool"]["spec"]
    assert pool == {"cidr": "10.233.64.0/18", "blockSize": 26, "ipipMode": "Never", "vxlanMode": "Never",
                    "natOutgoing": True, "nodeSelector": "all()"}
    bgp = by["BGPConfiguration", "default"]["spec"]
    assert bgp["asNumber"] == 64512 and bgp["nodeToNodeMeshEnabled"] is False  # reflectors carry the routes
    assert by["BGPPeer", "kinstall-nodes-to-route-reflectors"]["spec"]["peerSelector"] == \
        "has(kinstall.io/calico-route-reflector)"
    assert by["BGPPeer", "kinstall-worker1-to-192-0-2-1"]["spec"] == {
        "node": "worker1", "peerIP": "192.0.2.1", "asNumber": 65001, "sourceAddress": "UseNodeIP"}
    assert by["Deployment", "calico-typha"]["spec"]["replicas"] == 2
    assert all(image.startswith("mirror.example.net:5000/quay/calico/") for image in used_images(objects))
    env = {e["name"]: e.get("value") for e in
           by["DaemonSet", "calico-node"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CLUSTER_TYPE"] == "k8s,bgp" and env["NO_DEFAULT_POOLS"] == "true"
    assert "FELIX_TYPHAK8SSERVICENAME" in env


def test_calico_vxlan_has_no_bgp_and_a_mesh_without_reflectors():
    release = newest_patches(plugins.get("calico"))[-1]
    _, objects = all_objects("calico", release, settings={"calico_network_backend": "vxlan",
                                                          "calico_vxlan_mode": "Always"})
    kinds = {o["kind"] for o in objects}
    assert "BGPConfiguration" not in kinds and "BGPPeer" not in kinds and "Service" not in kinds  # no Typha
    pool = next(o for o in objects if o["kind"] == "IPPool")["spec"]
    assert (pool["vxlanMode"], pool["ipipMode"]) == ("Always", "Never")
    node = next(o for o in objects if o["kind"] == "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
    assert "-bird-live" not in node["livenessProbe"]["exec"]["command"]


def test_calico_resources_that_calico_would_refuse_are_caught():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"cidr": "10.0.0.0/16", "ipipMode": "Sometimes"}, CALICO_SCHEMAS["IPPool"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"peerIP": "192.0.2.1", "asNumber": "65001"}, CALICO_SCHEMAS["BGPPeer"])


def test_romana_pins_its_services_inside_the_service_network_and_maps_zones_to_host_groups():
    (release,) = newest_patches(plugins.get("romana"))
    zones = {"node2": {"node_labels": {"topology.kubernetes.io/zone": "rack-a"}},
             "node3": {"node_labels": {"topology.kubernetes.io/zone": "rack-b"}}}
    _, objects = all_objects("romana", release, extra_hosts=zones,
                             settings={"romana_route_publisher": True, "romana_publisher_neighbors": ["192.0.2.1"]})
    services = {o["metadata"]["name"]: o["spec"]["clusterIP"] for o in objects if o["kind"] == "Service"}
    assert services == {"romana-etcd": "10.96.0.88", "romana": "10.96.0.99"}
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12") for ip in services.values())
    network = yaml.safe_load(next(o for o in objects if o["kind"] == "ConfigMap")["data"]["romana-network.json"])
    assert network["networks"] == [{"name": "romana-network", "cidr": "10.112.0.0/12", "block_mask": 29}]
    assert [g["assignment"] for g in network["topologies"][0]["map"]] == [
        {"topology.kubernetes.io/zone": "rack-a"}, {"topology.kubernetes.io/zone": "rack-b"}]
    publisher = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "route-publisher-config")
    assert "neighbor 192.0.2.1 as {{.LocalAS}};" in publisher["data"]["publisher.conf"]
    # Kubernetes 1.15 runs it on the control plane, tainted node-role.kubernetes.io/master then.
    daemon = next(o for o in objects if o["metadata"]["name"] == "romana-daemon" and o["kind"] == "Deployment")
    assert daemon["spec"]["template"]["spec"]["nodeSelector"] == {"node-role.kubernetes.io/master": ""}


def test_romana_without_zone_labels_gets_eight_host_groups():
    (release,) = newest_patches(plugins.get("romana"))
    _, objects = all_objects("romana", release)
    network = yaml.safe_load(next(o for o in objects if o["kind"] == "ConfigMap")["data"]["romana-network.json"])
    assert network["topologies"][0]["map"] == [{"groups": []}] * 8


def test_opencontrail_places_controllers_by_label_and_reads_the_inventory():
    (release,) = newest_patches(plugins.get("opencontrail"))
    _, objects = all_objects("opencontrail", release)
    env = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    assert env["CONTROLLER_NODES"] == "192.0.2.41" and env["PHYSICAL_INTERFACE"] == "eth0"
    assert env["KUBERNETES_POD_SUBNETS"] == "10.32.0.0/12" and env["ENCAP_PRIORITY"] == "MPLSoUDP,MPLSoGRE,VXLAN"
    selectors = {o["metadata"]["name"]: o["spec"]["template"]["spec"]["nodeSelector"]
                 for o in objects if o["kind"] == "DaemonSet"}
    assert selectors["contrail-agent"] == {"node-role.opencontrail.org/agent": ""}
    assert selectors["contrail-configdb"] == {"node-role.opencontrail.org/configdb": ""}


def test_a_kind_the_release_does_not_serve_is_refused():
    (release,) = newest_patches(plugins.get("romana"))
    with pytest.raises(KeyError, match="1.15 serves no PodDisruptionBudget in policy/v1"):
        kube_schemas.validate({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "x"},
                               "spec": {}}, release.version)


@pytest.mark.parametrize("secure", [True, False])
def test_typha_and_felix_prove_themselves_to_each_other_unless_typha_secure_is_off(secure):
    release = newest_patches(plugins.get("calico"))[-1]
    settings = {"typha_enabled": True, "kinstall_pki_dir": "/state/pki"} | ({} if secure else {"typha_secure": False})
    cluster, values = variables("calico", release, settings=settings)
    assert cluster.settings["typha_secure"] is secure  # kinstall's default: true (Kubespray's: false)
    objects = {(o["kind"], o["metadata"]["name"]): o for o in render("calico.yaml", values)}
    for obj in objects.values():
        check(obj, release)
    typha = objects["Deployment", "calico-typha"]["spec"]["template"]["spec"]
    node = objects["DaemonSet", "calico-node"]["spec"]["template"]["spec"]
    typha_env = {e["name"]: e.get("value") for e in typha["containers"][0]["env"]}
    felix_env = {e["name"]: e.get("value") for e in node["containers"][0]["env"]}
    if not secure:
        assert "TYPHA_CAFILE" not in typha_env and "FELIX_TYPHACAFILE" not in felix_env
        return
    assert typha_env["TYPHA_CLIENTCN"] == "typha-client" and felix_env["FELIX_TYPHACN"] == "typha-server"
    for env, prefix in ((typha_env, "TYPHA_"), (felix_env, "FELIX_TYPHA")):
        files = [env[prefix + k] for k in (("CAFILE", "SERVERCERTFILE", "SERVERKEYFILE") if prefix == "TYPHA_"
                                           else ("CAFILE", "CERTFILE", "KEYFILE"))]
        assert all(f and f.startswith("/etc/typha-") for f in files), env
    mounts = {v["name"]: v["secret"]["secretName"] for v in typha["volumes"] + node["volumes"] if "secret" in v}
    assert mounts == {"typha-server": "typha-server", "typha-client": "typha-client"}


def test_typhas_certificates_reach_the_cluster_only_as_secrets_from_the_clusters_own_ca(tmp_path):
    pki = tmp_path / "calico-typha"
    pki.mkdir()
    for name in ("ca.crt", "typha-server.crt", "typha-server.key", "typha-client.crt", "typha-client.key"):
        (pki / name).write_text(f"-----BEGIN {name}-----\n")
    release = newest_patches(plugins.get("calico"))[-1]
    _, values = variables("calico", release, settings={"typha_enabled": True, "kinstall_pki_dir": str(tmp_path)})
    secrets = {o["metadata"]["name"]: o for o in render("calico-typha-tls.yaml", values)}
    assert set(secrets) == {"typha-server", "typha-client"}
    for name, secret in secrets.items():
        check(secret, release)
        assert secret["type"] == "kubernetes.io/tls" and secret["metadata"]["namespace"] == "kube-system"
        data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        assert data == {"ca.crt": "-----BEGIN ca.crt-----\n", "tls.crt": f"-----BEGIN {name}.crt-----\n",
                        "tls.key": f"-----BEGIN {name}.key-----\n"}
    tasks = (ROLES / "network" / "tasks" / "calico.yml").read_text()
    assert "network_manifests_secret: true" in tasks  # written and applied without a log line


def test_romanas_etcd_answers_only_tls_clients_with_a_certificate_through_loopback_proxies():
    """Romana 2.0's clients cannot speak TLS: each reaches etcd through an nginx in its own pod
    that listens on the node's loopback and presents the client certificate."""
    (release,) = newest_patches(plugins.get("romana"))
    _, objects = all_objects("romana", release, settings={"romana_route_publisher": True,
                                                          "romana_publisher_neighbors": ["192.0.2.1"]})
    workloads = {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objects
                 if o["kind"] in ("Deployment", "DaemonSet")}
    etcd = workloads["romana-etcd"]["containers"][0]["command"]
    assert {"--listen-client-urls=https://0.0.0.0:12379", "--client-cert-auth=true",
            "--trusted-ca-file=/etc/romana-etcd/ca.crt", "--listen-peer-urls=http://127.0.0.1:12380"} <= set(etcd)
    proxy_conf = next(o for o in objects if o["metadata"]["name"] == "romana-etcd-proxy")["data"]
    clients = 0
    for name, pod in workloads.items():
        for container in pod["containers"]:
            endpoints = [a for a in container.get("args", []) if a.startswith("--etcd-endpoints=")]
            if not endpoints:
                continue
            clients += 1
            port = re.fullmatch(r"--etcd-endpoints=http://127\.0\.0\.1:(\d+)", endpoints[0]).group(1)
            (proxy,) = [c for c in pod["containers"] if c["name"] == "etcd-tls-proxy"]
            conf = proxy_conf[proxy["command"][2].rsplit("/", 1)[1]]
            assert f"listen 127.0.0.1:{port};" in conf and "proxy_ssl_verify on;" in conf, (name, conf)
            assert "proxy_pass 10.96.0.88:12379;" in conf and "proxy_ssl_certificate " in conf
            assert pod["hostNetwork"] is True
    assert clients == 4  # daemon, listener, agent, route publisher
    ports = [int(re.search(r"listen 127\.0\.0\.1:(\d+);", c).group(1)) for c in proxy_conf.values()]
    assert len(set(ports)) == len(ports)  # host network: one port each
    declared = {p.port for p in plugins.get("romana").ports}
    assert set(ports) <= declared  # preflight checks they are free


def test_romanas_etcd_certificates_reach_the_cluster_only_as_secrets(tmp_path):
    pki = tmp_path / "romana-etcd"
    pki.mkdir()
    for name in ("ca", "romana-etcd-server", "romana-etcd-client"):
        for suffix in (".crt", ".key"):
            (pki / (name + suffix)).write_text(f"{name}{suffix}")
    (release,) = newest_patches(plugins.get("romana"))
    _, values = variables("romana", release, settings={"kinstall_pki_dir": str(tmp_path)})
    secrets = {o["metadata"]["name"]: o for o in render("romana-etcd-tls.yaml", values)}
    assert set(secrets) == {"romana-etcd-server", "romana-etcd-client"}
    for name, secret in secrets.items():
        check(secret, release)
        assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
            "ca.crt": "ca.crt", "tls.crt": f"{name}.crt", "tls.key": f"{name}.key"}
    assert "network_manifests_secret: true" in (ROLES / "network" / "tasks" / "romana.yml").read_text()
