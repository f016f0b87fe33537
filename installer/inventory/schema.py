"""The published JSON Schema, and validation of documents against it with file positions."""

from __future__ import annotations

import copy
import difflib
import functools
import ipaddress
import json
from importlib import resources

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import best_match

from installer import plugins
from installer.inventory import kubespray
from installer.inventory.documents import Document
from installer.inventory.findings import WARNING, Finding

FORMATS = FormatChecker()


@FORMATS.checks("ipv4-cidr", raises=ValueError)
def _is_cidr(value) -> bool:
    if not isinstance(value, str):
        return True
    address, slash, prefix = value.partition("/")
    if not slash:
        raise ValueError(f"'{value}' has no prefix length; write it as a network, e.g. {value}/24")
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv4 network: '{address}' is not an IPv4 address "
                         "(write it as in 10.233.64.0/18)") from None
    if not prefix.isdigit() or not 0 <= int(prefix) <= 32:
        raise ValueError(f"'{value}' is not an IPv4 network: the prefix length must be 0 to 32") from None
    network = ipaddress.IPv4Network(value, strict=False)
    if str(network) != value:
        raise ValueError(f"'{value}' has host bits set; the network is {network}")
    return True


@FORMATS.checks("ipv4", raises=ValueError)
def _is_ipv4(value) -> bool:
    if isinstance(value, str):
        ipaddress.IPv4Address(value)
    return True


@functools.cache
def schema() -> dict:
    """The full schema: the shipped file plus every network plugin's settings."""
    text = resources.files("installer.inventory").joinpath("schema.json").read_text(encoding="utf-8")
    composed = json.loads(text)
    properties = composed["$defs"]["vars"]["properties"]
    for plugin in plugins.REGISTRY.values():
        for name, spec in plugin.settings.items():
            properties[name] = {**spec, "x-kinstall-scope": "cluster", "x-kinstall-plugin": plugin.name}
    return composed


def variables() -> dict:
    return schema()["$defs"]["vars"]["properties"]


def secret(name: str) -> bool:
    """A setting whose value no message, log or record may show (x-kinstall-secret)."""
    return bool(variables().get(name, {}).get("x-kinstall-secret"))


def shown(value) -> str:
    """A value as a message quotes it: control characters (a newline) escaped, so they show."""
    text = str(value)
    if any(not c.isprintable() for c in text):
        return json.dumps(text)
    return f"'{text}'"


def scope(name: str) -> str:
    return variables().get(name, {}).get("x-kinstall-scope", "cluster")


def default(name: str):
    spec = variables().get(name, {})
    if "default" in spec:
        return copy.deepcopy(spec["default"])
    return None


