"""Kubespray's vocabulary: every variable name a Kubespray inventory may carry, and what kinstall
does with it (installer/data/kubespray_features.yml says how the statuses are given).

implemented: kinstall's schema defines the name; not offered: a feature kinstall does not build,
refused only when the value asks for it; inert: accepted, without effect on what kinstall builds."""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

import yaml

IMPLEMENTED, NOT_OFFERED, INERT = "implemented", "not offered", "inert"
_MISSING = object()
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass(frozen=True)
class Name:
    name: str
    kind: str  # cluster, host, connection, ci
    release: str  # the newest Kubespray release that has it
    written: str  # Kubespray's default as written; "" when it has none

    @property
    def has_default(self) -> bool:
        return bool(self.written) and not self.written.startswith("#")

    @property
    def computed(self) -> bool:
        """A default that is a Jinja expression, worked out by Ansible from other settings."""
        return "{{" in self.written or "{%" in self.written

    @property
    def default(self):
        """Kubespray's default as a value (the written text when it does not parse)."""
        if not self.has_default:
            return None
        try:
            return yaml.safe_load(self.written.replace("\\n", "\n"))
        except yaml.YAMLError:
            return self.written


@dataclass(frozen=True)
class Feature:
    feature: str
    when: dict  # name -> True | False | "set" | [values] | {"not": [values]}
    settings: tuple[str, ...]
    instead: str

    def asks(self, name: str, value) -> bool:
        """Whether this value of `name` asks for the feature. A templated value does not (it
        cannot be told here; see templated())."""
        if value is None or name not in self.when or templated(value):
            return False
        wanted = self.when[name]
        if wanted is True:
            return _truth(value) is True
        if wanted is False:
            return _truth(value) is False
        if wanted == "set":
            return value not in (False, 0, "", [], {}) and _truth(value) is not False
        if isinstance(wanted, dict):
            return str(value) not in [str(v) for v in wanted["not"]]
        return str(value) in [str(v) for v in wanted]

    def refusal(self, name: str, value) -> str:
        shown = value if isinstance(value, (str, int, float, bool)) else "a value"
        return (f"'{name}: {_text(shown)}' asks for {self.feature}, which kinstall does not offer; "
                f"kinstall offers {self.instead}. Remove the setting or set it to Kubespray's default"
                + (f" ({_text(names()[name].default)})" if name in names() and names()[name].has_default
                   and not names()[name].computed else ""))


