"""A scripted HTTP server on 127.0.0.1 for the SDK's unit tests: each request is
recorded and answered by the next handler of a list."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Request:
    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body

    def json(self):
        return json.loads(self.body)


class Stub:
    """Answers requests in order with handlers: fn(handler, request). ``send`` and
    ``stream`` are the usual handlers; ``requests`` records what arrived."""

    def __init__(self):
        self.requests = []
        self.handlers = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                              self.rfile.read(n) if n else b"")
                with stub._lock:
                    stub.requests.append(req)
                    fn = stub.handlers.pop(0) if stub.handlers else None
                if fn is None:
                    send(500, {"error": {"code": "internal_error", "message": "no handler left"}})(self, req)
                else:
                    fn(self, req)

            do_GET = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def send(status, body, headers=None):
    """A handler answering status with a JSON body (or bytes) and headers."""

    def fn(h, req):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    return fn


def hang_up(h, req):
    """A handler that closes the connection without answering."""
    h.close_connection = True


def stream(parts, content_type="text/event-stream", complete=True):
    """A handler sending parts (bytes) as chunks; without complete, the connection is
    dropped after the last part, mid-body."""

    def fn(h, req):
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for p in parts:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
            h.wfile.flush()
        if complete:
            h.wfile.write(b"0\r\n\r\n")
        h.close_connection = True

    return fn
