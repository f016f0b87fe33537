"""The network plugin registry: the only place plugin names are defined."""

from installer.plugins import bridge, calico, opencontrail, romana
from installer.plugins.base import NetworkPlugin, Port

REGISTRY: dict[str, NetworkPlugin] = {
    plugin.name: plugin for plugin in (calico.PLUGIN, romana.PLUGIN, opencontrail.PLUGIN, bridge.PLUGIN)
}
DEFAULT = "calico"


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str) -> NetworkPlugin | None:
    return REGISTRY.get(name)


def maintained() -> list[NetworkPlugin]:
    return [plugin for plugin in REGISTRY.values() if plugin.maintained]


def all_groups() -> set[str]:
    return {group for plugin in REGISTRY.values() for group in plugin.groups}


__all__ = ["REGISTRY", "DEFAULT", "NetworkPlugin", "Port", "names", "get", "maintained", "all_groups"]
