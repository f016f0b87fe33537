"""Semantic rules beyond the schema. Each rule is a small function of the Context that yields
findings; RULES lists them in the order their findings are most useful."""

from __future__ import annotations

import functools
import ipaddress
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from installer import components, images, plugins, releases
from installer.errors import KinstallError
from installer.inventory import kubespray, schema
from installer.inventory.findings import NOTE, WARNING, Finding
from installer.inventory.model import CLUSTER, CONTROL_PLANE, ETCD, NODES, Inventory, known_groups
from installer.inventory.schema import suggest
from installer.inventory.settings import Setting

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")


@dataclass
class Context:
    inventory: Inventory
    settings: dict[str, Setting]
    _host_vars: dict = field(default_factory=dict)

    def value(self, name: str):
        """The setting's value, or None when the schema rejected it (rules then stay silent)."""
        setting = self.settings[name]
        return setting.value if setting.valid else None

    def at(self, name: str, message: str, severity: str = "error", rule: str = "") -> Finding:
        """A finding at the place the setting was made, or at the inventory's top when defaulted."""
        setting = self.settings[name]
        if setting.source is not None:
            return setting.source.finding(name, message, severity=severity, rule=rule)
        return self.root(message, severity=severity, rule=rule)

    def root(self, message: str, severity: str = "error", rule: str = "") -> Finding:
        return self.inventory.main.finding((), message, severity=severity, rule=rule)

    def at_group(self, name: str, message: str, severity: str = "error", rule: str = "") -> Finding:
        group = self.inventory.groups.get(name)
        if group and group.defined:
            doc, path = group.defined[0]
            return doc.finding(path, message, severity=severity, rule=rule, key=True)
        return self.root(message, severity=severity, rule=rule)

    @functools.cached_property
    def kubespray_differences(self) -> list:
        """Where the cluster differs from Kubespray's (the rule reports them; the Cluster keeps them)."""
        return kubespray.differences(self.inventory.sources(), self.settings, schema.variables())

    def settings_values(self) -> dict:
        return {name: self.value(name) for name in self.settings}

    @property
    def base_dir(self) -> Path:
        """The inventory file's directory: relative paths in settings start there."""
        return Path(self.inventory.main.file).resolve().parent if self.inventory.main else Path.cwd()

    def members(self, group: str) -> list[str]:
        return sorted(self.inventory.members(group))

    def templated(self, name: str) -> bool:
        value = self.value(name)
        return isinstance(value, str) and "{{" in value

    def network(self, name: str) -> ipaddress.IPv4Network | None:
        value = self.value(name)
        try:
            return ipaddress.IPv4Network(value, strict=True) if isinstance(value, str) else None
        except ValueError:
            return None  # the schema reports it

    def host_var(self, host: str, key: str):
        """(value, finding factory) of a host's variable, or (None, None) when it is unset or the
        schema rejected it (already reported)."""
        if (host, key) not in self._host_vars:
            found = self.inventory.resolve(host).get(key)
            if found is None or not schema.value_is_valid(key, found[0]):
                self._host_vars[host, key] = (None, None)
            else:
                value, source = found
                self._host_vars[host, key] = (value, lambda message, **kw: source.finding(key, message, **kw))
        return self._host_vars[host, key]


def _names(hosts) -> str:
    hosts = list(hosts)
    return ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")


# ---------------------------------------------------------------- groups

def groups_known(ctx: Context):
    known = known_groups()
    for name, group in ctx.inventory.groups.items():
        if name in known or not group.defined:
            continue
        hint = suggest(name, known - {"all", "ungrouped"})
        if hint:
            yield ctx.at_group(name, f"unknown group '{name}'{hint} Its hosts would be left out of the "
                               "cluster; rename the group", rule="unknown-group")


def control_plane_not_empty(ctx: Context):
    if not ctx.members(CONTROL_PLANE):
        yield ctx.at_group(CONTROL_PLANE, "the kube_control_plane group has no hosts; a cluster needs at least "
                           "one control plane host", rule="control-plane")


def etcd_members(ctx: Context):
    count = len(ctx.members(ETCD))
    if count == 0:
        yield ctx.at_group(ETCD, "the etcd group has no hosts; kinstall runs etcd on the etcd group's hosts: "
                           "add 1, 3 or 5 of them", rule="etcd-count")
    elif count % 2 == 0:
        yield ctx.at_group(ETCD, f"the etcd group has {count} hosts; etcd needs an odd number of members "
                           f"(1, 3, 5, ...) to keep a quorum: use {count - 1} or {count + 1}", rule="etcd-count")


