"""A check's verdict and the ways to report a list of them: text for people, JSON for scripts,
JUnit XML for CI systems."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from xml.etree import ElementTree

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass
class Result:
    group: str  # infrastructure | api | function | plugin
    name: str  # the check, e.g. "etcd member", "nodes Ready"
    target: str  # a host, or "cluster"
    status: str  # pass | fail | skip
    seconds: float = 0.0
    seen: str = ""
    expected: str = ""  # on failure
    diagnostics: str = ""  # on failure: describe, events, logs, journal
    reason: str = ""  # on skip

    @property
    def title(self) -> str:
        return f"{self.name} ({self.target})" if self.target != "cluster" else self.name


class Timer:
    def __init__(self):
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 3)


def failed(results: list[Result]) -> list[Result]:
    return [r for r in results if r.status == FAIL]


def render(results: list[Result]) -> str:
    lines = [f"{'verdict':<8} {'group':<15} {'check':<44} {'time':>7}  detail"]
    for r in results:
        detail = r.seen if r.status == PASS else (f"skipped: {r.reason}" if r.status == SKIP else
                                                   f"expected {r.expected}; seen {r.seen}")
        lines.append(f"{r.status.upper():<8} {r.group:<15} {r.title:<44} {r.seconds:6.1f}s  {detail}")
    for r in failed(results):
        if r.diagnostics:
            lines += ["", f"diagnostics of {r.title}:"] + [f"  {line}" for line in r.diagnostics.splitlines()]
    counts = {status: sum(r.status == status for r in results) for status in (PASS, FAIL, SKIP)}
    lines += ["", f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped"]
    return "\n".join(lines)


def as_json(results: list[Result]) -> str:
    return json.dumps({"passed": not failed(results), "checks": [asdict(r) for r in results]}, indent=2)


def as_junit(results: list[Result]) -> bytes:
    """One testsuite per group, one testcase per check: failure with expected/seen and the
    diagnostics, skipped with the reason."""
    suites = ElementTree.Element("testsuites", name="kinstall verify", tests=str(len(results)),
                                 failures=str(len(failed(results))))
    for group in dict.fromkeys(r.group for r in results):
        members = [r for r in results if r.group == group]
        suite = ElementTree.SubElement(suites, "testsuite", name=group, tests=str(len(members)),
                                       failures=str(len(failed(members))),
                                       skipped=str(sum(r.status == SKIP for r in members)),
                                       time=f"{sum(r.seconds for r in members):.3f}")
        for r in members:
            case = ElementTree.SubElement(suite, "testcase", classname=f"kinstall.verify.{group}", name=r.title,
                                          time=f"{r.seconds:.3f}")
            if r.status == FAIL:
                failure = ElementTree.SubElement(case, "failure", message=f"expected {r.expected}; seen {r.seen}")
                failure.text = r.diagnostics
            elif r.status == SKIP:
                ElementTree.SubElement(case, "skipped", message=r.reason)
            else:
                ElementTree.SubElement(case, "system-out").text = r.seen
    return ElementTree.tostring(suites, encoding="utf-8", xml_declaration=True)
