"""The API checks of `kinstall verify`, through the Kubernetes Python client with a kubeconfig:
the release the API server reports, every node Ready and schedulable (and every node of the
inventory registered), every kube-system pod Ready, and the API server's own readiness checks
(etcd among them). On failure each gathers what a person would look at next: the node's
conditions and events, the pod's container states, events and last log lines."""

from __future__ import annotations

import time
from pathlib import Path

from installer.verify.results import FAIL, PASS, SKIP, Result, Timer

TIMEOUT = 15  # seconds, each request


def connect(kubeconfig: Path):
    from kubernetes import config

    return config.new_client_from_config(config_file=str(kubeconfig))


def _http_error(response):
    from kubernetes.client.exceptions import ApiException

    return ApiException(status=response.status, reason=response.reason)


def unanswered():
    """The errors that mean the API server did not answer as asked (anything else is a bug in kinstall)."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    return ApiException, urllib3.exceptions.HTTPError, OSError


def error_text(error: Exception) -> str:
    reason = getattr(error, "reason", None)
    status = getattr(error, "status", None)
    return f"{status} {reason}".strip() if status else str(error).splitlines()[0][:300]


def recent_events(core, kind: str, name: str, namespace: str | None = None) -> list[str]:
    selector = f"involvedObject.kind={kind},involvedObject.name={name}"
    try:
        found = (core.list_namespaced_event(namespace, field_selector=selector, _request_timeout=TIMEOUT)
                 if namespace else core.list_event_for_all_namespaces(field_selector=selector, _request_timeout=TIMEOUT))
    except unanswered() as error:  # diagnostics are best effort: say why they are missing
        return [f"(events not read: {error_text(error)})"]
    items = sorted(found.items, key=lambda e: str(e.last_timestamp or e.metadata.creation_timestamp or ""))[-10:]
    return [f"{e.last_timestamp or ''} {e.type} {e.reason}: {e.message}".strip() for e in items] or ["(no events)"]


def version(api, expected: str | None) -> Result:
    from kubernetes import client

    timer = Timer()
    seen = client.VersionApi(api).get_code(_request_timeout=TIMEOUT).git_version
    if expected is None:
        return Result("api", "API server release", "cluster", PASS, timer.seconds, f"{seen} (no release expected)")
    if seen.lstrip("v") == expected.lstrip("v"):
        return Result("api", "API server release", "cluster", PASS, timer.seconds, seen)
    return Result("api", "API server release", "cluster", FAIL, timer.seconds, seen, f"v{expected.lstrip('v')}",
                  "the inventory's kube_version differs from what the API server runs: run `kinstall up`, or "
                  "`kinstall upgrade`, to move the cluster")


def nodes(api, expected: list[str] | None) -> Result:
    from kubernetes import client

    timer = Timer()
    core = client.CoreV1Api(api)
    found = core.list_node(_request_timeout=TIMEOUT).items
    problems, diagnostics = [], []
    for node in found:
        name = node.metadata.name
        ready = next((c for c in node.status.conditions or [] if c.type == "Ready"), None)
        issues = []
        if ready is None or ready.status != "True":
            issues.append(f"NotReady ({ready.reason if ready else 'no Ready condition'})")
        if node.spec.unschedulable:
            issues.append("cordoned (SchedulingDisabled)")
        if issues:
            problems.append(f"{name} {' and '.join(issues)}")
            diagnostics += [f"node {name}:"]
            diagnostics += [f"  condition {c.type}={c.status} {c.reason or ''}: {c.message or ''}"
                            for c in node.status.conditions or []]
            diagnostics += [f"  event {line}" for line in recent_events(core, "Node", name)]
    names = sorted(node.metadata.name for node in found)
    missing = sorted(set(expected or []) - set(names))
    if missing:
        problems.append(f"not registered: {', '.join(missing)}")
    if problems:
        want = f"{len(expected)} nodes" if expected else "every node"
        return Result("api", "nodes Ready", "cluster", FAIL, timer.seconds, "; ".join(problems),
                      f"{want} Ready and schedulable", "\n".join(diagnostics))
    return Result("api", "nodes Ready", "cluster", PASS, timer.seconds,
                  f"{len(names)} Ready and schedulable: {', '.join(names)}")


def system_pods(api) -> Result:
    from kubernetes import client

    timer = Timer()
    core = client.CoreV1Api(api)
    pods = core.list_namespaced_pod("kube-system", _request_timeout=TIMEOUT).items
    problems, diagnostics = [], []
    for pod in pods:
        if pod.status.phase == "Succeeded":
            continue
        ready = next((c for c in pod.status.conditions or [] if c.type == "Ready"), None)
        if ready is not None and ready.status == "True":
            continue
        name = pod.metadata.name
        states = []
        for status in pod.status.container_statuses or []:
            waiting, terminated = status.state.waiting if status.state else None, \
                status.state.terminated if status.state else None
            state = (f"waiting: {waiting.reason}" if waiting else f"terminated: {terminated.reason}" if terminated
                     else "running, not ready")
            states.append(f"{status.name} {state}, {status.restart_count} restart(s)")
        problems.append(f"{name} {pod.status.phase}" + (f" ({'; '.join(states)})" if states else ""))
        diagnostics += [f"pod kube-system/{name} on {pod.spec.node_name or '(not scheduled)'}: {pod.status.phase}"]
        diagnostics += [f"  container {line}" for line in states]
        diagnostics += [f"  event {line}" for line in recent_events(core, "Pod", name, "kube-system")]
        for status in (pod.status.container_statuses or [])[:1]:
            try:
                log = core.read_namespaced_pod_log(name, "kube-system", container=status.name, tail_lines=20,
                                                   _request_timeout=TIMEOUT)
                diagnostics += [f"  log {status.name}: {line}" for line in log.splitlines()] or ["  (empty log)"]
            except unanswered() as error:  # best effort, like the events
                diagnostics.append(f"  (log of {status.name} not read: {error_text(error)})")
    if problems:
        return Result("api", "system pods Ready", "cluster", FAIL, timer.seconds, "; ".join(problems),
                      "every kube-system pod Ready", "\n".join(diagnostics))
    return Result("api", "system pods Ready", "cluster", PASS, timer.seconds, f"{len(pods)} pod(s) Ready")


def components(api) -> Result:
    """The API server's own readiness checks (/readyz?verbose: etcd, informers, controllers)."""
    timer = Timer()
    method, url, headers, body, post = api.param_serialize("GET", "/readyz", query_params=[("verbose", "true")],
                                                           header_params={"Accept": "text/plain"},
                                                           auth_settings=["BearerToken"])
    response = api.call_api(method, url, headers, body, post, _request_timeout=TIMEOUT)
    response.read()
    if response.status != 200 and not response.data.startswith((b"[+]", b"[-]")):
        raise _http_error(response)
    text = response.data.decode()
    failing = [line[3:].split()[0] for line in text.splitlines() if line.startswith("[-]")]
    checks = [line for line in text.splitlines() if line.startswith(("[+]", "[-]"))]
    if failing:
        return Result("api", "API server readiness checks", "cluster", FAIL, timer.seconds,
                      f"failing: {', '.join(failing)}", "every /readyz check ok", text)
    return Result("api", "API server readiness checks", "cluster", PASS, timer.seconds, f"{len(checks)} checks ok")