def _anchored(node):
    """The schema for Python's re.search, which jsonschema uses: a pattern's closing `$` also
    matches before a final newline there (not in ECMA-262, the published schema's dialect), so it
    becomes `\\Z`, and a value ending in a newline can no longer pass."""
    if isinstance(node, dict):
        return {key: (value[:-1] + "\\Z" if key == "pattern" and isinstance(value, str) and value.endswith("$")
                      and not value.endswith("\\$") else _anchored(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [_anchored(item) for item in node]
    return node


# A whole number is an int: JSON Schema's "integer" would also take 6443.0.
_Validator = validators.extend(Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)))


@functools.cache
def _checked() -> dict:
    return _anchored(schema())


@functools.cache
def _validator(root: str):
    full = _checked()
    target = full if root == "inventory" else {"$defs": full["$defs"], "$ref": f"#/$defs/{root}"}
    return _Validator(target, format_checker=FORMATS)


@functools.cache
def _property_validator(name: str):
    spec = _checked()["$defs"]["vars"]["properties"].get(name)
    if spec is None:
        return None
    return _Validator({"$defs": _checked()["$defs"], **spec}, format_checker=FORMATS)


def value_is_valid(name: str, value) -> bool:
    """Whether one variable's value passes its own schema (templated values count as valid)."""
    if _templated(value):
        return True
    validator = _property_validator(name)
    return validator is not None and validator.is_valid(value)


def problems(name: str, value) -> list[str]:
    """What the schema says against one variable's value (secrets not quoted)."""
    validator = _property_validator(name)
    if validator is None:
        return []
    found = []
    for error in validator.iter_errors(value):
        if error.validator in ("anyOf", "oneOf") and error.context:
            error = best_match([e for e in error.context if e.validator != "type"] or error.context)
        message = _message(error)
        if error.validator == "pattern" and error.schema.get("x-kinstall-form"):
            message = f"{shown(error.instance)} is not {error.schema['x-kinstall-form']}"
        found.append(_hidden(message, value) if secret(name) else message)
    return found


def suggest(word: str, candidates) -> str:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return f"; did you mean '{match[0]}'?" if match else ""


def _templated(value) -> bool:
    """Jinja expressions are evaluated by Ansible on the host; kinstall cannot check them."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _describe(value) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return f"the string '{value}'"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


_TYPE_WORDS = {"boolean": "a boolean (true or false)", "integer": "a whole number", "string": "a string",
               "object": "a mapping", "array": "a list", "null": "nothing", "number": "a number"}


def _message(error) -> str:
    value = error.instance
    if error.validator == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in expected if t != "null")
        message = f"expected {words}, got {_describe(value)}"
        if isinstance(value, str):
            lowered = value.strip().lower()
            if "boolean" in expected and lowered in ("true", "false", "yes", "no", "on", "off"):
                message += ("; write true or false without quotes (in an INI file, True or False: "
                            "Ansible reads INI values as strings unless they are Python literals)")
            elif "integer" in expected and lowered.lstrip("-").isdigit():
                message += "; write the number without quotes"
        return message
    if error.validator == "enum":
        name = next((p for p in reversed(error.absolute_path) if isinstance(p, str)), None)
        feature = kubespray.asked(name, value) if name else None
        if feature:
            return feature.refusal(name, value)
        choices = ", ".join(str(c) for c in error.validator_value)
        hint = suggest(str(value), [str(c) for c in error.validator_value])
        return f"'{value}' is not one of: {choices}{hint}"
    if error.validator == "format":
        cause = getattr(error, "cause", None)
        if error.validator_value == "ipv4-cidr" and cause:
            return str(cause)
        return f"'{value}' is not a valid IPv4 address"
    if error.validator == "pattern":
        return f"{shown(value)} does not match the expected form {error.validator_value}"
    if error.validator in ("minimum", "maximum"):
        word = "at least" if error.validator == "minimum" else "at most"
        return f"{value} is out of range: it must be {word} {error.validator_value}"
    if error.validator == "minLength":
        return "must not be empty"
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    return error.message


def _unknown_keys(doc: Document, error, base: tuple) -> list[Finding]:
    """One finding per unexpected key, at the key's own line, with a suggestion."""
    allowed = set(error.schema.get("properties", {}))
    kind = error.schema.get("x-kinstall-kind", "")
    where = base + tuple(error.absolute_path)
    out = []
    for key in error.instance:
        if key in allowed:
            continue
        path = where + (key,)
        if kind == "group":
            text = f"unknown key '{key}' in a group; a group holds only hosts, children and vars{suggest(key, allowed)}"
        elif kind == "vars":
            finding = _unknown_variable(doc, path, key, allowed)
            if finding:
                out.append(finding)
            continue
        else:
            text = f"unknown key '{key}'{suggest(key, allowed)}"
        out.append(doc.finding(path, text, rule="schema", key=True))
    return out


# kinstall's earlier names of Kubespray's settings: named, so the fix is plain.
RENAMED = {"calico_nat_outgoing": "nat_outgoing"}


def _unknown_variable(doc: Document, path: tuple, key: str, allowed: set) -> Finding | None:
    """A name outside kinstall's schema: Kubespray's names are judged by their status later
    (rules.kubespray_names); a slip of the keyboard from a known name is an error; anything else
    is a warning, since inventories also hold other tools' and their users' own variables."""
    if key in kubespray.names():
        return None
    if key in RENAMED:
        return doc.finding(path, f"'{key}' is now '{RENAMED[key]}', Kubespray's name for it: rename it",
                           rule="schema", key=True)
    if key in plugins.REGISTRY:
        return doc.finding(path, f"unknown variable '{key}' (to choose the network plugin, set "
                           f"kube_network_plugin: {key})", rule="schema", key=True)
    close = kubespray.near(key, allowed | set(kubespray.names()))
    if close:
        return doc.finding(path, f"unknown variable '{key}'; did you mean '{close}'?", rule="schema", key=True)
    return doc.finding(path, f"variable '{key}' is neither kinstall's nor Kubespray's: kinstall does not use "
                       "it (Ansible still sees it)", severity=WARNING, rule="unknown-variable", key=True)


def validate_document(doc: Document, root: str = "inventory") -> list[Finding]:
    """Every schema error in one document. root is 'inventory' or a $defs name such as 'vars'."""
    if doc.data is None:
        return []
    findings: list[Finding] = []
    for error in _validator(root).iter_errors(doc.data):
        findings.extend(_findings_for(doc, error, ()))
    return findings


def _findings_for(doc: Document, error, base: tuple) -> list[Finding]:
    parent = error.schema if isinstance(error.schema, dict) else {}
    if error.validator in ("anyOf", "oneOf") and error.context:
        # Prefer the branch whose type fits the value: its complaint is the one that helps.
        typed = [e for e in error.context if e.validator != "type"]
        error = best_match(typed or error.context)
    if _templated(error.instance):
        return []
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        return _unknown_keys(doc, error, base)
    path = base + tuple(error.absolute_path)
    message = _message(error)
    if error.validator == "pattern":
        form = error.schema.get("x-kinstall-form") or parent.get("x-kinstall-form")
        message = f"{shown(error.instance)} is not " + (form or f"of the form {error.validator_value}")
    if any(isinstance(part, str) and secret(part) for part in path):
        message = _hidden(message, error.instance)
    return [doc.finding(path, message, rule="schema")]


def _hidden(message: str, value) -> str:
    """The message without the secret value it would quote."""
    for text in {str(value), shown(value), json.dumps(value, default=str)}:
        if text and text not in ("''", '""'):
            message = message.replace(text, "(a hidden value)")
    return message
