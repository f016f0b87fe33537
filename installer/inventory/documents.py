"""Parsed input files that remember where every key and value came from.

A Document holds plain data (dicts, lists, scalars; what JSON Schema validates) and two side
tables mapping a path inside the data to a (line, column) in the file, both 1-based.
"""

from __future__ import annotations

import ast
import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor

from installer.inventory.findings import ERROR, WARNING, Finding, json_path

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Document:
    file: str  # as shown to the user
    data: object = None
    kind: str = "yaml"  # yaml | ini
    positions: dict = field(default_factory=dict)  # path -> (line, col) of the value
    key_positions: dict = field(default_factory=dict)  # path -> (line, col) of the key

    def where(self, path: tuple, key: bool = False) -> tuple[int, int]:
        """Position of path, or of its nearest ancestor that has one."""
        path = tuple(path)
        while True:
            table = self.key_positions if key else self.positions
            if path in table:
                return table[path]
            if not key and path in self.key_positions:
                return self.key_positions[path]
            if not path:
                return (1, 1)
            path = path[:-1]

    def finding(self, path: tuple, message: str, severity: str = ERROR, rule: str = "",
                key: bool = False) -> Finding:
        line, col = self.where(path, key=key)
        return Finding(self.file, line, col, json_path(path), message, severity, rule)


class ParseError(Exception):
    def __init__(self, finding: Finding):
        super().__init__(finding.message)
        self.finding = finding


# ---------------------------------------------------------------- YAML

class _Builder:
    """Turns a composed YAML node graph into plain data, recording marks and duplicate keys."""

    def __init__(self, doc: Document, budget: int):
        self.doc = doc
        self.constructor = SafeConstructor()
        self.findings: list[Finding] = []
        self._active: set[int] = set()
        # How many values the document may expand to: aliases can make a few hundred bytes stand for
        # billions of values (a "billion laughs"), which no inventory needs.
        self.budget = budget

    @staticmethod
    def _pos(node) -> tuple[int, int]:
        return (node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node, path: tuple = ()):
        self.budget -= 1
        if self.budget < 0:
            line, col = self._pos(node)
            raise ParseError(Finding(self.doc.file, line, col, json_path(path),
                                     "the YAML aliases expand to more values than an inventory holds (an alias "
                                     "of an alias of ...); write the values out, or use fewer levels of aliases",
                                     rule="yaml-aliases"))
        self.doc.positions[path] = self._pos(node)
        if id(node) in self._active:
            raise ParseError(self.doc.finding(path, "a YAML alias refers to itself; inventories cannot be recursive",
                                              rule="yaml-syntax"))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node, path: tuple = ()):
        if not node.tag.startswith("tag:yaml.org,2002:"):
            # Ansible's !vault, !unsafe and other local tags hold strings we cannot see into.
            return node.value
        try:
            value = self.constructor.construct_object(node)
        except Exception as exc:  # noqa: BLE001 - PyYAML's constructors raise whatever a bad value causes
            line, col = self._pos(node)
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise ParseError(Finding(self.doc.file, line, col, json_path(path), f"'{node.value}' is not a value of its YAML "
                                     f"tag {tag} ({type(exc).__name__}); remove the tag or fix the value",
                                     rule="yaml-tag")) from None
        if isinstance(value, (datetime.date, datetime.datetime)):
            return node.value  # Ansible would keep a date-like string as written
        if isinstance(value, bytes):
            return node.value
        return value

    def _mapping(self, node, path: tuple) -> dict:
        written = {id(key) for key, _ in node.value}
        self.constructor.flatten_mapping(node)
        merged: set[str] = set()  # keys brought in by a merge key (<<), which written keys override
        out: dict = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = self._scalar(key_node)
                key = "" if key is None else key
                key = str(key).lower() if isinstance(key, bool) else str(key)
            else:
                line, col = self._pos(key_node)
                raise ParseError(Finding(self.doc.file, line, col, json_path(path),
                                         "a mapping key must be a plain value, not a list or mapping",
                                         rule="yaml-syntax"))
            child = path + (key,)
            if id(key_node) not in written:
                merged.add(key)
            elif key in merged:
                merged.discard(key)  # a written key overrides what the merge brought: as YAML means
            elif key in out:
                line, col = self._pos(key_node)
                first = self.doc.key_positions[child]
                self.findings.append(Finding(
                    self.doc.file, line, col, json_path(child),
                    f"duplicate key '{key}' (first at line {first[0]}); YAML keeps only the last one, remove one of them",
                    rule="duplicate-key"))
            self.doc.key_positions[child] = self._pos(key_node)
            out[key] = self.build(value_node, child)
        return out