def cluster_group_complete(ctx: Context):
    group = ctx.inventory.groups.get(CLUSTER)
    if group is None or not group.defined:
        return  # computed from kube_control_plane and kube_node
    missing = sorted((ctx.inventory.members(CONTROL_PLANE) | ctx.inventory.members(NODES))
                     - ctx.inventory.members(CLUSTER))
    if missing:
        yield ctx.at_group(CLUSTER, f"k8s_cluster does not hold {_names(missing)}, which "
                           f"{'is a node' if len(missing) == 1 else 'are nodes'}; list kube_control_plane and "
                           "kube_node as its children, or remove k8s_cluster and kinstall computes it",
                           rule="k8s-cluster")


def hosts_in_no_role(ctx: Context):
    used = set()
    for name in (CLUSTER, CONTROL_PLANE, NODES, ETCD, "bastion") + tuple(plugins.all_groups()):
        used |= ctx.inventory.members(name)
    target = ctx.value("etcd_backup_target")
    if isinstance(target, str) and ":" in target:
        used.add(target.rpartition(":")[0])  # the scheduled backups' target: kinstall sets up its access
    for name in sorted(set(ctx.inventory.hosts) - used):
        yield ctx.inventory.hosts[name].finding(
            f"host '{name}' is in none of kinstall's groups (kube_control_plane, kube_node, etcd, ...); "
            "kinstall will not touch it", severity=WARNING, rule="unused-host")


# ---------------------------------------------------------------- hosts

def _node_name_problem(name: str) -> str | None:
    if len(name) > 253:
        return "is longer than 253 characters"
    for label in name.split("."):
        if len(label) > 63:
            return f"has a part longer than 63 characters ('{label[:20]}...')"
        if not _LABEL.match(label):
            return ("may hold only lowercase letters, digits, '-' and '.', and must start and end with a "
                    "letter or digit")
    return None


def host_names(ctx: Context):
    nodes = ctx.inventory.members(CLUSTER) | ctx.inventory.members(ETCD)
    for name in sorted(nodes):
        problem = _node_name_problem(name)
        if problem:
            yield ctx.inventory.hosts[name].finding(
                f"host name '{name}' is not a valid Kubernetes node name (RFC 1123): it {problem}; "
                "rename the host and keep its address in ansible_host", rule="host-name")
    by_lower: dict[str, list[str]] = {}
    for name in ctx.inventory.hosts:
        by_lower.setdefault(name.lower(), []).append(name)
    for names in by_lower.values():
        if len(names) > 1:
            first, *rest = sorted(names)
            for other in rest:
                yield ctx.inventory.hosts[other].finding(
                    f"host '{other}' and host '{first}' differ only in case and would be the same node; "
                    "give each host its own name", rule="host-unique")


def unique_addresses(ctx: Context):
    for key in ("ip", "access_ip", "ansible_host", "etcd_member_name"):
        owners: dict[object, str] = {}
        for name in sorted(ctx.inventory.hosts):
            value, finding = ctx.host_var(name, key)
            if value is None or (isinstance(value, str) and "{{" in value):
                continue
            port = ctx.host_var(name, "ansible_port")[0] or 22 if key == "ansible_host" else None
            marker = (value, port)
            if marker in owners:
                yield finding(f"{key} '{value}' of host '{name}' is also the {key} of host '{owners[marker]}'; "
                              "each host needs its own", rule="unique-address")
            else:
                owners[marker] = name


# ---------------------------------------------------------------- networks

