"""A finding: one problem (or warning) in the inputs, tied to a file, a line and a JSON path."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

ERROR = "error"
WARNING = "warning"
NOTE = "note"  # information: neither an error nor something to fix


def json_path(path: tuple) -> str:
    """('all', 'hosts', 'node 1', 0) -> $.all.hosts['node 1'][0]"""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and all(c.isalnum() or c in "_-" for c in part) and not part[0].isdigit():
            out += f".{part}"
        else:
            out += "[" + json.dumps(str(part)) + "]"
    return out


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    column: int
    path: str
    message: str
    severity: str = ERROR
    rule: str = field(default="", compare=False)

    def text(self) -> str:
        level = "" if self.severity == ERROR else f"{self.severity}: "
        return f"{self.file}:{self.line}:{self.column}: {self.path}: {level}{self.message}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def extend(self, findings) -> None:
        self.findings.extend(findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.sorted() if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.sorted() if f.severity == WARNING]

    @property
    def notes(self) -> list[Finding]:
        return [f for f in self.sorted() if f.severity == NOTE]

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    def sorted(self) -> list[Finding]:
        unique = dict.fromkeys(self.findings)
        return sorted(unique, key=lambda f: (f.file, f.line, f.column, f.path, f.message))

    def as_text(self) -> str:
        """Every finding; notes only when there is no error (then the errors are what matters)."""
        shown = [f for f in self.sorted() if f.severity != NOTE or self.ok]
        return "\n".join(f.text() for f in shown)

    def as_json(self) -> dict:
        return {
            "valid": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "notes": len(self.notes),
            "findings": [asdict(f) for f in self.sorted()],
        }
