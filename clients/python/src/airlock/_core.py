"""What the sync and asyncio clients share: request building, the retry policy,
the description of each API call and the event-stream decoders. Nothing here
does I/O."""

from __future__ import annotations

import dataclasses
import json
import os
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Union
from urllib.parse import quote, urlencode, urlsplit

from ._errors import retry_after
from ._types import (
    BatchEntry,
    Evaluation,
    EvaluationAccepted,
    Event,
    Execution,
    ExecutionOrError,
    Runtime,
    Submission,
    make_event,
)

VERSION = "0.1.0"
DEFAULT_URL = "http://127.0.0.1:8080"
# The gateway lowers a longer wait to its --max-wait-timeout (5 min by default)
# and answers 202; the SDK then polls again, so this only sizes one poll.
MAX_POLL_SECONDS = 300.0
# How long a socket may wait beyond the server-side wait of a long poll.
WAIT_MARGIN_SECONDS = 30.0

Files = Union[Mapping[str, str], Iterable[Any]]


def files_list(files: Files) -> list:
    """Files as the API takes them: from {name: content}, or a list of dicts or dataclasses."""
    if isinstance(files, Mapping):
        return [{"name": str(k), "content": v} for k, v in files.items()]
    out = []
    for f in files:
        out.append(dataclasses.asdict(f) if dataclasses.is_dataclass(f) else dict(f))
    return out


def request(language: str, files: Files, **fields: Any) -> dict:
    """An execution request (POST /v1/executions) as a dict, for ``submit_batch``.

    ``fields`` are the request's other fields by their API names (``stdin``, ``args``,
    ``limits``, ``tests``, ``expected_output``, ``compare``, ``checker`` ...); None
    values are left out.
    """
    body = {"language": language, "files": files_list(files)}
    body.update({k: v for k, v in fields.items() if v is not None})
    return body


def duration(seconds: float) -> str:
    """A wait timeout as the gateway reads it (a Go duration in milliseconds, at least 1 ms)."""
    return "%dms" % max(1, int(seconds * 1000))


@dataclass
class Call:
    """One API call: what to send and how to read a successful answer."""

    method: str
    path: str
    parse: Callable[[Any], Any]
    query: dict = field(default_factory=dict)
    body: Any = None
    idempotency_key: Optional[str] = None
    wait: float = 0.0  # the server-side wait of a long poll, in seconds
    accept: str = "application/json"
    last_event_id: Optional[str] = None

    def target(self, prefix: str) -> str:
        q = urlencode(self.query)
        return prefix + self.path + ("?" + q if q else "")

    def payload(self) -> Optional[bytes]:
        if self.body is None:
            return None
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def safe_to_resend(self) -> bool:
        """A call may be sent again after a broken connection when it is a GET or carries an
        Idempotency-Key (the gateway then answers a repeat with the first submission)."""
        return self.method == "GET" or self.idempotency_key is not None


@dataclass
class RetryPolicy:
    """Retries of 429 and 503 answers (and of broken connections for calls safe to resend).

    A retry waits the answer's Retry-After, else ``backoff`` doubling per attempt,
    each wait at most ``max_delay``; a Retry-After longer than ``max_delay`` is not
    waited for: the error is raised at once. After ``max_retries`` retries the last
    error is raised.
    """

    max_retries: int = 5
    max_delay: float = 60.0
    backoff: float = 0.5

    def backoff_delay(self, attempt: int) -> float:
        return min(self.backoff * (2**attempt), self.max_delay)

    def after_status(self, attempt: int, status: int, headers: Mapping[str, str]) -> Optional[float]:
        """The delay before retrying an answer with this status, or None to raise it."""
        if status not in (429, 503) or attempt >= self.max_retries:
            return None
        ra = retry_after(headers)
        if ra is None:
            return self.backoff_delay(attempt)
        return ra if ra <= self.max_delay else None

    def after_transport(self, attempt: int, call: Call) -> Optional[float]:
        """The delay before sending call again after a connection failure, or None to raise."""
        if attempt >= self.max_retries or not call.safe_to_resend():
            return None
        return self.backoff_delay(attempt)