def networks_disjoint(ctx: Context):
    pods, services = ctx.network("kube_pods_subnet"), ctx.network("kube_service_addresses")
    if pods and services and pods.overlaps(services):
        yield ctx.at("kube_service_addresses",
                     f"kube_service_addresses {services} overlaps kube_pods_subnet {pods} "
                     f"({ctx.settings['kube_pods_subnet'].label}); pods and services need separate networks",
                     rule="network-overlap")
    cache = ctx.value("nodelocaldns_ip")
    if ctx.value("enable_nodelocaldns") and isinstance(cache, str) and "{{" not in cache:
        for label, network in (("kube_pods_subnet", pods), ("kube_service_addresses", services)):
            if network and ipaddress.IPv4Address(cache) in network:
                yield ctx.at("nodelocaldns_ip", f"nodelocaldns_ip {cache} lies inside {label} {network}; the "
                             "node-local DNS cache needs an address of its own on every node, such as Kubespray's "
                             "169.254.25.10", rule="network-overlap")
    for name in sorted(ctx.inventory.members(CLUSTER) | ctx.inventory.members(ETCD)):
        seen = set()
        for key in ("ip", "access_ip", "ansible_host"):
            value, finding = ctx.host_var(name, key)
            if value in seen:
                continue  # the same address under another key: one finding is enough
            seen.add(value)
            try:
                address = ipaddress.IPv4Address(value) if isinstance(value, str) else None
            except ValueError:
                address = None
            for label, network in (("kube_pods_subnet", pods), ("kube_service_addresses", services)):
                if address and network and address in network:
                    yield finding(f"{key} {address} of host '{name}' lies inside {label} {network}; the node "
                                  "network must not overlap the pod and service networks", rule="network-overlap")


def pod_network_size(ctx: Context):
    pods = ctx.network("kube_pods_subnet")
    prefix = ctx.value("kube_network_node_prefix")
    if pods is None or not isinstance(prefix, int) or isinstance(prefix, bool):
        return
    if prefix < pods.prefixlen:
        yield ctx.at("kube_network_node_prefix",
                     f"kube_network_node_prefix {prefix} is shorter than kube_pods_subnet's /{pods.prefixlen}: "
                     "each node's share must fit inside the pod network; use a larger prefix",
                     rule="pod-network-size")
        return
    room = 2 ** (prefix - pods.prefixlen)
    nodes = len(ctx.inventory.members(CLUSTER))
    if nodes > room:
        wider = max(0, pods.prefixlen - (nodes - 1).bit_length() + (prefix - pods.prefixlen))
        yield ctx.at("kube_pods_subnet",
                     f"kube_pods_subnet {pods} with kube_network_node_prefix {prefix} has room for {room} nodes, "
                     f"but k8s_cluster has {nodes}; widen kube_pods_subnet (to /{wider} or shorter) or raise "
                     "kube_network_node_prefix", rule="pod-network-size")
    max_pods = ctx.value("kubelet_max_pods")
    usable = 2 ** (32 - prefix) - 2
    if isinstance(max_pods, int) and not isinstance(max_pods, bool) and max_pods > usable:
        where = "kubelet_max_pods" if ctx.settings["kubelet_max_pods"].source else "kube_network_node_prefix"
        yield ctx.at(where,
                     f"kubelet_max_pods {max_pods} does not fit a node's /{prefix} of the pod network "
                     f"({usable} addresses); lower kubelet_max_pods or kube_network_node_prefix",
                     rule="pod-network-size")


# ---------------------------------------------------------------- releases and plugins

def release_supported(ctx: Context):
    version = ctx.value("kube_version")
    if not isinstance(version, str) or ctx.templated("kube_version") or releases.parse_version(version) is None:
        return  # the schema reports the form
    if releases.get(version) is None:
        current = [v for v, r in releases.supported().items() if r.status == "current"]
        legacy = ", ".join(
            f"{p.kube_range()}.x only with {p.name}" for p in plugins.REGISTRY.values() if not p.maintained)
        yield ctx.at("kube_version", f"kube_version {version} is not a release kinstall supports; supported: "
                     f"{releases.summarize(current)} (end of life, for unmaintained plugins: {legacy})",
                     rule="kube-version")
    elif releases.get(version).status == "lab":
        yield ctx.at("kube_version", f"Kubernetes {version} is end of life upstream (no security fixes since "
                     "2022); kinstall offers it for the local lab, whose Kubernetes is built from Debian's source "
                     "package: use a current release for anything else", severity=WARNING, rule="kube-version")


def plugin_release(ctx: Context):
    plugin = plugins.get(ctx.value("kube_network_plugin"))
    release = releases.get(ctx.value("kube_version")) if isinstance(ctx.value("kube_version"), str) else None
    if plugin is None or release is None:
        return
    minor = release.tuple[:2]
    if not plugin.supports_minor(minor):
        if plugin.maintained:
            message = (f"{plugin.name} {plugin.version} runs on Kubernetes {plugin.kube_range()}, not "
                       f"{release.version}")
            if release.status in ("legacy", "lab"):
                message += "; that release is end of life and kinstall offers it only for " + " and ".join(
                    p.name for p in plugins.REGISTRY.values() if p.supports_minor(minor))
        else:
            message = (f"{plugin.name} runs only on Kubernetes {plugin.kube_range()} (it is unmaintained and "
                       f"pinned to {plugin.version}), not {release.version}; the nearest maintained choice is "
                       f"{plugin.alternative}")
        # Point at whichever of the two the user wrote; the plugin when both are written.
        where = "kube_network_plugin" if ctx.settings["kube_network_plugin"].source else "kube_version"
        yield ctx.at(where, message, rule="plugin-release")
    elif not plugin.maintained:
        yield ctx.at("kube_network_plugin", f"{plugin.notes} For a new cluster consider {plugin.alternative}",
                     severity=WARNING, rule="plugin-maintained")


