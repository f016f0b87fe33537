"""The support matrix printed by `kinstall plugins`."""

from __future__ import annotations

from installer import plugins, releases


def rows() -> list[dict]:
    out = []
    for plugin in plugins.REGISTRY.values():
        versions = [v for v, r in releases.supported().items() if plugin.supports_minor(r.tuple[:2])]
        out.append({
            "name": plugin.name,
            "title": plugin.title,
            "version": plugin.version,
            "maintained": plugin.maintained,
            "kubernetes": releases.summarize(versions),
            "data_path": plugin.data_path,
            "network_policy": plugin.network_policy,
            "tenant_isolation": plugin.tenant_isolation,
            "ports": [{"protocol": p.protocol, "port": p.port, "hosts": p.hosts, "purpose": p.purpose}
                      for p in plugin.ports],
            "host_settings": plugin.host_settings,
            "settings": sorted(plugin.settings),
            "groups": list(plugin.groups),
            "alternative": plugin.alternative,
        })
    return out


def _setting(value) -> str:
    """A host setting's value as the matrix prints it: key=value pairs, a list, or the value."""
    if isinstance(value, dict):
        return ", ".join(f"{a}={b}" for a, b in value.items())
    return ", ".join(value) if isinstance(value, list) else str(value)


def render(name: str | None = None) -> str:
    lines = []
    for row in rows():
        if name not in (None, row["name"]):
            continue
        state = "maintained" if row["maintained"] else "UNMAINTAINED"
        lines += [
            f"{row['name']} ({row['title']} {row['version']}, {state})",
            f"  Kubernetes:     {row['kubernetes']}",
            f"  data path:      {row['data_path']}",
            f"  NetworkPolicy:  {row['network_policy']}",
            f"  tenants:        {row['tenant_isolation'] or 'cannot isolate tenants'}",
            "  ports:          " + (", ".join(
                f"{'IP proto ' + str(p['port']) if p['protocol'] == 'ip' else p['protocol'].upper() + ' ' + str(p['port'])}"
                f" ({p['purpose']})" for p in row["ports"]) or "none of its own"),
            "  host settings:  " + "; ".join(f"{k}: {_setting(v)}" for k, v in row["host_settings"].items()),
            "  settings:       " + ", ".join(row["settings"]),
        ]
        if row["groups"]:
            lines.append("  groups:         " + ", ".join(row["groups"]))
        if row["alternative"]:
            lines.append(f"  instead:        {row['alternative']}")
        lines.append("")
    if name is None:
        lines += ["Kubernetes releases:"] + [f"  {minor:<6} {patches:<16} {STATUS[status]}"
                                             for minor, patches, status in release_rows()]
    return "\n".join(lines).rstrip()


STATUS = {"current": "maintained upstream",
          "legacy": "end of life upstream; for the unmaintained plugins that run on nothing newer",
          "lab": "end of life upstream; used for the local lab (built from Debian's source package)"}


def release_rows() -> list[tuple[str, str, str]]:
    """(minor, patch range, status) for each supported minor, newest first."""
    by_minor: dict[str, list[str]] = {}
    for version, release in releases.supported().items():
        by_minor.setdefault(release.minor, []).append(version)
    rows = [(minor, releases.summarize(versions), releases.supported()[versions[0]].status)
            for minor, versions in by_minor.items()]
    return sorted(rows, key=lambda row: releases.version_key(row[0]), reverse=True)