class Config:
    """The settings both clients share (see Client for their meaning)."""

    def __init__(
        self,
        base_url: Optional[str],
        api_key: Optional[str],
        timeout: float,
        retry: Optional[RetryPolicy],
        idempotency: bool,
        user_agent: Optional[str],
    ):
        url = base_url or os.environ.get("AIRLOCK_URL") or DEFAULT_URL
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http:// or https:// URL, got %r" % url)
        self.base_url = url.rstrip("/")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self.api_key = api_key if api_key is not None else os.environ.get("AIRLOCK_API_KEY") or None
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.idempotency = idempotency
        self.user_agent = user_agent or "airlock-python/" + VERSION

    def headers(self, call: Call) -> dict:
        h = {"User-Agent": self.user_agent, "Accept": call.accept}
        if self.api_key:
            h["Authorization"] = "Bearer " + self.api_key
        if call.body is not None:
            h["Content-Type"] = "application/json"
        if call.idempotency_key is not None:
            h["Idempotency-Key"] = call.idempotency_key
        if call.last_event_id is not None:
            h["Last-Event-ID"] = call.last_event_id
        return h

    def socket_timeout(self, call: Call) -> float:
        return self.timeout + (call.wait + WAIT_MARGIN_SECONDS if call.wait else 0.0)

    def key(self, given: Union[str, bool, None]) -> Optional[str]:
        """The Idempotency-Key of one submission: the caller's, else a fresh uuid (unless
        turned off for the client or with False). One call reuses it on all its retries."""
        if isinstance(given, str):
            return given
        if given is False or (given is None and not self.idempotency):
            return None
        return str(uuid.uuid4())

    # The calls. Each returns a Call; the clients send it and parse the answer.

    def execute_call(self, language, files, fields, wait, key) -> Call:
        return Call("POST", "/v1/execute", Execution.from_dict, {"timeout": duration(wait)},
                    request(language, files, **fields), key, wait)

    def submit_call(self, language, files, fields, key) -> Call:
        return Call("POST", "/v1/executions", Submission.from_dict, body=request(language, files, **fields),
                    idempotency_key=key)

    def get_call(self, execution_id: str, wait: float = 0.0) -> Call:
        q = {"wait": "true", "timeout": duration(wait)} if wait else {}
        return Call("GET", "/v1/executions/" + quote(execution_id, safe=""), Execution.from_dict, q, wait=wait)

    def get_many_call(self, ids: Iterable[str]) -> Call:
        return Call("GET", "/v1/executions", lambda d: [ExecutionOrError.from_dict(e) for e in d["executions"]],
                    {"ids": ",".join(ids)})

    def batch_call(self, requests: Iterable[Mapping[str, Any]], key) -> Call:
        return Call("POST", "/v1/executions/batch", lambda d: [BatchEntry.from_dict(e) for e in d["executions"]],
                    body={"executions": [dict(r) for r in requests]}, idempotency_key=key)

    def runtimes_call(self) -> Call:
        return Call("GET", "/v1/runtimes", lambda d: [Runtime.from_dict(r) for r in d["runtimes"]])

    def evaluation_call(self, body: dict, key) -> Call:
        return Call("POST", "/v1/evaluations", EvaluationAccepted.from_dict,
                    body={k: v for k, v in body.items() if v is not None}, idempotency_key=key)

    def get_evaluation_call(self, evaluation_id: str, wait: float = 0.0, candidates: bool = True) -> Call:
        q = {"wait": "true", "timeout": duration(wait)} if wait else {}
        if not candidates:
            q["candidates"] = "false"
        return Call("GET", "/v1/evaluations/" + quote(evaluation_id, safe=""), Evaluation.from_dict, q, wait=wait)

    def events_call(self, evaluation_id: str, last_event_id: Optional[str], ndjson: bool) -> Call:
        accept = "application/x-ndjson" if ndjson else "text/event-stream"
        # wait: reads may stay silent for as long as a long poll (no candidate finished).
        return Call("GET", "/v1/evaluations/" + quote(evaluation_id, safe="") + "/events", lambda d: d,
                    wait=MAX_POLL_SECONDS, accept=accept, last_event_id=last_event_id)


class ClientBase:
    """The constructor and settings that Client and AsyncClient share."""

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        timeout: float = 60.0,
        retry: Optional[RetryPolicy] = None,
        idempotency: bool = True,
        user_agent: Optional[str] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
    ):
        self._cfg = Config(base_url, api_key, timeout, retry, idempotency, user_agent)
        self._ssl = ssl_context

    @property
    def base_url(self) -> str:
        """The gateway's URL."""
        return self._cfg.base_url


def evaluation_body(fmt: Optional[str], **fields: Any) -> dict:
    """The body of POST /v1/evaluations: a native one (format None) or a benchmark format's."""
    body = dict(fields)
    if fmt is not None:
        body["format"] = fmt
    return body


def parse_json(body: bytes) -> Any:
    return json.loads(body) if body else None


def _event_data(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class SSEDecoder:
    """Decodes a text/event-stream line by line (the WHATWG rules: ``event:``, ``data:``
    lines joined with newlines, ``id:``, comments, and a blank line that ends an event)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list = []
        self._id: Optional[str] = None

    def line(self, line: str) -> Optional[Event]:
        """Feed one line (without its line ending); returns an event when the line completed one."""
        if line == "":
            if not self._data and not self._event:
                self._id = None
                return None
            ev = make_event(self._event or "message", self._id, _event_data("\n".join(self._data)))
            self._event, self._data, self._id = "", [], None
            return ev
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None


def ndjson_event(line: str) -> Optional[Event]:
    """One NDJSON line {"event", "id", "data"} as an event (None for a blank line)."""
    line = line.strip()
    if not line:
        return None
    obj = json.loads(line)
    ev_id = obj.get("id")
    return make_event(str(obj.get("event", "message")), None if ev_id is None else str(ev_id), obj.get("data"))


class LineSplitter:
    """Splits a byte stream into text lines (LF, CRLF or CR endings, as SSE allows)."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list:
        self._buf += data
        lines = []
        while True:
            cr, lf = self._buf.find(b"\r"), self._buf.find(b"\n")
            if cr == -1 and lf == -1:
                break
            if cr != -1 and (lf == -1 or cr < lf):
                if cr == len(self._buf) - 1:
                    break  # a CR at the end may be the first half of CRLF: wait for more
                end, nxt = cr, cr + 2 if self._buf[cr + 1 : cr + 2] == b"\n" else cr + 1
            else:
                end, nxt = lf, lf + 1
            lines.append(self._buf[:end].decode("utf-8", "replace"))
            self._buf = self._buf[nxt:]
        return lines


class EventDecoder:
    """Bytes of an event stream (SSE or NDJSON) in, events out."""

    def __init__(self, ndjson: bool) -> None:
        self._lines = LineSplitter()
        self._sse = None if ndjson else SSEDecoder()

    def feed(self, data: bytes) -> list:
        out = []
        for line in self._lines.feed(data):
            ev = self._sse.line(line) if self._sse is not None else ndjson_event(line)
            if ev is not None:
                out.append(ev)
        return out
