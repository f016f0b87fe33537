"""What a run is for. One engine runs a plan's stages for every command; the kind says which of
them asked, and so what the run may change and what later commands make of its record (a resumed
`up`, what is installed, the last run `status` shows).

Recorded as the run's inputs["mode"], the word earlier releases wrote (their records read the same)."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    UP = "up"  # kinstall up: every stage, or those chosen
    UPGRADE = "upgrade"  # kinstall upgrade --to X: an up with another kube_version
    PREVIEW = "check"  # kinstall plan --against-hosts: the stages in check mode, nothing changes
    OPERATION = "operation"  # a lifecycle operation's playbook (stages.OPERATIONS)
    VERIFY = "verify"  # kinstall verify: the verify stage, read only
    STATUS = "status"  # kinstall status: the verify stage's etcd check, read only; only its latest record is kept

    @classmethod
    def of(cls, record) -> Kind:
        """The kind of a run record, old ones included (a record without a mode was an up)."""
        try:
            return cls(record.inputs.get("mode") or cls.UP)
        except ValueError:
            return cls.OPERATION  # a word of a newer kinstall: it did something; never taken for an up

    @property
    def installs(self) -> bool:
        """Builds the cluster: what the next up resumes, and what `installed` reads."""
        return self in (Kind.UP, Kind.UPGRADE)

    @property
    def changes_hosts(self) -> bool:
        return self in (Kind.UP, Kind.UPGRADE, Kind.OPERATION)

    @property
    def checks_files(self) -> bool:
        """Runs the download stage for real, so every file it needs must have a known sha256 first."""
        return self is not Kind.PREVIEW