def plugin_groups(ctx: Context):
    plugin = plugins.get(ctx.value("kube_network_plugin"))
    if plugin is None:
        return
    for group in sorted(plugins.all_groups() - set(plugin.groups)):
        if ctx.members(group):
            nodes = set(ctx.members(group)) <= set(ctx.members(CLUSTER))
            yield ctx.at_group(group, f"the {group} group is used only by another network plugin and means nothing "
                               f"to {plugin.name}: " + ("its hosts join as nodes, since k8s_cluster holds them" if nodes
                                                        else "kinstall leaves its hosts alone"),
                               severity=WARNING, rule="plugin-groups")


def plugin_rules(ctx: Context):
    """The selected network plugin's own rules (its registry entry's NetworkPlugin.rules)."""
    plugin = plugins.get(ctx.value("kube_network_plugin"))
    for rule in plugin.rules if plugin else ():
        yield from rule(ctx)


def tenant_isolation(ctx: Context):
    plugin = plugins.get(ctx.value("kube_network_plugin"))
    tenants = ctx.value("tenants")
    if plugin is None or not isinstance(tenants, dict) or not tenants or plugin.tenant_isolation is not None:
        return
    able = ", ".join(p.name for p in plugins.REGISTRY.values() if p.tenant_isolation)
    where = "tenants" if ctx.settings["tenants"].source else "kube_network_plugin"
    yield ctx.at(where, f"{plugin.name} cannot isolate tenants ({plugin.network_policy}), so the {len(tenants)} "
                 f"tenant(s) in tenants: would share one open network; choose a plugin that isolates them "
                 f"({able}) or remove tenants:", rule="tenant-isolation")


def component_versions(ctx: Context):
    overrides = {"etcd_version": "etcd", "containerd_version": "containerd", "runc_version": "runc",
                 "cni_version": "cni-plugins", "crictl_version": "crictl"}
    for key, component in overrides.items():
        version = ctx.value(key)
        if not isinstance(version, str) or ctx.templated(key) or releases.parse_version(version) is None:
            continue
        bare = version.lstrip("v")
        declared = [arch for arch in releases.archs()
                    if components.declared_checksum(ctx.settings_values(), component, arch, bare)]
        if declared:  # the inventory vouches for the file; hosts of other archs fail at download
            continue
        missing = [arch for arch in releases.archs() if releases.component_checksum(component, arch, bare) is None]
        if missing:
            known = sorted(releases.checksums()[component][missing[0]], key=releases.version_key)[-3:]
            variable = components.COMPONENTS[component].checksum_setting
            yield ctx.at(key, f"{key} {version} has no known sha256 for {', '.join(missing)}, so kinstall cannot "
                         f"verify the download; newest known: {', '.join(known)}; or declare it in {variable}",
                         rule="component-version")


def runtime_cri(ctx: Context):
    """containerd 2 serves only CRI v1 (it dropped v1alpha2); kubelet speaks CRI v1 from 1.23 on."""
    kube = ctx.value("kube_version")
    release = releases.get(kube) if isinstance(kube, str) else None
    version = ctx.value("containerd_version") or (release.components.get("containerd") if release else None)
    if release is None or not isinstance(version, str) or ctx.templated("containerd_version"):
        return
    parsed = releases.parse_version(version.lstrip("v"))
    if parsed and parsed[0] >= 2 and release.tuple[:2] < (1, 23):
        yield ctx.at("containerd_version", f"containerd {version} serves only the CRI v1 API (containerd 2 removed "
                     f"v1alpha2), and the kubelet of Kubernetes {kube} speaks only v1alpha2 (CRI v1 came in 1.23): "
                     "no pod would start. Keep containerd 1.6 or 1.7 with this release", rule="runtime-cri")