def _settled(check, seconds: float):
    """check() again until it passes or `seconds` are over (a cluster just built may need a moment
    for its last pods); its last verdict, timed from the first try."""
    timer, deadline = Timer(), time.monotonic() + seconds
    while True:
        result = check()
        if result.status != FAIL or time.monotonic() >= deadline:
            result.seconds = timer.seconds
            return result
        time.sleep(3)


def run(kubeconfig: Path | None, expected_version: str | None = None,
        expected_nodes: list[str] | None = None, settle: float = 0) -> list[Result]:
    """settle: how long nodes and system pods may take to become Ready (up, right after building)."""
    names = ["API server release", "nodes Ready", "system pods Ready", "API server readiness checks"]
    if kubeconfig is None or not Path(kubeconfig).is_file():
        reason = "no admin kubeconfig (the control-plane stage has not run on this cluster)"
        return [Result("api", name, "cluster", SKIP, reason=reason) for name in names]
    try:
        api = connect(Path(kubeconfig))
    except Exception as error:  # a broken kubeconfig is a failure of the check, said plainly
        return [Result("api", names[0], "cluster", FAIL, expected=f"a usable kubeconfig ({kubeconfig})",
                       seen=error_text(error))] + [Result("api", n, "cluster", SKIP, reason="no usable kubeconfig")
                                               for n in names[1:]]
    results = []
    checks = [lambda: version(api, expected_version), lambda: _settled(lambda: nodes(api, expected_nodes), settle),
              lambda: _settled(lambda: system_pods(api), settle), lambda: components(api)]
    for name, check in zip(names, checks, strict=True):
        if results and results[0].status == FAIL and results[0].expected.startswith("the API server answers"):
            results.append(Result("api", name, "cluster", SKIP, reason="the API server did not answer"))
            continue
        timer = Timer()
        try:
            results.append(check())
        except unanswered() as error:  # the API server did not answer this request: the check fails
            results.append(Result("api", name, "cluster", FAIL, timer.seconds, error_text(error),
                                  "the API server answers" if not results else "an answer",
                                  diagnostics=f"server: {api.configuration.host}"))
    return results
