"""Hosts, groups and variables of an Ansible inventory, resolved the way Ansible resolves them."""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

from installer import plugins
from installer.inventory.documents import Document, ParseError, is_script, load_file, load_script
from installer.inventory.findings import NOTE, WARNING, Finding
from installer.inventory.schema import suggest

CONTROL_PLANE, NODES, ETCD, CLUSTER = "kube_control_plane", "kube_node", "etcd", "k8s_cluster"
CORE_GROUPS = (CONTROL_PLANE, NODES, ETCD, CLUSTER, "calico_rr", "bastion")
# Kubespray's operational groups: hosts to recover (recover-control-plane.yml) and to add (scale.yml).
OPERATIONAL_GROUPS = ("broken_kube_control_plane", "broken_etcd", "for_scale")
# Kubespray's earlier names, read as the current ones.
GROUP_ALIASES = {"kube-master": CONTROL_PLANE, "kube_master": CONTROL_PLANE, "kube-node": NODES,
                 "k8s-cluster": CLUSTER, "calico-rr": "calico_rr"}
VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")
INVENTORY_NAMES = ("hosts.yaml", "hosts.yml", "inventory.yaml", "inventory.yml", "hosts.ini", "inventory.ini",
                   "hosts", "inventory", "vagrant_ansible_inventory")


def known_groups() -> set[str]:
    return set(CORE_GROUPS) | set(OPERATIONAL_GROUPS) | plugins.all_groups() | {"all", "ungrouped"}


def shown(path: Path) -> str:
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


@dataclass
class VarSource:
    doc: Document
    path: tuple  # where the mapping sits inside doc
    data: dict

    def finding(self, variable: str, message: str, **kw) -> Finding:
        return self.doc.finding(self.path + (variable,), message, **kw)

    def label(self, variable: str) -> str:
        """file:line where the variable is set, for messages that point at a second place."""
        line, _ = self.doc.where(self.path + (variable,))
        return f"{self.doc.file}:{line}"


@dataclass
class Group:
    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: set[str] = field(default_factory=set)
    inline: list[VarSource] = field(default_factory=list)
    files: list[VarSource] = field(default_factory=list)
    defined: list[tuple[Document, tuple]] = field(default_factory=list)


@dataclass
class Host:
    name: str
    groups: set[str] = field(default_factory=set)
    inline: list[VarSource] = field(default_factory=list)
    files: list[VarSource] = field(default_factory=list)
    defined: list[tuple[Document, tuple]] = field(default_factory=list)

    def finding(self, message: str, **kw) -> Finding:
        doc, path = self.defined[0]
        return doc.finding(path, message, key=True, **kw)


_RANGE = re.compile(r"^(.*?)\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::(\d+))?\](.*)\Z", re.DOTALL)


# More hosts than this from one pattern is a slip (node[1:100000]), not a cluster.
MAX_RANGE_HOSTS = 10000


class RangeError(ValueError):
    """A host range Ansible would refuse or that names no host, with what to write instead."""


def expand_hosts(pattern: str) -> list[str]:
    """Ansible's host ranges: node[01:03] -> node01, node02, node03; node[a:c] -> nodea..nodec.
    Raises RangeError for a stride below 1, a range that runs backwards, or one too large."""
    match = _RANGE.match(pattern)
    if not match:
        return [pattern]
    head, start, end, stride, tail = match.groups()
    step = int(stride or 1)
    if step < 1:
        raise RangeError(f"host range '{pattern}' has stride {step}; a stride is 1 or more")
    if start.isdigit() and end.isdigit():
        first, last = int(start), int(end)
        width = len(start) if start.startswith("0") else 0
        make = lambda i: str(i).zfill(width)  # noqa: E731 - the one difference between the two kinds
    elif len(start) == len(end) == 1 and start in string.ascii_letters and end in string.ascii_letters:
        first, last, make = ord(start), ord(end), chr
    else:
        return [pattern]
    if first > last:
        raise RangeError(f"host range '{pattern}' runs backwards ({start} is after {end}) and names no host; "
                         f"write [{end}:{start}]")
    if (last - first) // step + 1 > MAX_RANGE_HOSTS:
        raise RangeError(f"host range '{pattern}' names {(last - first) // step + 1} hosts; kinstall takes at most "
                         f"{MAX_RANGE_HOSTS} from one range")
    items = [make(i) for i in range(first, last + 1, step)]
    expanded = [name for item in items for name in expand_hosts(f"{head}{item}{tail}")]
    if len(expanded) > MAX_RANGE_HOSTS:
        raise RangeError(f"host range '{pattern}' names {len(expanded)} hosts; kinstall takes at most "
                         f"{MAX_RANGE_HOSTS} from one range")
    return expanded