def _text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _short(value) -> str:
    if value is None:
        return "none"
    text = json.dumps(value) if isinstance(value, (list, dict)) else _text(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _truth(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def templated(value) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@functools.cache
def names() -> dict[str, Name]:
    text = resources.files("installer.data").joinpath("kubespray_names.tsv").read_text(encoding="utf-8")
    found = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name, kind, release, written = line.split("\t", 3)
        found[name] = Name(name, kind, release, written)
    return found


@functools.cache
def _table() -> dict:
    text = resources.files("installer.data").joinpath("kubespray_features.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


@functools.cache
def features() -> tuple[Feature, ...]:
    return tuple(Feature(f["feature"], f["when"], tuple(f.get("settings", ())), f["instead"])
                 for f in _table()["features"])


@functools.cache
def deliberate() -> dict[str, str]:
    """Names kinstall implements with another default than Kubespray's, and why."""
    return {name: entry if isinstance(entry, str) else entry["why"]
            for name, entry in _table().get("deliberate", {}).items()}


@functools.cache
def _deliberate_only_with() -> dict[str, dict]:
    """The settings a deliberate default takes effect under (typha_secure: only with Typha on)."""
    return {name: entry.get("only_with", {}) for name, entry in _table().get("deliberate", {}).items()
            if isinstance(entry, dict)}


@functools.cache
def equivalent() -> dict[str, str]:
    """Names whose kinstall default differs from Kubespray's in form only, and why it is the same."""
    return dict(_table().get("equivalent", {}))


@dataclass(frozen=True)
class Difference:
    """A setting on which the cluster kinstall builds differs from the one Kubespray would."""
    name: str
    kinstall: object  # what the cluster gets
    kubespray: object  # what Kubespray would do with the same inventory
    why: str
    where: str  # file:line of the setting, or "" where the inventory leaves it unset

    def text(self) -> str:
        place = f" ({self.where})" if self.where else ""
        return f"{self.name}{place}: kinstall {_short(self.kinstall)}, Kubespray {_short(self.kubespray)}: {self.why}"


def differences(sources, settings: dict, implemented) -> list[Difference]:
    """Where the cluster differs from Kubespray's for this inventory: Kubespray settings kinstall
    does not use, set away from their default; kinstall's deliberate defaults, where the inventory
    leaves them unset. sources: every VarSource of the inventory; settings: kinstall's resolved
    cluster settings (name -> Setting); implemented: every name kinstall's schema defines."""
    found: dict[str, Difference] = {}
    for source in sources:
        for name, value in source.data.items():
            if name in implemented or is_switch(name) or name not in names() or not differs(name, value):
                continue
            found.setdefault(name, Difference(name, "does not use it", value, "Kubespray setting kinstall does "
                                              "not implement", source.label(name)))
    for name, why in deliberate().items():
        applies = all(name_ in settings and settings[name_].value == value
                      for name_, value in _deliberate_only_with().get(name, {}).items())
        if name in settings and settings[name].source is None and applies:
            found[name] = Difference(name, settings[name].value, names()[name].default, why, "")
    return sorted(found.values(), key=lambda d: d.name)


@functools.cache
def _switches() -> dict[str, tuple[Feature, ...]]:
    found: dict[str, tuple[Feature, ...]] = {}
    for feature in features():
        for name in feature.when:
            found[name] = found.get(name, ()) + (feature,)
    return found


@functools.cache
def _settings_pattern() -> re.Pattern:
    patterns = [fnmatch.translate(p) for feature in features() for p in feature.settings]
    return re.compile("|".join(patterns))


def is_switch(name: str) -> bool:
    """Whether the name can switch on a feature kinstall does not offer."""
    return name in _switches()


def asked(name: str, value) -> Feature | None:
    """The not-offered feature this value of `name` asks for, if any."""
    return next((f for f in _switches().get(name, ()) if f.asks(name, value)), None)


def status(name: str, implemented: set[str] | frozenset[str]) -> str | None:
    """implemented, not offered or inert for one of Kubespray's names; None for any other name."""
    if name in implemented:
        return IMPLEMENTED
    if name in _switches():
        return NOT_OFFERED
    if name in names():
        return INERT
    return None


def default_expression(name: str, value) -> bool:
    """Whether the value is Kubespray's own default expression for the name, copied into the
    inventory as Kubespray's sample does (`dns_domain: "{{ cluster_name }}"`): it asks for
    Kubespray's default, whatever kinstall's form of that default is."""
    known = names().get(name)
    return (known is not None and known.computed and templated(value)
            and _squeeze(value) == _squeeze(known.written.strip().strip('"').strip("'")))


def _squeeze(text: str) -> str:
    return "".join(str(text).split()).replace("'", '"')


def differs(name: str, value) -> bool:
    """Whether an inert name is set to something else than Kubespray's default. A feature's own
    settings never differ: they matter only once the feature is on, and that is refused. Against
    a default Kubespray computes (a Jinja expression), only a different expression differs: a
    plain value there is most often what the expression gives."""
    if _settings_pattern().fullmatch(name):
        return False
    known = names().get(name)
    if known is not None and known.kind == "ci":
        return False  # Kubespray's CI describes its test machines with these; no cluster reads them
    if known is None or not known.has_default:
        return value not in (None, "", [], {})
    if known.computed:
        # Ansible works the default out from other settings: only another expression is told apart.
        return templated(value) and not default_expression(name, value)
    if templated(value):
        return True
    default = known.default
    if isinstance(default, bool) or isinstance(value, bool):
        return _truth(value) != _truth(default)
    if isinstance(default, (int, float)) and isinstance(value, str):
        return value.strip() != str(default)
    return value != default


def near(word: str, known) -> str | None:
    """The known name a word is a slip of the keyboard away from: at most two edits (one for
    short names), the closest first. None when nothing is that near."""
    import difflib

    limit = 1 if len(word) < 8 else 2
    best = None
    for candidate in difflib.get_close_matches(word, list(known), n=6, cutoff=0.8):
        distance = _edits(word, candidate)
        if distance <= limit and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None


def _edits(a: str, b: str) -> int:
    """Edit distance counting a swap of two neighbouring letters as one edit."""
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, rows[-2][j - 2] + 1)
            row.append(value)
        rows.append(row)
    return rows[-1][-1]
