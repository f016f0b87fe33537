#!/usr/bin/python3
"""The infrastructure checks of `kinstall verify` on one host, in one round trip: etcd's member
here healthy over TLS (and the members it lists), containerd active and answering, kubelet active
and healthy, the API server reachable the way this host's kubelet reaches it (its local proxy on
a worker), every certificate further from expiry than a threshold, and the network plugin's own
health: Calico's BGP sessions (asked of BIRD over its control socket, as `calicoctl node status`
asks), Tungsten Fabric's `contrail-status`; requests without credentials refused, and on a control
plane with kubernetes_audit a request made now found in the audit log; on the first etcd member with
kube_encrypt_secret_data every stored Secret encrypted and with etcd_backup_schedule the last good
backup younger than two periods; on a control plane with auto_renew_certificates the renewal timer
waiting. Each check gives pass,
fail or skip (with the reason), its duration, and on failure what was expected, what was seen and
diagnostics (service status, journal). Reads only; never changes anything."""

import base64
import glob
import json
import os
import re
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: kinstall_verify_host
short_description: kinstall's infrastructure checks on one host (read-only)
options:
  checks:
    description: the checks to run here (etcd, containerd, kubelet, api, certificates, calico-bgp, contrail, anonymous,
      audit, encryption, renewal, backup)
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
  settle:
    description: >-
      seconds for which a failing check of a service (containerd, kubelet, api, calico-bgp, contrail)
      is tried again, for a host whose services a run has just restarted; 0 answers at once
    type: int
    default: 0
  bird_socket:
    description: BIRD's control socket, which calico-node shares with the host
    type: str
    default: /var/run/calico/bird.ctl
  api_port:
    description: the API server's port on a control plane
    type: int
    default: 6443
  api_anonymous_closed:
    description: the anonymous check also asks the API server (remove_anonymous_access)
    type: bool
    default: false
  audit_log:
    description: the audit log on this host, for the audit check
    type: str
    default: ""
  encryption_algorithm:
    description: the provider whose prefix every stored object of encryption_resources must carry
    type: str
    default: secretbox
  encryption_resources:
    description: the resources encrypted at rest
    type: list
    elements: str
    default: [secrets]
  backup_schedule:
    description: the scheduled etcd backups' calendar, for the backup check
    type: str
    default: ""
  backup_status:
    description: the file the backups write after each good one
    type: str
    default: /var/lib/kinstall/etcd-backup.json
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