class Inventory:
    def __init__(self) -> None:
        self.groups: dict[str, Group] = {"all": Group("all")}
        self.hosts: dict[str, Host] = {}
        self.documents: list[Document] = []
        self.findings: list[Finding] = []
        self.main: Document | None = None
        self._members: dict[str, set[str]] = {}
        self._group_cache: dict[frozenset, dict] = {}
        self.aliases: dict[str, str] = {}  # old group name used in the inventory -> current name

    # ------------------------------------------------------------ building

    def group(self, name: str, doc: Document | None = None, path: tuple = ()) -> Group:
        if name in GROUP_ALIASES:
            new = GROUP_ALIASES[name]
            if doc is not None:
                self.aliases[name] = new
                self.findings.append(doc.finding(path, f"group '{name}' is Kubespray's old name for '{new}'; "
                                                 f"kinstall reads it as '{new}': rename it", WARNING,
                                                 rule="legacy-group", key=True))
            name = new
        group = self.groups.setdefault(name, Group(name))
        if doc is not None:
            group.defined.append((doc, path))
        return group

    def add_document(self, doc: Document) -> None:
        self.main = self.main or doc
        self.documents.append(doc)
        if not isinstance(doc.data, dict):
            return
        for name, body in doc.data.items():
            group = self.group(name, doc, (name,))
            if name != "all":
                self._link(self.groups["all"], group)
            self._walk(group, body, doc, (name,))

    def _link(self, parent: Group, child: Group) -> None:
        if child.name != parent.name and child.name not in parent.children:
            parent.children.append(child.name)
            child.parents.add(parent.name)

    def _walk(self, group: Group, body, doc: Document, path: tuple) -> None:
        if not isinstance(body, dict):
            return
        hosts = body.get("hosts")
        if isinstance(hosts, dict):
            listed = set(group.hosts)
            for pattern, host_vars in hosts.items():
                try:
                    names = expand_hosts(pattern)
                except RangeError as exc:
                    self.findings.append(doc.finding(path + ("hosts", pattern), str(exc), rule="host-range", key=True))
                    continue
                for name in names:
                    host = self.hosts.setdefault(name, Host(name))
                    host.defined.append((doc, path + ("hosts", pattern)))
                    host.groups.add(group.name)
                    if name not in listed:
                        listed.add(name)
                        group.hosts.append(name)
                    if isinstance(host_vars, dict) and host_vars:
                        host.inline.append(VarSource(doc, path + ("hosts", pattern), host_vars))
        if isinstance(body.get("vars"), dict) and body["vars"]:
            group.inline.append(VarSource(doc, path + ("vars",), body["vars"]))
        children = body.get("children")
        if isinstance(children, dict):
            for name, child_body in children.items():
                child = self.group(name, doc, path + ("children", name))
                self._link(group, child)
                self._walk(child, child_body, doc, path + ("children", name))

    def compute_cluster_group(self) -> None:
        """Kubespray's k8s_cluster: when the inventory does not declare it, it is the union of the
        control plane, the nodes and the route reflectors, so group_vars/k8s_cluster applies."""
        group = self.group(CLUSTER)
        if group.defined:
            return
        for name in (CONTROL_PLANE, NODES, "calico_rr"):
            self._link(group, self.group(name))
        self._link(self.groups["all"], group)
        self._members.clear()

    def ansible_overlay(self) -> dict:
        """A second inventory source for Ansible that declares the groups as kinstall reads them:
        the computed k8s_cluster, and each old group name as a child of its current one. With it,
        a playbook's `hosts: k8s_cluster` or `kube_control_plane` matches what validate and plan
        showed, and group_vars/k8s_cluster applies, whatever names the inventory used."""
        children: dict = {}
        cluster = self.groups.get(CLUSTER)
        if cluster is not None and not cluster.defined:
            children[CLUSTER] = {"children": {name: None for name in cluster.children}}
        for old, new in sorted(self.aliases.items()):
            children.setdefault(new, {}).setdefault("children", {})[old] = None
        return {"all": {"children": children}} if children else {}

    def add_vars_file(self, kind: str, name: str, doc: Document) -> None:
        self.documents.append(doc)
        if not isinstance(doc.data, dict):
            return
        source = VarSource(doc, (), doc.data)
        if kind == "group_vars":
            if name in GROUP_ALIASES:
                self.findings.append(doc.finding((), f"group_vars for '{name}', Kubespray's old name for "
                                                 f"'{GROUP_ALIASES[name]}'; kinstall applies them to "
                                                 f"'{GROUP_ALIASES[name]}': rename the file", WARNING,
                                                 rule="legacy-group"))
            elif name not in self.groups:
                hint = suggest(name, known_groups() | set(self.groups))
                self.findings.append(doc.finding(
                    (), f"there is no group '{name}' in the inventory, so these variables apply to no host{hint}",
                    "error" if hint else WARNING, rule="orphan-vars"))
            self.group(name).files.append(source)
        else:
            if name not in self.hosts:
                hint = suggest(name, self.hosts)
                self.findings.append(doc.finding((), f"there is no host '{name}' in the inventory, so these "
                                                 f"variables apply to nothing{hint}", WARNING, rule="orphan-vars"))
                return
            self.hosts[name].files.append(source)

    # ------------------------------------------------------------ queries

    def members(self, name: str) -> set[str]:
        """Every host in the group, its children included."""
        if name not in self._members:
            self._members[name] = set()  # guards against cycles
            group = self.groups.get(name)
            found: set[str] = set()
            if group is not None:
                found.update(group.hosts)
                for child in group.children:
                    found |= self.members(child)
            if name == "all":
                found = set(self.hosts)
            self._members[name] = found
        return self._members[name]

    def ordered_members(self, name: str) -> list[str]:
        """The group's hosts in Ansible's order (what `groups[name]` and `name[0]` mean in a play):
        its own hosts as written, then its children's, level by level, each host once."""
        found: dict[str, None] = {}
        level, seen = [name], {name}
        while level:
            below: list[str] = []
            for group in (self.groups[n] for n in level if n in self.groups):
                found.update(dict.fromkeys(group.hosts))
                below += [c for c in group.children if c not in seen and c not in below]
            seen.update(below)
            level = below
        return list(found)

    def ancestors(self, host: Host) -> set[str]:
        seen: set[str] = set()
        todo = list(host.groups)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            todo.extend(self.groups[name].parents)
        seen.discard("all")
        return seen

    def depth(self, name: str, _seen: frozenset = frozenset()) -> int:
        parents = self.groups[name].parents - _seen
        if name == "all" or not parents:
            return 0
        return 1 + max(self.depth(p, _seen | {name}) for p in parents)

    def resolve(self, host_name: str) -> dict[str, tuple[object, VarSource]]:
        """The host's variables, each with the source that set it, by Ansible's precedence:
        all inline < group_vars/all < other groups inline (by depth, then name) < their group_vars
        < host inline < host_vars."""
        host = self.hosts[host_name]
        base = self.group_level(host_name)
        if not host.inline and not host.files:
            return base
        merged = dict(base)
        for source in host.inline + host.files:
            for key, value in source.data.items():
                merged[key] = (value, source)
        return merged

    def group_level(self, host_name: str) -> dict[str, tuple[object, VarSource]]:
        """The variables a host gets from its groups alone; one shared dict per set of groups."""
        groups = frozenset(self.ancestors(self.hosts[host_name]))
        base = self._group_cache.get(groups)
        if base is None:
            ordered = sorted(groups, key=lambda g: (self.depth(g), g))
            all_group = self.groups["all"]
            sources = all_group.inline + all_group.files
            sources += [s for g in ordered for s in self.groups[g].inline]
            sources += [s for g in ordered for s in self.groups[g].files]
            base = {}
            for source in sources:
                for key, value in source.data.items():
                    base[key] = (value, source)
            self._group_cache[groups] = base
        return base

    def sources(self):
        """Every mapping of variables in the inventory, once each: groups' then hosts'."""
        for owner in list(self.groups.values()) + list(self.hosts.values()):
            yield from owner.inline
            yield from owner.files

    def value(self, host_name: str, key: str, default=None):
        found = self.resolve(host_name).get(key)
        return default if found is None else found[0]


