"""STAND-IN (tests only) for a Kubernetes API server answering with recorded responses: what a
cluster the lab cannot have (CoreDNS, a policy engine, Calico) or a broken one would answer,
so that both verdicts of every check of `kinstall verify` are tested through the real client.

Strict like the API server for what the checks send: GET only (405 otherwise); a path with no
recorded answer is a 404 with the API server's Status body; a LIST's fieldSelector may name only
the fields the API server supports for that resource (events: involvedObject.*, metadata.*,
reason, type, source); every request is kept, in order, in `requests`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                "metadata.name", "metadata.namespace", "reason", "reportingComponent", "source", "type")


def status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def reply(handler: BaseHTTPRequestHandler, code: int, body) -> None:
    """An answer as the API server gives it: JSON, or text for a text endpoint (logs, /readyz)."""
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class StandinServer:
    """Plain HTTP on 127.0.0.1 in a thread of the test, with a kubeconfig pointing at it."""

    def listen(self, handler) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "standin",
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "standin", "user": {"token": "standin-token"}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin"}}]}))
        return path


class RecordedApi(StandinServer):
    """responses: {"/path" or "/path?query": JSON object, or text for a text endpoint}."""

    def __init__(self, responses: dict):
        self.responses, self.requests = responses, []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                api.requests.append(("GET", self.path))
                reply(self, *api.answer(self.path))

            def _refuse(self):
                api.requests.append((self.command, self.path))
                reply(self, 405, status(405, "MethodNotAllowed", f"the recorded stand-in answers GET only, "
                                                                 f"not {self.command}"))

            do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

            def log_message(self, *args):
                pass

        self.listen(Handler)

    def answer(self, target: str):
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        for selector in query.get("fieldSelector", []):
            if parts.path.endswith("/events"):
                unknown = [term.split("=")[0] for term in selector.split(",") if term.split("=")[0] not in EVENT_FIELDS]
                if unknown:
                    return 400, status(400, "BadRequest", f'"{unknown[0]}" is not a known field selector: only '
                                                          f'"{", ".join(EVENT_FIELDS)}"')
        path = parts.path.rstrip("/") or "/"  # the API server answers /version/ as /version
        for key in (f"{path}?{parts.query}", path):
            if key in self.responses:
                return 200, self.responses[key]
        if path.endswith("/events"):  # an empty list, as for an object with no events
            return 200, {"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": []}
        return 404, status(404, "NotFound", f"the server could not find the requested resource ({parts.path})")