def _status_of(url):
    """The HTTP status an unauthenticated request gets (None and the error when none came back)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # no credentials: only the answer matters
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError as error:
        return None, str(error)


def anonymous(api_port, api_closed):
    """Requests without credentials are refused: by kubelet's API on every Kubernetes host
    (kubeadm's kubelet authenticates every request), and, where remove_anonymous_access asks,
    by the API server for kube-public's cluster-info, the one object kubeadm lets anyone read."""
    check = Check("anonymous")
    asked = [("kubelet", "https://127.0.0.1:10250/pods")]
    if api_closed:
        asked.append(("API server", f"https://127.0.0.1:{api_port}/api/v1/namespaces/kube-public/configmaps/cluster-info"))
    seen, open_to_anyone = [], []
    for what, url in asked:
        status, error = _status_of(url)
        if status is None:  # down: its own check (kubelet, api) fails and says why
            return check.skipped(f"the {what} did not answer ({error[:200]})")
        seen.append(f"{what} {status}")
        if status not in (401, 403):
            open_to_anyone.append(f"{url} answered {status}")
    if open_to_anyone:
        return check.failed("401 or 403 to requests without credentials", "; ".join(open_to_anyone),
                            "kubelet: authentication.anonymous.enabled in /var/lib/kubelet/config.yaml; API server: "
                            "`kubectl -n kube-public get rolebinding` (remove_anonymous_access removes "
                            "kubeadm:bootstrap-signer-clusterinfo)")
    return check.passed("refused without credentials: " + ", ".join(seen))


def audit(api_port, log):
    """The audit log records a request made here and now: a read of a ConfigMap no one has, named
    for this check, through this control plane's own API server."""
    check = Check("audit")
    marker = f"kinstall-verify-audit-{os.getpid()}-{int(time.time())}"
    rc, out, err = _run("kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "--server",
                        f"https://127.0.0.1:{api_port}", "-n", "default", "get", "configmap", marker)
    if "NotFound" not in err + out:
        return check.failed("the API server answers a request to audit", _last_line(err or out) or f"exit {rc}")
    deadline = time.monotonic() + 10
    while True:
        try:
            with open(log, errors="replace") as f:
                if any(marker in line for line in f):
                    return check.passed(f"a request made now is in {log}")
        except OSError as error:
            problem = str(error)
        else:
            problem = f"{log} has no line for the request (configmaps/{marker})"
        if time.monotonic() > deadline:
            _, listing, _ = _run("ls", "-la", os.path.dirname(log))
            return check.failed(f"the request just made in {log}", problem,
                                f"$ ls -la {os.path.dirname(log)}\n{listing.strip()}")
        time.sleep(1)


def encryption(algorithm, resources):
    """Every stored object of the encrypted resources, as etcd holds it, starts with the prefix of
    kube_encryption_algorithm's provider (what the API server writes), read from this member. Names
    the objects stored in plaintext; never shows a value."""
    check = Check("encryption")
    prefix = f"k8s:enc:{algorithm}:v1:".encode()
    plain, counted = [], 0
    for resource in resources:
        rc, out, err = _run("/usr/local/bin/etcdctl.sh", "--command-timeout=10s", "get", f"/registry/{resource}/",
                            "--prefix", "--limit=1000", "-w", "json", timeout=30)
        if rc != 0:
            return check.failed(f"etcd answers a read of the stored {resource}", _last_line(err or out))
        try:
            stored = json.loads(out).get("kvs", [])
        except ValueError:
            return check.failed(f"etcd answers a read of the stored {resource}", "an answer that is not JSON")
        for item in stored:
            counted += 1
            if not base64.b64decode(item.get("value", "")).startswith(prefix):
                plain.append(base64.b64decode(item.get("key", "")).decode(errors="replace"))
    if plain:
        return check.failed(f"every stored object of {', '.join(resources)} encrypted ({prefix.decode()}...)",
                            f"{len(plain)} of {counted} not: {', '.join(plain[:10])}"
                            + (" ..." if len(plain) > 10 else ""),
                            "run `kinstall up` again: the control-plane stage rewrites them once every control plane "
                            "reads the encryption configuration")
    return check.passed(f"{counted} stored object(s) of {', '.join(resources)}, each encrypted with {algorithm}")


def _expiry(path):
    rc, out, _ = _run("openssl", "x509", "-noout", "-enddate", "-in", path)
    if rc != 0 or "=" not in out:
        return None
    return datetime.strptime(out.strip().split("=", 1)[1].replace("  ", " "),
                             "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)


def _timer_failed(check, unit, what, says_why=False):
    """One of kinstall's timers (UNIT.timer running UNIT.service): enabled and waiting, the last run
    of its service (if any) successful; says_why: the failure names the last line the run's
    command logged. Returns (the failed result or None, the timer's diagnostics)."""
    timer, service = f"{unit}.timer", f"{unit}.service"
    _, enabled, _ = _run("systemctl", "is-enabled", timer)
    state, diagnostics = _service(timer)
    if enabled.strip() != "enabled" or state != "active":
        return check.failed(f"{timer} enabled and active", f"{timer} {enabled.strip() or 'absent'}, {state}",
                            diagnostics), diagnostics
    _, result, _ = _run("systemctl", "show", service, "--property=Result", "--value")
    if result.strip() not in ("success", ""):
        _, journal = _service(service)
        seen = f"{service}: {result.strip()}"
        if says_why:
            _, said, _ = _run("journalctl", "-u", service, "-t", unit, "-n", "1", "-o", "cat", "--no-pager")
            seen += f": {_last_line(said)}"
        return check.failed(f"the last {what} succeeded", seen, journal), diagnostics
    return None, diagnostics


def renewal():
    """auto_renew_certificates: the renewal timer enabled and waiting, its last run (if any)
    successful; says when it fires next and which of kubeadm's certificates expires first."""
    check = Check("renewal")
    timer = "kinstall-certs-renew.timer"
    failed, _ = _timer_failed(check, "kinstall-certs-renew", "renewal")
    if failed:
        return failed
    _, upcoming, _ = _run("systemctl", "show", timer, "--property=NextElapseUSecRealtime", "--value")
    ends = [(end, path) for path in sorted(glob.glob("/etc/kubernetes/pki/*.crt")) if (end := _expiry(path))]
    soonest = f"; first expiry {min(ends)[0]:%Y-%m-%d} ({min(ends)[1]})" if ends else ""
    return check.passed(f"timer active, next renewal {upcoming.strip() or 'not scheduled'}{soonest}")


def _period(schedule):
    """Seconds between two firings of a systemd calendar, as the host's systemd computes them."""
    rc, out, _ = _run("systemd-analyze", "calendar", "--iterations=2", schedule)
    found = re.findall(r"^\s*(?:Next elapse|Iter\. #2):\s+\S+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", out, re.M)
    if rc != 0 or len(found) != 2:
        return None
    first, second = (datetime.strptime(text, "%Y-%m-%d %H:%M:%S") for text in found)
    return (second - first).total_seconds()


def backup(schedule, status_path, now=None):
    """etcd_backup_schedule: the backup timer enabled and waiting, its last run successful (a
    target it cannot reach fails it), and the last good backup younger than two of the
    schedule's periods."""
    check = Check("backup")
    failed, diagnostics = _timer_failed(check, "kinstall-etcd-backup", "backup", says_why=True)
    if failed:
        return failed
    try:
        with open(status_path) as handle:
            last = json.load(handle)
        taken = float(last["time"])
    except (OSError, ValueError, KeyError, TypeError):
        return check.failed("a good backup on record", f"none ({status_path} absent or unreadable)", diagnostics)
    period = _period(schedule)
    if period is None:
        return check.failed("a schedule systemd reads", f"systemd-analyze cannot read '{schedule}'", diagnostics)
    age = (now or time.time()) - taken
    seen = (f"last good backup {last.get('snapshot', '?')} {age / 3600:.1f} h ago, to "
            f"{last.get('target') or 'the member only'}; one every {period / 3600:.1f} h")
    if age > 2 * period:
        return check.failed(f"a good backup within two periods ({2 * period / 3600:.1f} h)", seen, diagnostics)
    return check.passed(seen)


def certificates(days):
    check = Check("certificates")
    found, soon = 0, []
    now = datetime.now(UTC)
    for pattern in CERTIFICATES:
        for path in sorted(glob.glob(pattern)):
            end = _expiry(path)
            if end is None:
                continue
            found += 1
            left = (end - now).days
            if left < days:
                soon.append(f"{path} ({'expired' if left < 0 else f'{left} days left'})")
    if soon:
        return check.failed(f"every certificate valid for more than {days} days", "; ".join(soon),
                            "renew them with `kinstall certs renew`")
    return check.passed(f"{found} certificate(s), none expires within {days} days")


def calico_bgp(socket_path):
    """Every BGP session of this host's BIRD Established: `show protocols` over BIRD's control
    socket, the question `calicoctl node status` asks."""
    check = Check("calico-bgp")
    try:
        table = _bird(socket_path, "show protocols")
    except OSError as error:
        return check.failed("calico-node's BIRD answers on " + socket_path, str(error),
                            "calico-node shares the socket with the host: is its pod Running on this node?")
    sessions = {}
    for line in table:
        fields = line.split()
        if len(fields) >= 4 and fields[1] == "BGP":
            sessions[fields[0]] = " ".join(fields[5:]) if len(fields) > 5 else fields[3]
    if not sessions:
        return check.failed("a BGP session to every other node (or the configured peers)", "BIRD has no BGP protocol",
                            "\n".join(table[-20:]))
    down = {name: state for name, state in sessions.items() if not state.startswith("Established")}
    if down:
        return check.failed("every BGP session Established",
                            "; ".join(f"{name}: {state}" for name, state in sorted(down.items())),
                            "\n".join(table[-20:]), data={"sessions": sessions})
    return check.passed(f"{len(sessions)} BGP session(s) Established: {', '.join(sorted(sessions))}",
                        data={"sessions": sessions})


def _bird(socket_path, command):
    """One command over BIRD's control protocol: a greeting (0001), the command, then lines up
    to the final "0000" (or an error code, 8xxx/9xxx); continuation lines start with a space."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bird:
        bird.settimeout(5)
        bird.connect(socket_path)
        stream = bird.makefile("rw", encoding="utf-8", newline="\n")
        greeting = stream.readline()
        if not greeting.startswith("0001"):
            raise OSError(f"not BIRD's greeting: {greeting.strip()!r}")
        stream.write(command + "\n")
        stream.flush()
        lines = []
        for line in stream:
            line = line.rstrip("\n")
            if line.startswith("0000"):
                return lines
            if re.match(r"^[89]\d{3}", line):
                raise OSError(f"BIRD: {line[5:]}")
            lines.append(line[5:] if re.match(r"^\d{4}[ -]", line) else line[1:])
        raise OSError("BIRD closed the socket before the end of its answer")


# The services contrail-status may show as "backup": those of the config nodes that run active
# on one node and stand by on the others.
CONTRAIL_STANDBY = {"schema", "svc-monitor", "device-manager"}
CONTAINER_STATES = ("running", "exited", "restarting", "created", "paused", "dead")


def contrail():
    """`contrail-status` on this host: every container running, every service active (backup
    where it stands by for another config node), the vRouter kernel module present."""
    check = Check("contrail")
    rc, out, err = _run("contrail-status")
    if rc == 127 or (rc != 0 and not out.strip()):
        return check.failed("contrail-status answers", _last_line(err or out) or f"exit {rc}",
                            "Tungsten Fabric's node-init container installs contrail-status on each node")
    wrong, section, services = [], "", 0
    for line in out.splitlines():
        heading = re.match(r"^==\s*(.+?)\s*==$", line.strip())
        if heading:
            section = heading.group(1)
            continue
        if "kernel module is NOT PRESENT" in line:
            wrong.append(line.strip())
        state = re.match(r"^([a-z][\w-]*):\s*(\w+)(.*)$", line.strip())
        if section and state:
            services += 1
            name, status = state.group(1), state.group(2)
            if status != "active" and not (status == "backup" and name in CONTRAIL_STANDBY):
                wrong.append(f"{section}: {name} {status}{state.group(3)}")
        fields = line.split()
        if not section and "State" not in fields:  # the containers' table, before the first section
            container_state = next((f for f in fields if f in CONTAINER_STATES), None)
            if container_state and container_state != "running":
                wrong.append(f"container {' '.join(fields[:fields.index(container_state)][:3])} {container_state}")
    if wrong:
        return check.failed("every container running and every service active (backup where it stands by)",
                            "; ".join(wrong), out[-3000:])
    if not services:
        return check.failed("contrail-status lists the host's services", _last_line(out) or "nothing", out[-3000:])
    return check.passed(f"{services} service(s) active" + (" (or backup)" if "backup" in out else ""))


SETTLING = ("containerd", "kubelet", "api", "calico-bgp", "contrail")


def _settled(run, settle):
    """A check, tried again every 2 s while it fails, for up to `settle` seconds; a pass that
    took retries says after how long."""
    started = time.monotonic()
    result = run()
    while result["status"] == "fail" and time.monotonic() - started < settle:
        time.sleep(2)
        result = run()
        if result["status"] == "pass":
            result["seen"] += f" (after {time.monotonic() - started:.0f} s)"
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def main():
    module = AnsibleModule(argument_spec={"checks": {"type": "list", "elements": "str", "required": True},
                                          "skip": {"type": "dict", "default": {}},
                                          "cert_days": {"type": "int", "default": 30},
                                          "settle": {"type": "int", "default": 0},
                                          "bird_socket": {"type": "str", "default": "/var/run/calico/bird.ctl"},
                                          "api_port": {"type": "int", "default": 6443},
                                          "api_anonymous_closed": {"type": "bool", "default": False},
                                          "audit_log": {"type": "str", "default": ""},
                                          "encryption_algorithm": {"type": "str", "default": "secretbox"},
                                          "encryption_resources": {"type": "list", "elements": "str",
                                                                   "default": ["secrets"]},
                                          "backup_schedule": {"type": "str", "default": ""},
                                          "backup_status": {"type": "str",
                                                            "default": "/var/lib/kinstall/etcd-backup.json"}},
                           supports_check_mode=True)
    runners = {"etcd": etcd, "containerd": containerd, "kubelet": kubelet, "api": api,
               "certificates": lambda: certificates(module.params["cert_days"]),
               "calico-bgp": lambda: calico_bgp(module.params["bird_socket"]), "contrail": contrail,
               "anonymous": lambda: anonymous(module.params["api_port"], module.params["api_anonymous_closed"]),
               "audit": lambda: audit(module.params["api_port"], module.params["audit_log"]),
               "renewal": renewal,
               "backup": lambda: backup(module.params["backup_schedule"], module.params["backup_status"]),
               "encryption": lambda: encryption(module.params["encryption_algorithm"],
                                                module.params["encryption_resources"])}
    results = []
    for name in module.params["checks"]:
        if name in module.params["skip"]:
            results.append(Check(name).skipped(str(module.params["skip"][name])))
        elif name in runners:
            results.append(_settled(runners[name], module.params["settle"] if name in SETTLING else 0))
        else:
            module.fail_json(msg=f"unknown check {name}; the checks are: {', '.join(runners)}")
    module.exit_json(changed=False, results=results)


if __name__ == "__main__":
    main()
