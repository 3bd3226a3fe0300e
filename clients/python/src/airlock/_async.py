"""The asyncio client: HTTP/1.1 over asyncio streams, one connection per call."""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any, AsyncIterator, Iterable, Mapping, Optional, Union

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
_NET_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, EOFError)


class _Response:
    """An HTTP/1.1 response being read from a stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float):
        self.reader, self.writer, self.timeout = reader, writer, timeout
        self.status = 0
        self.headers: dict = {}

    async def _line(self) -> bytes:
        line = await asyncio.wait_for(self.reader.readline(), self.timeout)
        if not line.endswith(b"\n"):
            raise EOFError("the connection closed mid-answer")
        return line

    async def read_head(self) -> None:
        while True:
            parts = (await self._line()).decode("latin-1").split(None, 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise ValueError("not an HTTP answer: %r" % parts)
            self.status = int(parts[1])
            self.headers = {}
            while True:
                line = (await self._line()).decode("latin-1").strip()
                if not line:
                    break
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
            if self.status >= 200 or self.status == 101:
                return  # 1xx interim answers are skipped

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive (chunked, sized, or up to the end of the connection)."""
        read = lambda n: asyncio.wait_for(self.reader.readexactly(n), self.timeout)  # noqa: E731
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            while True:
                size = int((await self._line()).split(b";")[0].strip(), 16)
                if size == 0:
                    while (await self._line()).strip():
                        pass  # trailers
                    return
                data = await read(size)
                await read(2)
                yield data
        elif "content-length" in self.headers:
            n = int(self.headers["content-length"])
            if n:
                yield await read(n)
        else:
            while True:
                data = await asyncio.wait_for(self.reader.read(65536), self.timeout)
                if not data:
                    return
                yield data

    async def body(self) -> bytes:
        return b"".join([c async for c in self.chunks()])

    def close(self) -> None:
        self.writer.close()