def download_source(ctx: Context):
    source = ctx.value("download_source")
    if source == "mirror" and not ctx.value("files_repo"):
        yield ctx.at("download_source", "download_source is mirror but files_repo is not set: set files_repo to "
                     "the files repository's URL", rule="download-source")
    if source == "bundle":
        bundle = ctx.value("download_bundle_dir")
        if not bundle:
            yield ctx.at("download_source", "download_source is bundle but download_bundle_dir is not set: set it "
                         "to the directory `kinstall bundle` made", rule="download-source")
        elif not ctx.templated("download_bundle_dir") and not (ctx.base_dir / str(bundle)).is_dir():
            yield ctx.at("download_bundle_dir", f"download_bundle_dir {bundle} is not a directory on this machine: "
                         "make it with `kinstall bundle`", rule="download-source")
        elif not ctx.templated("download_bundle_dir"):
            yield from _bundle_pin(ctx, ctx.base_dir / str(bundle))


def _bundle_pin(ctx: Context, directory: Path):
    """A bundle's manifest is trusted only as far as the inventory pins it: its images' sums come
    from nowhere else, so a bundle that brings images needs download_bundle_sha256."""
    from installer import bundle as bundles  # it imports artifacts, which imports the inventory

    pinned = ctx.value("download_bundle_sha256")
    if not (directory / bundles.MANIFEST).is_file():
        if pinned:  # a pin with no manifest to hold it to
            yield ctx.at("download_bundle_sha256", f"download_bundle_sha256 is set, but {directory} has no "
                         f"{bundles.MANIFEST}: point download_bundle_dir at the bundle `kinstall bundle` made",
                         rule="download-source")
        return  # release files in the mirror layout only: kinstall's own sums verify them
    found_sha = bundles.manifest_sha256(directory)
    if pinned and found_sha != pinned:
        yield ctx.at("download_bundle_sha256", f"{directory / bundles.MANIFEST} has sha256 {found_sha}, and the "
                     f"inventory pins {pinned}: this is not the bundle the inventory trusts. Point "
                     "download_bundle_dir at that bundle, or pin this one after checking it", rule="download-source")
        return
    try:
        manifest = bundles.read_manifest(directory)
    except KinstallError as error:
        yield ctx.at("download_bundle_dir", str(error), rule="download-source")
        return
    if manifest["images"] and not pinned:
        yield ctx.at("download_bundle_dir", f"the bundle in {directory} brings {len(manifest['images'])} container "
                     "image(s) whose sha256 only its own manifest gives, so kinstall will not install it unpinned: "
                     "set download_bundle_sha256 to the manifest's sha256 as `kinstall bundle` printed it when it made "
                     f"the bundle (this manifest's is {found_sha}; `kinstall bundle --check` "
                     "prints it too)", rule="download-source")


def _is_ipv4(text) -> bool:
    try:
        ipaddress.IPv4Address(str(text))
    except ValueError:
        return False
    return True


