"""Kubernetes API schemas to validate rendered objects against, for every release kinstall
supports: kubernetes-validate's own for the releases it covers (1.25 and later), and for the
legacy releases (1.15, 1.20, 1.21) the strict schemas of kubernetes-validate 1.24.0, which `make`
downloads from PyPI, checks by sha256 and unpacks under the venv (KINSTALL_LEGACY_SCHEMAS)."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import jsonschema
import kubernetes_validate
import referencing.jsonschema
from referencing import Registry, Resource

from tests.paths import ROOT

LEGACY = Path(os.environ.get("KINSTALL_LEGACY_SCHEMAS", ROOT / ".venv" / "share" / "kubernetes-json-schema-legacy"))
LEGACY_MINORS = ("1.15", "1.20", "1.21")


def _minor(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


@functools.cache
def _legacy(minor: str, name: str) -> dict:
    directory = LEGACY / f"v{minor}.0-local-strict"
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is missing: `make test` (or `make legacy-schemas`) unpacks it")
    return json.loads((directory / name).read_text())


def validate(obj: dict, version: str) -> None:
    """Raise jsonschema.ValidationError unless obj is valid, strictly (no unknown fields), for the
    Kubernetes release `version`; a kind/apiVersion the release does not serve raises KeyError."""
    minor = _minor(version)
    if minor not in LEGACY_MINORS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError as missing:
            raise KeyError(missing.message) from None
        return
    group_version = obj["apiVersion"].split("/")
    api = (group_version[0].split(".")[0] + "-" + group_version[1]) if len(group_version) == 2 else group_version[0]
    try:
        schema = _legacy(minor, f"{obj['kind'].lower()}-{api}.json")
    except FileNotFoundError as missing:
        if LEGACY.is_dir() and (LEGACY / f"v{minor}.0-local-strict").is_dir():
            raise KeyError(f"Kubernetes {minor} serves no {obj['kind']} in {obj['apiVersion']}") from None
        raise missing
    draft = referencing.jsonschema.DRAFT7
    definitions = Resource.from_contents(_legacy(minor, "_definitions.json"), default_specification=draft)
    registry = Registry().with_resource("_definitions.json", definitions)
    schema = {k: v for k, v in schema.items() if k != "$schema"}
    jsonschema.Draft7Validator(schema, registry=registry).validate(obj)