class AsyncClient(ClientBase):
    """The asyncio twin of Client: the same methods, as coroutines (``stream_evaluation``
    is an async iterator). Use ``async with AsyncClient() as c:`` or call ``aclose``."""


    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing to release (every call has its own connection); for ``async with``."""

    # Transport.

    async def _send(self, call: Call) -> _Response:
        cfg = self._cfg
        timeout = cfg.socket_timeout(call)
        ctx = None
        if cfg.scheme == "https":
            ctx = self._ssl or ssl.create_default_context()
        reader, writer = await asyncio.wait_for(asyncio.open_connection(cfg.host, cfg.port, ssl=ctx), timeout)
        resp = _Response(reader, writer, timeout)
        try:
            payload = call.payload()
            head = ["%s %s HTTP/1.1" % (call.method, call.target(cfg.prefix)), "Host: " + cfg.host_header,
                    "Connection: close"]
            head += ["%s: %s" % kv for kv in cfg.headers(call).items()]
            if payload is not None:
                head.append("Content-Length: %d" % len(payload))
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + (payload or b""))
            await asyncio.wait_for(writer.drain(), timeout)
            await resp.read_head()
        except BaseException:
            resp.close()
            raise
        return resp

    async def _open(self, call: Call) -> _Response:
        """Send call, retrying as the policy says; returns the response of a 2xx answer."""
        cfg, attempt = self._cfg, 0
        while True:
            try:
                resp = await self._send(call)
                if resp.status < 300:
                    return resp
                try:
                    body = await resp.body()
                finally:
                    resp.close()
            except _NET_ERRORS as e:
                delay = cfg.retry.after_transport(attempt, call)
                if delay is None:
                    raise TransportError("%s %s: %s" % (call.method, call.path, e or type(e).__name__)) from e
            else:
                delay = cfg.retry.after_status(attempt, resp.status, resp.headers)
                if delay is None:
                    raise error_from_response(resp.status, resp.headers, body)
            await asyncio.sleep(delay)
            attempt += 1

    async def _call(self, call: Call) -> Any:
        resp = await self._open(call)
        try:
            body = await resp.body()
        except _NET_ERRORS as e:
            raise TransportError("%s %s: %s" % (call.method, call.path, e or type(e).__name__)) from e
        finally:
            resp.close()
        return call.parse(parse_json(body))

    # Executions.

    async def execute(
        self, language: str, files: Files, *, timeout: Optional[float] = None, idempotency_key: Key = None, **fields: Any
    ) -> Execution:
        """Run a program and return its completed Execution (see Client.execute)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        first = min(timeout, MAX_POLL_SECONDS) if timeout is not None else MAX_POLL_SECONDS
        ex = await self._call(self._cfg.execute_call(language, files, fields, first, self._cfg.key(idempotency_key)))
        if ex.completed:
            return ex
        return await self._wait_until(ex, deadline)

    async def submit(self, language: str, files: Files, *, idempotency_key: Key = None, **fields: Any) -> Submission:
        """Queue a program without waiting (POST /v1/executions)."""
        return await self._call(self._cfg.submit_call(language, files, fields, self._cfg.key(idempotency_key)))

    async def get(self, execution_id: str) -> Execution:
        """The execution in its current state."""
        return await self._call(self._cfg.get_call(execution_id))

    async def wait(self, execution_id: str, timeout: Optional[float] = None) -> Execution:
        """Long-poll until the execution completes (see Client.wait)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        return await self._wait_until(Execution(id=execution_id), deadline)

    async def _wait_until(self, ex: Execution, deadline: Optional[float]) -> Execution:
        while True:
            left = MAX_POLL_SECONDS if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout("execution %s did not complete in time (status %s)" % (ex.id, ex.status), ex)
            ex = await self._call(self._cfg.get_call(ex.id, min(left, MAX_POLL_SECONDS)))
            if ex.completed:
                return ex

    async def get_many(self, ids: Iterable[str]) -> list[ExecutionOrError]:
        """Up to 100 executions at once, in the order asked."""
        return await self._call(self._cfg.get_many_call(ids))

    async def submit_batch(
        self, requests: Iterable[Mapping[str, Any]], *, idempotency_key: Key = None
    ) -> list[BatchEntry]:
        """Queue up to 100 requests in one call (see Client.submit_batch)."""
        return await self._call(self._cfg.batch_call(requests, self._cfg.key(idempotency_key)))

    async def runtimes(self) -> list[Runtime]:
        """The languages and versions served."""
        return await self._call(self._cfg.runtimes_call())

    # Evaluations.

    async def create_evaluation(
        self, *, format: Optional[str] = None, idempotency_key: Key = None, **fields: Any
    ) -> EvaluationAccepted:
        """Start an evaluation (see Client.create_evaluation)."""
        body = evaluation_body(format, **fields)
        return await self._call(self._cfg.evaluation_call(body, self._cfg.key(idempotency_key)))

    async def evaluate_humaneval(self, problems: list, samples: list, **fields: Any) -> EvaluationAccepted:
        return await self.create_evaluation(format="humaneval", problems=problems, samples=samples, **fields)

    async def evaluate_mbpp(self, problems: list, samples: list, **fields: Any) -> EvaluationAccepted:
        return await self.create_evaluation(format="mbpp", problems=problems, samples=samples, **fields)

    async def evaluate_stdio(self, problems: list, samples: list, **fields: Any) -> EvaluationAccepted:
        return await self.create_evaluation(format="stdio", problems=problems, samples=samples, **fields)

    async def evaluate_call(self, problems: list, samples: list, **fields: Any) -> EvaluationAccepted:
        return await self.create_evaluation(format="call", problems=problems, samples=samples, **fields)

    async def get_evaluation(self, evaluation_id: str, *, candidates: bool = True) -> Evaluation:
        """The evaluation in its current state."""
        return await self._call(self._cfg.get_evaluation_call(evaluation_id, 0.0, candidates))

    async def wait_evaluation(
        self, evaluation_id: str, *, timeout: Optional[float] = None, candidates: bool = True
    ) -> Evaluation:
        """Long-poll the evaluation until it completes (see Client.wait_evaluation)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = MAX_POLL_SECONDS if deadline is None else deadline - time.monotonic()
            if left <= 0:
                ev = await self.get_evaluation(evaluation_id, candidates=candidates)
                raise WaitTimeout("evaluation %s did not complete in time (status %s)" % (ev.id, ev.status), ev)
            call = self._cfg.get_evaluation_call(evaluation_id, min(left, MAX_POLL_SECONDS), candidates)
            ev = await self._call(call)
            if ev.completed:
                return ev

    async def stream_evaluation(
        self, evaluation_id: str, *, last_event_id: Optional[str] = None, ndjson: bool = False
    ) -> AsyncIterator[Event]:
        """The evaluation's events as they happen, resumed after a dropped connection
        (see Client.stream_evaluation)."""
        last, failures = last_event_id, 0
        while True:
            cause: Optional[BaseException] = None
            try:
                async for ev in self._events_once(evaluation_id, last, ndjson):
                    last = ev.id if ev.id is not None else last
                    failures = 0
                    yield ev
                    if ev.event == "summary":
                        return
            except asyncio.TimeoutError:
                continue  # a silent stream is not a failure: ask again from the last id
            except (TransportError,) + _NET_ERRORS as e:
                cause = e
            failures += 1
            if failures > self._cfg.retry.max_retries:
                raise TransportError(
                    "the event stream of evaluation %s broke %d times in a row (last event id %s)"
                    % (evaluation_id, failures, last)
                ) from cause
            await asyncio.sleep(self._cfg.retry.backoff_delay(failures - 1))

    async def _events_once(self, evaluation_id: str, last: Optional[str], ndjson: bool) -> AsyncIterator[Event]:
        resp = await self._open(self._cfg.events_call(evaluation_id, last, ndjson))
        try:
            decoder = EventDecoder(ndjson)
            async for data in resp.chunks():
                for ev in decoder.feed(data):
                    yield ev
        finally:
            resp.close()