def storage_classes(ctx: Context):
    """Every StorageClass needs what backs it: local volumes a class with a host directory, NFS a
    server the inventory names or an address, Ceph its monitors, cluster id and client key. Two
    default classes leave Kubernetes to pick one at random; two of one name overwrite each other."""
    classes: list[tuple[str, str, bool]] = []  # (class, setting, is_default)
    if ctx.value("local_volume_provisioner_enabled"):
        local = ctx.value("local_volume_provisioner_storage_classes")
        if isinstance(local, dict) and not local:
            yield ctx.at("local_volume_provisioner_storage_classes",
                         "local_volume_provisioner_enabled is true but local_volume_provisioner_storage_classes is "
                         "empty, so no volume would back a claim: declare a class with the host_dir whose "
                         "subdirectories are the volumes, e.g. {local-storage: {host_dir: /mnt/disks}}",
                         rule="storage-class")
        for name, spec in (local or {}).items():
            classes.append((name, "local_volume_provisioner_storage_classes", bool(spec.get("is_default"))))
    for name, spec in (ctx.value("nfs_storage_classes") or {}).items():
        server = spec.get("server")
        if server not in ctx.inventory.hosts and not _is_ipv4(server) and "{{" not in str(server):
            yield ctx.at("nfs_storage_classes", f"nfs_storage_classes: class {name}: server {server} is neither a host "
                         "of this inventory nor an IPv4 address, so nothing backs the class: name the NFS server's "
                         "inventory host or give its address", rule="storage-class")
        classes.append((name, "nfs_storage_classes", bool(spec.get("is_default"))))
    ceph = {key: ctx.value(key) or {} for key in ("ceph_rbd_storage_classes", "ceph_cephfs_storage_classes")}
    declared = [key for key, value in ceph.items() if value]
    if ctx.value("ceph_csi_enabled"):
        missing = [key for key in ("ceph_monitors", "ceph_cluster_id", "ceph_csi_user_key") if not ctx.value(key)]
        if missing:
            yield ctx.at("ceph_csi_enabled", f"ceph_csi_enabled is true but {', '.join(missing)} "
                         f"{'is' if len(missing) == 1 else 'are'} not set, so no Ceph cluster backs its storage "
                         "classes: give the monitors' addresses, the cluster's fsid and the client key (vaulted)",
                         rule="storage-class")
        if not declared:
            yield ctx.at("ceph_csi_enabled", "ceph_csi_enabled is true but neither ceph_rbd_storage_classes nor "
                         "ceph_cephfs_storage_classes declares a class, so no claim could use Ceph: declare one, e.g. "
                         "{ceph-rbd: {pool: kubernetes}}", rule="storage-class")
    elif declared:
        yield ctx.at(declared[0], f"{declared[0]} declares classes but ceph_csi_enabled is not true, so nothing "
                     "would provision their volumes: set ceph_csi_enabled: true with the Ceph cluster's monitors",
                     rule="storage-class")
    for key, value in ceph.items():
        classes += [(name, key, bool(spec.get("is_default"))) for name, spec in value.items()]
    names = [name for name, _, _ in classes]
    for name in sorted({n for n in names if names.count(n) > 1}):
        where = [setting for n, setting, _ in classes if n == name]
        yield ctx.at(where[-1], f"storage class {name} is declared in both {where[0]} and {where[-1]}; one would "
                     "overwrite the other: rename one", rule="storage-class")
    defaults = [(name, setting) for name, setting, default in classes if default]
    if len(defaults) > 1:
        yield ctx.at(defaults[-1][1], f"{len(defaults)} storage classes are marked is_default "
                     f"({', '.join(sorted(name for name, _ in defaults))}); a cluster has one default StorageClass: "
                     "keep is_default on one", rule="storage-class")


# Addons whose pinned release needs a current Kubernetes (their own compatibility tables).
CURRENT_ONLY_ADDONS = {"metrics_server_enabled": "metrics-server", "ceph_csi_enabled": "Ceph CSI"}


def addon_release(ctx: Context):
    release = releases.get(ctx.value("kube_version")) if isinstance(ctx.value("kube_version"), str) else None
    if release is None or release.status == "current":
        return
    for key, title in CURRENT_ONLY_ADDONS.items():
        if ctx.value(key):
            pinned = next(image for image in images.ADDONS if image.enabled_by == key)
            yield ctx.at(key, f"{title} {pinned.tag} (the version kinstall pins) needs a current Kubernetes release, "
                         f"not {release.version} (end of life): turn {key} off, or install a {title} release that "
                         "supports it yourself", rule="addon-release")


def metrics_server_tls(ctx: Context):
    """metrics-server verifies kubelets' serving certificates only when the cluster CA signs them,
    which kinstall does not offer (kubelet_rotate_server_certificates): say what that means."""
    if ctx.value("metrics_server_enabled") and ctx.value("metrics_server_kubelet_insecure_tls"):
        yield ctx.at("metrics_server_kubelet_insecure_tls", "metrics-server will not verify the kubelets' serving "
                     "certificates (kubeadm's kubelets sign their own, so there is nothing to verify them against): "
                     "it trusts the node network between them, as Kubespray's default does",
                     severity=WARNING, rule="metrics-server-tls")


# ---------------------------------------------------------------- paths reset removes

# System directories: `kinstall reset` removes etcd_data_dir and local_release_dir whole, so
# neither may be one of these, nor hold one.
SYSTEM_DIRS = ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media", "/mnt", "/opt",
               "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib",
               "/usr/local", "/usr/local/bin", "/usr/local/lib", "/usr/local/sbin", "/usr/sbin", "/usr/share",
               "/var", "/var/cache", "/var/lib", "/var/log", "/var/run", "/var/tmp", "/var/lib/kubelet",
               "/var/lib/containerd", "/etc/kubernetes")