def find_inventory_file(path: Path) -> Path:
    if path.is_dir():
        for name in INVENTORY_NAMES:
            if (path / name).is_file():
                return path / name
    return path


def _vars_files(directory: Path):
    """(name, file) for every vars file under group_vars/ or host_vars/, in Ansible's order."""
    if not directory.is_dir():
        return
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            for file in sorted(p for p in entry.rglob("*") if p.is_file() and not p.name.startswith(".")):
                if file.suffix.lower() in VARS_SUFFIXES:
                    yield entry.name, file
        elif entry.suffix.lower() in VARS_SUFFIXES:
            yield (entry.stem if entry.suffix else entry.name), entry


def load(path: Path) -> Inventory:
    """Read the inventory file and the group_vars/ and host_vars/ beside it. Parse errors become
    findings; the rest of the inventory is still read, so one run reports every problem."""
    inventory = Inventory()
    path = find_inventory_file(path)
    script = is_script(path)
    if script:
        inventory.findings.append(Finding(shown(path), 1, 1, "$", "an executable inventory: kinstall ran it through "
                                          "`ansible-inventory --list`, so findings name hosts and keys, not lines",
                                          NOTE, rule="dynamic-inventory"))
    for kind, directory in (("main", None), ("group_vars", path.parent / "group_vars"),
                            ("host_vars", path.parent / "host_vars")):
        # ansible-inventory has read a script's group_vars and host_vars already.
        files = [(None, path)] if kind == "main" else [] if script else list(_vars_files(directory))
        for name, file in files:
            try:
                doc, findings = (load_script if kind == "main" and script else load_file)(file, shown(file))
            except ParseError as exc:
                inventory.findings.append(exc.finding)
                if kind == "main":
                    inventory.main = Document(file=shown(file))
                    inventory.compute_cluster_group()
                continue
            inventory.findings.extend(findings)
            if kind == "main":
                inventory.add_document(doc)
                inventory.compute_cluster_group()
            else:
                inventory.add_vars_file(kind, name, doc)
    return inventory
