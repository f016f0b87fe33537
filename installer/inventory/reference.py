"""The settings reference (docs/settings.md), made from the schema so the two never drift: every
setting kinstall reads, grouped by where it is set, with its type or form, its default and what it
does. `scripts/settings-reference` writes the page; a test holds the page equal to this."""

from __future__ import annotations

import json

from installer.inventory import schema

SCOPES = (
    ("cluster", "Cluster settings", "Set once for the cluster (group_vars/all, group_vars/k8s_cluster or the "
                                    "inventory's all.vars); a network plugin's settings count only with that plugin."),
    ("host", "Host settings", "Set per host (host_vars, or on the host's line)."),
    ("connection", "Connection settings", "Ansible's own, read as Ansible reads them."),
)


def _form(spec: dict) -> str:
    if "x-kinstall-form" in spec:
        return spec["x-kinstall-form"]
    if "enum" in spec:
        return " | ".join(f"`{value}`" for value in spec["enum"])
    kind = spec.get("type", "")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array" and isinstance(spec.get("items"), dict) and spec["items"].get("type"):
        return f"list of {spec['items']['type']}"
    return kind or ("see the schema" if "$ref" in spec else "")


def _default(name: str, spec: dict) -> str:
    if schema.secret(name):
        return "(secret: none)"
    if "default" not in spec:
        return ""
    return f"`{json.dumps(spec['default'])}`"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown() -> str:
    settings = schema.variables()
    lines = ["# Settings", "",
             "Every setting kinstall reads, from its JSON Schema (`kinstall schema`); written by "
             "`scripts/settings-reference`, never by hand. Kubespray's names keep Kubespray's meaning "
             "and default; where kinstall's default differs on purpose, the description says so and "
             "`kinstall plan` lists it.", ""]
    for scope, title, lead in SCOPES:
        names = sorted(n for n in settings if schema.scope(n) == scope)
        lines += [f"## {title}", "", lead, "", "| setting | form | default | what it does |", "|---|---|---|---|"]
        for name in names:
            spec = settings[name]
            plugin = f" ({spec['x-kinstall-plugin']} only)" if spec.get("x-kinstall-plugin") else ""
            lines.append(f"| `{name}`{plugin} | {_cell(_form(spec))} | {_cell(_default(name, spec))} | "
                         f"{_cell(spec.get('description', ''))} |")
        lines.append("")
    return "\n".join(lines)


ROLE_DEFAULTS = "installer/roles/kinstall_lib/defaults/main.yml"


def role_defaults() -> str:
    """The roles' one source of the settings' defaults (kinstall_lib's role defaults, which every
    role depends on): the schema's, for a role run without kinstall (Molecule, a plain
    ansible-playbook). A kinstall run passes every resolved setting, so the inventory decides."""
    values = {name: schema.default(name) for name in sorted(schema.variables())
              if schema.default(name) is not None and schema.scope(name) != "connection" and not schema.secret(name)}
    # JSON is YAML; each name an inventory sets, so it cannot carry the role's prefix.
    return ("# The settings' defaults for the roles, from kinstall's schema: written by scripts/settings-reference,\n"
            "# never by hand (a test holds it equal). Roles never restate a default with `| default(...)`.\n"
            + "".join(f"{name}:  # noqa: var-naming[no-role-prefix] - an inventory setting\n  {json.dumps(value)}\n"
                      for name, value in values.items()))
