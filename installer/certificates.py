"""What `kinstall certs check` reports: the certificates the certs-check operation found on each
host (file, expiry as openssl prints it, subject), soonest expiry first, and when each control
plane's renewal timer (auto_renew_certificates) renews them next."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Certificate:
    host: str
    file: str
    expires: datetime
    subject: str

    def days_left(self, now: datetime) -> int:
        return (self.expires - now).days


def parse(host: str, line: str) -> Certificate:
    """One line of the operation: FILE<TAB>notAfter (e.g. 'Nov 28 17:20:19 2027 GMT')<TAB>subject."""
    file, end, subject = line.split("\t", 2)
    expires = datetime.strptime(end.replace("  ", " "), "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)
    return Certificate(host, file, expires, subject)


def read(path: Path) -> list[Certificate]:
    found = json.loads(path.read_text())
    return sorted((parse(host, line) for host, lines in found.items() for line in lines),
                  key=lambda c: (c.expires, c.host, c.file))


def render(found: list[Certificate], warn_days: int, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    if not found:
        return "no certificates found on the hosts"
    lines = [f"{'host':<12} {'days left':>9}  {'expires (UTC)':<17} file  [subject]"]
    for cert in found:
        days = cert.days_left(now)
        mark = "  EXPIRED" if days < 0 else (f"  renew within {warn_days} days" if days < warn_days else "")
        lines.append(f"{cert.host:<12} {days:>9}  {cert.expires:%Y-%m-%d %H:%M} {cert.file}  [{cert.subject}]{mark}")
    soon = [c for c in found if c.days_left(now) < warn_days]
    lines.append(f"{len(found)} certificates; {len(soon)} expire within {warn_days} days"
                 + ("; renew with `kinstall certs renew`" if soon else ""))
    return "\n".join(lines)


def renewals(path: Path) -> dict[str, str]:
    """Control plane -> when its renewal timer fires next; '' where no timer waits. The operation
    keeps each control plane's `systemctl show` lines (ActiveState=, NextElapseUSecRealtime=)."""
    found = json.loads(path.read_text()) if path.is_file() else {}
    shown = {host: dict(line.split("=", 1) for line in lines if "=" in line) for host, lines in found.items()}
    return {host: (p.get("NextElapseUSecRealtime", "") if p.get("ActiveState") == "active" else "")
            for host, p in shown.items()}


def render_renewals(renewals: dict[str, str]) -> str:
    if not renewals:
        return ""
    waiting = {host: when for host, when in renewals.items() if when}
    if not waiting:
        return "automatic renewal: off (auto_renew_certificates); renew with `kinstall certs renew`"
    off = sorted(set(renewals) - set(waiting))
    return "automatic renewal: " + "; ".join(f"{host} next {when}" for host, when in waiting.items()) + \
        (f"; no timer on {', '.join(off)}" if off else "")