def removable_paths(ctx: Context):
    for name in ("etcd_data_dir", "local_release_dir"):
        value = ctx.value(name)
        if not isinstance(value, str) or "{{" in value:
            continue
        normal = posixpath.normpath(value)
        if normal != value or value.startswith("//"):
            yield ctx.at(name, f"{name} '{value}' is not a plain absolute path; write it as {normal}",
                         rule="removable-path")
        elif normal in SYSTEM_DIRS or any(d.startswith(normal + "/") for d in SYSTEM_DIRS):
            example = "/var/lib/etcd" if name == "etcd_data_dir" else "/var/cache/kinstall/releases"
            yield ctx.at(name, f"{name} '{value}' is a system directory, and `kinstall reset` removes {name} "
                         f"whole: use a directory of its own, such as {example}",
                         rule="removable-path")


# ---------------------------------------------------------------- the audit log

AUDIT_LEVELS = ("None", "Metadata", "Request", "RequestResponse")


def audit(ctx: Context):
    """The audit policy's rules parse, and its directories are the log's own: each is mounted into
    the API server's pod (the log's read-write), so none may be a system directory."""
    rules = ctx.value("audit_policy_custom_rules")
    if isinstance(rules, str) and rules.strip() and "{{" not in rules:
        problem = _audit_rules_problem(rules)
        if problem:
            yield ctx.at("audit_policy_custom_rules", f"audit_policy_custom_rules {problem}; write a YAML list of "
                         "audit policy rules, e.g. '- level: Metadata'", rule="audit-policy")
    for name, directory in (("audit_log_hostpath", ctx.value("audit_log_hostpath")),
                            ("audit_policy_file", _parent(ctx.value("audit_policy_file")))):
        if isinstance(directory, str) and _system_dir(directory):
            yield ctx.at(name, f"{name} puts the audit {'log' if name == 'audit_log_hostpath' else 'policy'} in "
                         f"{directory}, a system directory that would be mounted into the API server's pod: use a "
                         f"directory of its own, such as {schema.default(name)}", rule="audit-path")
    mount, log = ctx.value("audit_log_mountpath"), ctx.value("audit_log_path")
    if isinstance(mount, str) and isinstance(log, str) and _parent(log) != posixpath.normpath(mount):
        yield ctx.at("audit_log_mountpath", f"audit_log_path '{log}' is not in audit_log_mountpath '{mount}', so the "
                     "log would never reach the host: put the log in that directory, or leave audit_log_mountpath "
                     "out (it is then the log's directory)", rule="audit-path")


def _audit_rules_problem(text: str) -> str | None:
    import yaml

    try:
        rules = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at its line {mark.line + 1}" if mark else ""
        return f"does not parse as YAML{where} ({getattr(error, 'problem', None) or error})"
    if not isinstance(rules, list) or not rules:
        return "is not a list of rules"
    for number, rule in enumerate(rules, 1):
        if not isinstance(rule, dict) or rule.get("level") not in AUDIT_LEVELS:
            return f"rule {number} has no level of {', '.join(AUDIT_LEVELS)}"
    return None


def _parent(path) -> str | None:
    return posixpath.dirname(posixpath.normpath(path)) if isinstance(path, str) else None


def _system_dir(path: str) -> bool:
    normal = posixpath.normpath(path)
    return normal in SYSTEM_DIRS or any(d.startswith(normal + "/") for d in SYSTEM_DIRS) or \
        normal.startswith(("/proc/", "/sys/", "/dev/", "/etc/kubernetes/manifests", "/etc/kubernetes/pki"))


# ---------------------------------------------------------------- scheduled etcd backups

