#!/usr/bin/python3
"""The infrastructure checks of `kinstall verify` on one host, in one round trip: etcd's member
here healthy over TLS (and the members it lists), containerd active and answering, kubelet active
and healthy, the API server reachable the way this host's kubelet reaches it (its local proxy on
a worker), and every certificate further from expiry than a threshold. Each check gives pass,
fail or skip (with the reason), its duration, and on failure what was expected, what was seen and
diagnostics (service status, journal). Reads only; never changes anything."""

import glob
import json
import os
import re
import ssl
import subprocess
import time
import urllib.request
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kinstall_verify_host
short_description: kinstall's infrastructure checks on one host (read-only)
options:
  checks:
    description: the checks to run here (etcd, containerd, kubelet, api, certificates)
    type: list
    elements: str
    required: true
  skip:
    description: checks to report as skipped, with the reason
    type: dict
    default: {}
  cert_days:
    description: a certificate that expires within this many days fails
    type: int
    default: 30
"""

RETURN = r"""
results:
  description: one item per check, in the order asked
  returned: always
  type: list
  elements: dict
  contains:
    check: {description: the check's name, type: str}
    status: {description: pass, fail or skip, type: str}
    seconds: {description: how long it took, type: float}
    seen: {description: what the check saw, type: str}
    expected: {description: on failure, what it expected, type: str}
    diagnostics: {description: on failure, what to look at (service status, journal), type: str}
    reason: {description: on skip, why, type: str}
    data: {description: "etcd: members (names etcd lists), name (this member's), version, leader, db_size", type: dict}
"""

LINE = 240  # characters kept of a line of output
CERTIFICATES = ("/etc/kubernetes/pki/*.crt", "/etc/kubernetes/pki/etcd/*.crt", "/etc/etcd/pki/*.crt",
                "/var/lib/kubelet/pki/*.crt", "/var/lib/kubelet/pki/kubelet-client-current.pem")


def _run(*command, timeout=20):
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        return result.returncode, result.stdout, result.stderr
    except (OSError, subprocess.TimeoutExpired) as error:
        return 127, "", str(error)


def _service(unit):
    """(active state, diagnostics: status and the journal's last lines)."""
    _, state, _ = _run("systemctl", "is-active", unit)
    _, status, _ = _run("systemctl", "status", "--no-pager", "--lines=0", unit)
    _, journal, _ = _run("journalctl", "-u", unit, "--no-pager", "-n", "15", "-o", "short-iso")
    journal = "\n".join(line[:LINE] for line in journal.strip().splitlines())
    return state.strip() or "unknown", f"$ systemctl status {unit}\n{status.strip()}\n$ journalctl -u {unit} -n 15\n" \
                                       f"{journal}"


def _last_line(text):
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:LINE] if lines else ""


class Check:
    def __init__(self, name):
        self.name, self.started = name, time.monotonic()

    def _done(self, status, **fields):
        return {"check": self.name, "status": status, "seconds": round(time.monotonic() - self.started, 3),
                "expected": "", "seen": "", "diagnostics": "", "reason": "", "data": {}, **fields}

    def passed(self, seen, **fields):
        return self._done("pass", seen=seen, **fields)

    def failed(self, expected, seen, diagnostics="", **fields):
        return self._done("fail", expected=expected, seen=seen, diagnostics=diagnostics, **fields)

    def skipped(self, reason):
        return self._done("skip", reason=reason)


def etcd():
    check = Check("etcd")
    if not os.path.exists("/usr/local/bin/etcdctl.sh"):
        _, diagnostics = _service("etcd")
        return check.failed("etcd installed by kinstall (/usr/local/bin/etcdctl.sh)", "no etcdctl.sh on this host",
                            diagnostics)
    state, diagnostics = _service("etcd")
    if state != "active":
        return check.failed("this member answers over TLS", f"etcd {state}", diagnostics)
    etcdctl = ("/usr/local/bin/etcdctl.sh", "--dial-timeout=2s", "--command-timeout=5s")
    rc, out, err = _run(*etcdctl, "endpoint", "status", "-w", "json")
    members_rc, members, _ = _run(*etcdctl, "member", "list", "-w", "json")
    data, listed = {}, []
    if members_rc == 0:
        try:
            listed = json.loads(members).get("members", [])
            data["members"] = sorted(m.get("name", "") for m in listed)
        except ValueError:
            pass
    if rc != 0:
        return check.failed("this member answers over TLS", f"etcd {state}; etcdctl: {_last_line(err or out)}",
                            diagnostics, data=data)
    try:
        status = json.loads(out)[0]["Status"]
        version, leader = status.get("version", "?"), status.get("leader")
        me = status["header"]["member_id"]
        data.update(name=next((m.get("name", "") for m in listed if m.get("ID") == me), ""), version=version,
                    leader=leader == me, db_size=status.get("dbSize", 0))
    except (ValueError, IndexError, KeyError):
        version, leader = "?", None
    rc, out, err = _run(*etcdctl, "endpoint", "health")
    if rc != 0:
        return check.failed("this member healthy", _last_line(err or out), diagnostics, data=data)
    return check.passed(f"healthy over TLS, etcd {version}" + ("" if leader else ", no leader"), data=data)


def containerd():
    check = Check("containerd")
    state, diagnostics = _service("containerd")
    if state != "active":
        return check.failed("containerd active", f"containerd {state}", diagnostics)
    socket = "unix:///run/containerd/containerd.sock"
    if os.path.exists("/usr/local/bin/crictl"):
        command = ("/usr/local/bin/crictl", "--runtime-endpoint", socket, "--timeout", "10s", "version")
    else:
        command = ("/usr/local/bin/ctr", "--address", "/run/containerd/containerd.sock", "version")
    rc, out, err = _run(*command)
    if rc != 0:
        return check.failed(f"{os.path.basename(command[0])} answers", _last_line(err or out), diagnostics)
    version = re.search(r"Version:\s*v?([0-9][^\s]*)", out)
    return check.passed(f"active; {os.path.basename(command[0])} answers (containerd "
                        f"{version.group(1) if version else '?'})")


def kubelet():
    check = Check("kubelet")
    state, diagnostics = _service("kubelet")
    if state != "active":
        return check.failed("kubelet active", f"kubelet {state}", diagnostics)
    try:
        with urllib.request.urlopen("http://127.0.0.1:10248/healthz", timeout=5) as answer:
            body = answer.read().decode().strip()
    except OSError as error:
        return check.failed("kubelet's /healthz answers ok", f"active, but /healthz: {error}", diagnostics)
    if body != "ok":
        return check.failed("kubelet's /healthz answers ok", body[:200], diagnostics)
    return check.passed("active, /healthz ok")


def api():
    """The API server the way this host's kubelet reaches it (kubelet.conf's server: the local
    proxy on a worker), its certificate checked against the cluster's CA."""
    check = Check("api")
    try:
        with open("/etc/kubernetes/kubelet.conf") as f:
            server = re.search(r"^\s*server:\s*(\S+)", f.read(), re.M).group(1)
    except (OSError, AttributeError) as error:
        return check.failed("a server in /etc/kubernetes/kubelet.conf", str(error))
    context = ssl.create_default_context(cafile="/etc/kubernetes/pki/ca.crt")
    context.check_hostname = False  # the proxy's address need not be among the certificate's names
    try:
        with urllib.request.urlopen(f"{server}/healthz", timeout=10, context=context) as answer:
            body = answer.read().decode().strip()
    except OSError as error:
        _, listening, _ = _run("ss", "-Htlnp")
        return check.failed(f"{server}/healthz answers ok", str(error),
                            f"$ ss -tlnp\n{listening.strip()}", data={"server": server})
    if body != "ok":
        return check.failed(f"{server}/healthz answers ok", body[:200], data={"server": server})
    return check.passed(f"{server}/healthz ok", data={"server": server})


def certificates(days):
    check = Check("certificates")
    found, soon = 0, []
    now = datetime.now(timezone.utc)
    for pattern in CERTIFICATES:
        for path in sorted(glob.glob(pattern)):
            rc, out, _ = _run("openssl", "x509", "-noout", "-enddate", "-in", path)
            if rc != 0 or "=" not in out:
                continue
            found += 1
            end = datetime.strptime(out.strip().split("=", 1)[1].replace("  ", " "),
                                    "%b %d %H:%M:%S %Y %Z").replace(tzinfo=timezone.utc)
            left = (end - now).days
            if left < days:
                soon.append(f"{path} ({'expired' if left < 0 else f'{left} days left'})")
    if soon:
        return check.failed(f"every certificate valid for more than {days} days", "; ".join(soon),
                            "renew them with `kinstall certs renew`")
    return check.passed(f"{found} certificate(s), none expires within {days} days")


def main():
    module = AnsibleModule(argument_spec={"checks": {"type": "list", "elements": "str", "required": True},
                                          "skip": {"type": "dict", "default": {}},
                                          "cert_days": {"type": "int", "default": 30}},
                           supports_check_mode=True)
    runners = {"etcd": etcd, "containerd": containerd, "kubelet": kubelet, "api": api,
               "certificates": lambda: certificates(module.params["cert_days"])}
    results = []
    for name in module.params["checks"]:
        if name in module.params["skip"]:
            results.append(Check(name).skipped(str(module.params["skip"][name])))
        elif name in runners:
            results.append(runners[name]())
        else:
            module.fail_json(msg=f"unknown check {name}; the checks are: {', '.join(runners)}")
    module.exit_json(changed=False, results=results)


if __name__ == "__main__":
    main()