def load_yaml(text: str, file: str) -> tuple[Document, list[Finding]]:
    """Parse one YAML document. Raises ParseError with the parser's line and column."""
    doc = Document(file=file, kind="yaml")
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        context = exc.context or ""
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            context += f" (opened at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1})"
        problem = ": ".join(filter(None, [context, exc.problem]))
        raise ParseError(Finding(file, line, col, "$", f"YAML syntax error: {problem}", rule="yaml-syntax")) from None
    except yaml.YAMLError as exc:
        raise ParseError(Finding(file, 1, 1, "$", f"YAML syntax error: {exc}", rule="yaml-syntax")) from None
    if node is None:
        return doc, []
    builder = _Builder(doc, budget=200_000 + 20 * len(text))
    try:
        doc.data = builder.build(node)
    except RecursionError:
        raise ParseError(Finding(file, 1, 1, "$", "the YAML document is nested too deeply to be an inventory",
                                 rule="yaml-syntax")) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise ParseError(Finding(file, 1, 1, "$", f"YAML value error: {exc}", rule="yaml-syntax")) from None
    return doc, builder.findings


# ---------------------------------------------------------------- INI (Ansible's format)

_SECTION = re.compile(r"^\[([^\]:\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")


def ini_value(text: str):
    """Ansible's rule: a value is a Python literal when it parses as one, else a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def load_ini(text: str, file: str) -> tuple[Document, list[Finding]]:
    """Read Ansible's INI inventory into the YAML inventory's shape, keeping INI line numbers."""
    doc = Document(file=file, kind="ini")
    findings: list[Finding] = []
    root: dict = {"all": {"children": {}}}
    doc.data = root
    groups = root["all"]["children"]

    def group(name: str, line: int) -> dict:
        if name == "all":
            return root["all"]
        if name not in groups:
            groups[name] = {}
            doc.key_positions[("all", "children", name)] = (line, 1)
        return groups[name]

    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            match = _SECTION.match(line)
            if not match or (match.group(2) or "hosts") not in ("hosts", "vars", "children"):
                raise ParseError(Finding(file, number, 1, "$",
                                         f"INI syntax error: '{line}' is not a section header; "
                                         "use [group], [group:vars] or [group:children]", rule="ini-syntax"))
            section, kind = match.group(1), match.group(2) or "hosts"
            base = ("all",) if section == "all" else ("all", "children", section)
            target = group(section, number)
            if kind != "hosts":
                target.setdefault(kind, {})
                doc.key_positions.setdefault(base + (kind,), (number, 1))
            continue
        base = ("all",) if section == "all" else ("all", "children", section)
        target = group(section, number)
        if kind == "vars":
            if "=" not in line:
                raise ParseError(Finding(file, number, 1, json_path(base + ("vars",)),
                                         f"INI syntax error: '{line}' in [{section}:vars] is not key=value",
                                         rule="ini-syntax"))
            key, value = (part.strip() for part in line.split("=", 1))
            _ini_set(doc, target.setdefault("vars", {}), base + ("vars", key), key, ini_value(value),
                     number, _column(raw, key), findings)
        elif kind == "children":
            name = line.split()[0]
            children = target.setdefault("children", {})
            children.setdefault(name, None)
            doc.key_positions[base + ("children", name)] = (number, _column(raw, name))
            group(name, number)
        else:
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError as exc:
                raise ParseError(Finding(file, number, 1, json_path(base), f"INI syntax error: {exc}",
                                         rule="ini-syntax")) from None
            if not tokens:
                continue
            name, host_vars = tokens[0], {}
            if re.fullmatch(r"[^:\[\]]+:\d+", name):  # host:port
                name, port = name.rsplit(":", 1)
                host_vars["ansible_port"] = int(port)
            hosts = target.setdefault("hosts", {})
            host_path = base + ("hosts", name)
            doc.key_positions[host_path] = (number, _column(raw, tokens[0]))
            entry = hosts.get(name) or {}
            hosts[name] = entry
            for k, v in host_vars.items():
                entry[k] = v
                doc.positions[host_path + (k,)] = (number, 1)
            for token in tokens[1:]:
                if "=" not in token:
                    raise ParseError(Finding(file, number, _column(raw, token), json_path(host_path),
                                             f"INI syntax error: '{token}' after host '{name}' is not key=value",
                                             rule="ini-syntax"))
                key, value = token.split("=", 1)
                _ini_set(doc, entry, host_path + (key,), key, ini_value(value), number,
                         _column(raw, key + "="), findings)
            if not entry:
                hosts[name] = None
    return doc, findings


def _column(raw: str, text: str) -> int:
    """1-based column of text in the raw line; shlex may have unquoted it, then the line start."""
    found = raw.find(text)
    return found + 1 if found >= 0 else 1


def _ini_set(doc, mapping, path, key, value, line, col, findings):
    if key in mapping:
        findings.append(Finding(doc.file, line, col, json_path(path),
                                f"'{key}' is set twice on this line; Ansible takes the last one", WARNING,
                                rule="duplicate-key"))
    mapping[key] = value
    doc.key_positions[path] = (line, col)
    doc.positions[path] = (line, col + len(key) + 1)


# ---------------------------------------------------------------- files

def looks_like_ini(text: str) -> bool:
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        return line.startswith("[") and not line.startswith("[{") and _SECTION.match(line) is not None
    return False


def is_script(path: Path) -> bool:
    """An executable inventory file that starts with #!: Ansible runs it as a dynamic inventory
    script. (YAML and INI files with the executable bit, as some checkouts give them, are read.)"""
    if not path.is_file() or not os.access(path, os.X_OK) or path.suffix.lower() in (".yml", ".yaml", ".ini"):
        return False
    with path.open("rb") as handle:
        return handle.read(2) == b"#!"


def load_script(path: Path, shown: str) -> tuple[Document, list[Finding]]:
    """A dynamic inventory, read from what `ansible-inventory --list --export` makes of it (Ansible
    runs the script, and reads the group_vars and host_vars beside it). Findings then name the
    host and key, without a line."""
    command = shutil.which("ansible-inventory", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                                    os.environ.get("PATH", "")]))
    label = f"{shown} (as ansible-inventory lists it)"
    if command is None:
        raise ParseError(Finding(shown, 1, 1, "$", "an executable inventory is read through ansible-inventory, "
                                 "which is not installed here", rule="dynamic-inventory"))
    try:
        done = subprocess.run([command, "-i", str(path), "--list", "--export"], capture_output=True, text=True,
                              timeout=120, check=False)
    except subprocess.TimeoutExpired:
        raise ParseError(Finding(shown, 1, 1, "$", "the inventory script did not answer within 120 s",
                                 rule="dynamic-inventory")) from None
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-2:])[:400]
        raise ParseError(Finding(shown, 1, 1, "$", f"ansible-inventory could not list this executable inventory: "
                                 f"{tail}", rule="dynamic-inventory"))
    try:
        listed = json.loads(done.stdout)
    except ValueError:
        raise ParseError(Finding(shown, 1, 1, "$", "ansible-inventory printed no JSON for this inventory",
                                 rule="dynamic-inventory")) from None
    return Document(file=label, data=_from_listing(listed), kind="dynamic"), []


def _from_listing(listed: dict) -> dict:
    """ansible-inventory's --list form -> the YAML inventory's form."""
    hostvars = listed.get("_meta", {}).get("hostvars", {})
    groups: dict = {}
    for name, body in listed.items():
        if name == "_meta" or not isinstance(body, dict):
            continue
        group: dict = {}
        if body.get("hosts"):
            group["hosts"] = {host: (dict(hostvars.get(host) or {}) or None) for host in body["hosts"]}
        if body.get("children"):
            group["children"] = {child: None for child in body["children"]}
        if body.get("vars"):
            group["vars"] = dict(body["vars"])
        groups[name] = group
    top = groups.pop("all", {})
    top.setdefault("children", {}).update({name: body for name, body in groups.items()})
    # Children named under all are declared again in full below it; keep the full bodies.
    return {"all": top}


def load_file(path: Path, shown: str) -> tuple[Document, list[Finding]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(Finding(shown, 1, 1, "$", f"not a UTF-8 text file ({exc.reason} at byte {exc.start})",
                                 rule="yaml-syntax")) from None
    except OSError as exc:
        raise ParseError(Finding(shown, 1, 1, "$", f"cannot read the file: {exc.strerror}", rule="io")) from None
    if text.startswith("$ANSIBLE_VAULT;"):
        raise ParseError(Finding(shown, 1, 1, "$", "the file is encrypted with ansible-vault; kinstall cannot "
                                 "validate it: keep secrets in a separate vaulted file of their own",
                                 severity="warning", rule="vault"))
    suffix = path.suffix.lower()
    if suffix in (".ini", ".cfg"):
        return load_ini(text, shown)
    if suffix in (".yml", ".yaml", ".json"):
        return load_yaml(text, shown)
    # Any other name (hosts, inventory, vagrant_ansible_inventory): YAML, then INI, as Ansible's
    # inventory plugins are tried in turn.
    if looks_like_ini(text):
        return load_ini(text, shown)
    try:
        doc, findings = load_yaml(text, shown)
    except ParseError:
        return load_ini(text, shown)
    return (doc, findings) if doc.data is None or isinstance(doc.data, dict) else load_ini(text, shown)