def etcd_backup(ctx: Context):
    """Scheduled backups leave the etcd member: the target is another host of the inventory or a
    directory of its own (both receive every Secret of the cluster), and the schedule, the target
    and the retention make sense together."""
    schedule, target = ctx.value("etcd_backup_schedule"), ctx.value("etcd_backup_target")
    if schedule and ctx.value("etcd_backup_retention_count") == -1:
        yield ctx.at("etcd_backup_retention_count", "etcd_backup_retention_count is -1 (Kubespray's default), so "
                     "the scheduled backups keep every snapshot on the etcd member until its disk fills: set how "
                     "many to keep, such as 3", severity=WARNING, rule="etcd-backup")
    if not isinstance(target, str) or not target:
        if schedule:
            yield ctx.at("etcd_backup_schedule", "the scheduled backups stay on the first etcd member only: set "
                         "etcd_backup_target to another host's directory (HOST:/path) or a mounted volume's, so a "
                         "lost member does not take its backups with it", severity=WARNING, rule="etcd-backup")
        return
    host, _, directory = target.rpartition(":")
    if not schedule:
        yield ctx.at("etcd_backup_target", "etcd_backup_target is used by the scheduled backups only, and "
                     "etcd_backup_schedule is empty: set a schedule such as daily", severity=WARNING,
                     rule="etcd-backup")
    if host:
        members = ctx.inventory.ordered_members(ETCD)
        first = members[0] if members else None
        if host not in ctx.inventory.hosts:
            yield ctx.at("etcd_backup_target", f"etcd_backup_target names host '{host}', which is not a host of "
                         f"this inventory{suggest(host, set(ctx.inventory.hosts)) or '.'} kinstall sets up the "
                         "backups' SSH access on that host: add it to the inventory (in any group, or under all)",
                         rule="etcd-backup")
        elif host == first:
            yield ctx.at("etcd_backup_target", f"etcd_backup_target is on {host}, the etcd member that takes the "
                         "backups: name another host, so the backups outlive it", rule="etcd-backup")
        elif host in ctx.inventory.members(ETCD):
            yield ctx.at("etcd_backup_target", f"etcd_backup_target is on {host}, an etcd member too: a host "
                         "outside the etcd group keeps the backups safer", severity=WARNING, rule="etcd-backup")
    if _system_dir(directory):
        yield ctx.at("etcd_backup_target", f"etcd_backup_target's directory {directory} is a system directory; the "
                     "backups prune old snapshots in it: use a directory of its own, such as /var/backups/kinstall-etcd",
                     rule="etcd-backup")
    elif not host and posixpath.normpath(directory) == posixpath.normpath(f"{ctx.value('etcd_backup_prefix')}/etcd"):
        yield ctx.at("etcd_backup_target", f"etcd_backup_target {directory} is where the member keeps its own "
                     "snapshots (etcd_backup_prefix/etcd): name a directory on another volume or host",
                     rule="etcd-backup")


# ---------------------------------------------------------------- Kubespray's names

def kubespray_names(ctx: Context):
    """Kubespray's names that kinstall does not implement: refused where the value asks for a
    feature kinstall does not offer; where the cluster will differ from Kubespray's, said once."""
    implemented = set(schema.variables())
    templated: dict[str, object] = {}
    for source in ctx.inventory.sources():
        for name, value in source.data.items():
            if name in implemented:
                continue
            feature = kubespray.asked(name, value)
            if feature:
                yield source.finding(name, feature.refusal(name, value), rule="not-offered", key=True)
            elif kubespray.is_switch(name) and kubespray.templated(value) and kubespray.differs(name, value):
                templated.setdefault(name, source)
    for name, source in sorted(templated.items()):
        yield source.finding(name, f"'{name}' is a Jinja expression, which kinstall cannot evaluate; if it "
                             "comes out as switching on a feature kinstall does not offer, the cluster will "
                             "not have it", severity=WARNING, rule="not-offered", key=True)
    differences = ctx.kubespray_differences
    unused = [d for d in differences if d.where and d.kinstall == "does not use it"]
    if unused:
        yield ctx.root(f"{len(unused)} Kubespray setting{'s' if len(unused) != 1 else ''} that kinstall does not "
                       f"use {'are' if len(unused) != 1 else 'is'} set away from Kubespray's default; the cluster "
                       "is built as with the defaults (`kinstall plan` lists them): "
                       + ", ".join(f"{d.name} ({d.where})" for d in unused), severity=WARNING, rule="kubespray-inert")
    others = [d for d in differences if d not in unused]
    if others:
        yield ctx.root(f"the cluster differs from the one Kubespray would build on {len(others)} setting"
                       f"{'s' if len(others) != 1 else ''} ({', '.join(d.name for d in others)}); "
                       "`kinstall plan` says how", severity=NOTE, rule="kubespray-defaults")


RULES = (
    kubespray_names, groups_known, control_plane_not_empty, etcd_members, cluster_group_complete, hosts_in_no_role,
    host_names, unique_addresses, networks_disjoint, pod_network_size, release_supported, plugin_release,
    plugin_groups, plugin_rules, tenant_isolation, component_versions, runtime_cri, download_source,
    storage_classes, removable_paths, audit, etcd_backup, addon_release, metrics_server_tls,
)


def check(ctx: Context) -> list[Finding]:
    return [finding for rule in RULES for finding in rule(ctx)]
