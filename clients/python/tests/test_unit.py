"""Unit tests of the SDK against a scripted local HTTP server (stub.py): headers,
retries, errors, long polls and the event-stream decoders with resumption. The
behaviour against the real gateway is tested by test_stack.py."""

from __future__ import annotations

import asyncio
import json
import unittest
import uuid
from unittest import mock

import airlock
from airlock._core import EventDecoder, LineSplitter, RetryPolicy

from stub import Stub, hang_up, send, stream

EXEC = {"id": "a" * 26, "status": "completed", "language": "python", "version": "3.11.2", "verdict": "accepted",
        "run": {"stdout": "hi\n", "stderr": "", "exit_code": 0, "signal": "", "cpu_time_ms": 7, "wall_time_ms": 9,
                "memory_kb": 100, "truncated": False, "verdict": "accepted"}, "new_field": 1}
QUEUED = {"id": "a" * 26, "status": "queued"}


def sse(*events):
    out = b""
    for name, ev_id, data in events:
        out += b"event: %s\nid: %s\ndata: %s\n\n" % (name.encode(), ev_id.encode(), json.dumps(data).encode())
    return out


def ndjson(*events):
    return b"".join(json.dumps({"event": n, "id": i, "data": d}).encode() + b"\n" for n, i, d in events)


CANDIDATES = [("candidate", str(i), {"index": i, "task_id": "T/%d" % i, "sample": 0, "passed": i % 2 == 0,
                                     "result": "passed" if i % 2 == 0 else "failed: AssertionError",
                                     "status": "completed", "verdict": "accepted"}) for i in range(1, 5)]
PROGRESS = ("progress", "5", {"total": 4, "completed": 4, "pending": 0})
SUMMARY = ("summary", "6", {"summary": {"total": 4, "completed": 4, "passed": 2, "failed": 2, "pass_rate": 0.5},
                            "pass_at_k": {"problems": [{"problem": "T", "n": 4, "c": 2}],
                                          "estimates": [{"k": 1, "value": 0.5, "problems": 1}]}})


class StubCase(unittest.TestCase):
    def setUp(self):
        self.stub = Stub()
        self.addCleanup(self.stub.close)
        self.sleeps = []
        patcher = mock.patch("airlock._sync.time.sleep", side_effect=self.sleeps.append)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.client = airlock.Client(self.stub.url, api_key="k" * 20, timeout=10)


class TestRequests(StubCase):
    def test_execute_sends_key_idempotency_and_body(self):
        self.stub.handlers = [send(200, EXEC)]
        ex = self.client.execute("python", {"main.py": "print(input())"}, stdin="hi", limits={"cpu_time_ms": 500})
        self.assertIsInstance(ex, airlock.Execution)
        self.assertEqual((ex.verdict, ex.run.stdout, ex.run.cpu_time_ms), ("accepted", "hi\n", 7))
        self.assertEqual(ex.raw["new_field"], 1)
        (req,) = self.stub.requests
        self.assertEqual(req.method, "POST")
        self.assertTrue(req.path.startswith("/v1/execute?timeout="), req.path)
        self.assertEqual(req.headers["authorization"], "Bearer " + "k" * 20)
        self.assertEqual(req.headers["content-type"], "application/json")
        uuid.UUID(req.headers["idempotency-key"])
        self.assertEqual(req.json(), {"language": "python", "files": [{"name": "main.py", "content": "print(input())"}],
                                      "stdin": "hi", "limits": {"cpu_time_ms": 500}})

    def test_every_submission_gets_its_own_key_and_gets_none(self):
        self.stub.handlers = [send(202, QUEUED), send(202, QUEUED), send(200, EXEC),
                              send(200, {"executions": [QUEUED]}), send(202, {"id": "e", "status": "submitting"})]
        self.client.submit("python", {"main.py": ""})
        self.client.submit("python", {"main.py": ""})
        self.client.get("a" * 26)
        self.client.submit_batch([airlock.request("python", {"main.py": ""})])
        self.client.create_evaluation(language="python", candidates=[{"files": [{"name": "main.py", "content": ""}]}])
        keys = [r.headers.get("idempotency-key") for r in self.stub.requests]
        self.assertIsNone(keys[2])
        posted = [k for i, k in enumerate(keys) if i != 2]
        self.assertEqual(len(set(posted)), 4, keys)
        for k in posted:
            uuid.UUID(k)

    def test_given_key_and_no_key(self):
        self.stub.handlers = [send(202, QUEUED), send(202, QUEUED)]
        self.client.submit("python", {"main.py": ""}, idempotency_key="run-1/task-3")
        self.client.submit("python", {"main.py": ""}, idempotency_key=False)
        self.assertEqual(self.stub.requests[0].headers["idempotency-key"], "run-1/task-3")
        self.assertNotIn("idempotency-key", self.stub.requests[1].headers)

    def test_execute_continues_with_long_polls(self):
        running = dict(QUEUED, status="running")
        self.stub.handlers = [send(202, QUEUED), send(202, running), send(200, EXEC)]
        ex = self.client.execute("python", {"main.py": ""})
        self.assertTrue(ex.accepted)
        paths = [r.path for r in self.stub.requests]
        self.assertTrue(paths[1].startswith("/v1/executions/" + "a" * 26 + "?wait=true&timeout="), paths)
        self.assertEqual(paths[1].split("?")[0], paths[2].split("?")[0])

    def test_wait_timeout_carries_the_last_state(self):
        running = dict(QUEUED, status="running")
        self.stub.handlers = [send(202, running)] * 100000
        with self.assertRaises(airlock.WaitTimeout) as cm:
            self.client.wait("a" * 26, timeout=0.2)
        self.assertEqual(cm.exception.last.status, "running")

    def test_ids_are_quoted_into_the_path(self):
        self.stub.handlers = [send(404, {"error": {"code": "not_found", "message": "no", "field": "id"}})]
        with self.assertRaises(airlock.NotFoundError):
            self.client.get("../runtimes?x=1")
        self.assertEqual(self.stub.requests[0].path, "/v1/executions/..%2Fruntimes%3Fx%3D1")


class TestErrors(StubCase):
    def test_4xx_carries_the_api_error(self):
        body = {"error": {"code": "invalid_request", "message": "must be a plain relative path", "field": "files[0].name"}}
        self.stub.handlers = [send(422, body)]
        with self.assertRaises(airlock.UnprocessableError) as cm:
            self.client.submit("python", {"../x": ""})
        e = cm.exception
        self.assertEqual((e.status, e.code, e.error, e.field), (422, "invalid_request", "invalid_request", "files[0].name"))
        self.assertEqual(e.message, "must be a plain relative path")
        self.assertIn("files[0].name", str(e))
        self.assertEqual(len(self.stub.requests), 1)

    def test_status_classes(self):
        cases = [(400, airlock.BadRequestError), (401, airlock.AuthenticationError),
                 (403, airlock.PermissionDeniedError), (413, airlock.PayloadTooLargeError)]
        for status, cls in cases:
            self.stub.handlers = [send(status, {"error": {"code": "c%d" % status, "message": "m"}})]
            with self.assertRaises(cls) as cm:
                self.client.runtimes()
            self.assertEqual(cm.exception.code, "c%d" % status)
            self.assertIsInstance(cm.exception, airlock.APIError)

    def test_non_json_error(self):
        self.stub.handlers = [send(500, b"boom")]
        with self.assertRaises(airlock.ServerError) as cm:
            self.client.runtimes()
        self.assertEqual((cm.exception.code, cm.exception.message), ("http_500", "boom"))


class TestRetries(StubCase):
    def test_429_and_503_are_retried_with_retry_after_and_the_same_key(self):
        queue_full = {"error": {"code": "queue_full", "message": "the job queue is full; retry later"}}
        unavailable = {"error": {"code": "unavailable", "message": "NATS"}}
        self.stub.handlers = [send(429, queue_full, {"Retry-After": "2"}), send(503, unavailable, {"Retry-After": "1"}),
                              send(202, QUEUED)]
        sub = self.client.submit("python", {"main.py": ""})
        self.assertEqual(sub.id, "a" * 26)
        self.assertEqual(self.sleeps, [2.0, 1.0])
        keys = {r.headers["idempotency-key"] for r in self.stub.requests}
        self.assertEqual(len(keys), 1)
        self.assertEqual(len(self.stub.requests), 3)

    def test_retries_are_bounded(self):
        self.client = airlock.Client(self.stub.url, retry=RetryPolicy(max_retries=2, backoff=0.25))
        busy = {"error": {"code": "no_executor", "message": "none"}}
        self.stub.handlers = [send(503, busy)] * 3
        with self.assertRaises(airlock.ServerError) as cm:
            self.client.runtimes()
        self.assertEqual((cm.exception.status, cm.exception.code), (503, "no_executor"))
        self.assertEqual(self.sleeps, [0.25, 0.5])  # no Retry-After: the backoff
        self.assertEqual(len(self.stub.requests), 3)

    def test_retry_after_above_the_bound_is_raised_at_once(self):
        self.client = airlock.Client(self.stub.url, retry=RetryPolicy(max_delay=10))
        limited = {"error": {"code": "rate_limited", "message": "slow down"}}
        self.stub.handlers = [send(429, limited, {"Retry-After": "30"})]
        with self.assertRaises(airlock.RateLimitError) as cm:
            self.client.submit("python", {"main.py": ""})
        self.assertEqual(cm.exception.retry_after, 30.0)
        self.assertEqual((len(self.stub.requests), self.sleeps), (1, []))

    def test_other_4xx_are_not_retried(self):
        self.stub.handlers = [send(422, {"error": {"code": "invalid_request", "message": "x"}})]
        with self.assertRaises(airlock.UnprocessableError):
            self.client.submit("python", {"main.py": ""})
        self.assertEqual(len(self.stub.requests), 1)

    def test_a_broken_connection_resends_only_what_is_safe(self):
        self.stub.handlers = [hang_up, send(202, QUEUED)]
        self.client.submit("python", {"main.py": ""})
        self.assertEqual(len(self.stub.requests), 2)
        self.assertEqual(self.stub.requests[0].headers["idempotency-key"], self.stub.requests[1].headers["idempotency-key"])
        self.stub.requests.clear()
        self.stub.handlers = [hang_up, send(202, QUEUED)]
        with self.assertRaises(airlock.TransportError):
            self.client.submit("python", {"main.py": ""}, idempotency_key=False)
        self.assertEqual(len(self.stub.requests), 1)


class TestDecoders(unittest.TestCase):
    def test_lines_split_across_chunks_and_endings(self):
        s = LineSplitter()
        out = []
        for part in [b"a\r", b"\nb\rc", b"\n", b"d\r", b"e\n"]:
            out += s.feed(part)
        self.assertEqual(out, ["a", "b", "c", "d", "e"])

    def test_sse_fields(self):
        d = EventDecoder(ndjson=False)
        text = (b": keep-alive\r\n\r\nevent: progress\r\nid: 7\r\ndata: {\"total\": 3,\r\ndata:  \"completed\": 1}\r\n\r\n"
                b"event: other\ndata: plain\n\n")
        events = []
        for i in range(0, len(text), 5):
            events += d.feed(text[i : i + 5])
        self.assertEqual(len(events), 2)
        self.assertIsInstance(events[0], airlock.ProgressEvent)
        self.assertEqual((events[0].id, events[0].progress.total, events[0].progress.completed), ("7", 3, 1))
        self.assertEqual((type(events[1]), events[1].event, events[1].data), (airlock.Event, "other", "plain"))

    def test_typed_events(self):
        d = EventDecoder(ndjson=True)
        events = d.feed(ndjson(CANDIDATES[0], PROGRESS, SUMMARY))
        c, p, s = events
        self.assertEqual((c.candidate.task_id, c.candidate.result, c.candidate.passed), ("T/1", "failed: AssertionError", False))
        self.assertEqual(p.progress.completed, 4)
        self.assertEqual((s.summary.passed, s.pass_at_k.value(1), s.pass_at_k.problems[0].n), (2, 0.5, 4))


class TestStream(StubCase):
    def check_resumed(self, encode, content_type, ndjson_mode):
        first = encode(*CANDIDATES[:2])
        rest = encode(*CANDIDATES[2:], PROGRESS, SUMMARY)
        # The first connection drops mid-event; the second resumes after id 2.
        self.stub.handlers = [stream([first, rest[:9]], content_type, complete=False), stream([rest], content_type)]
        events = list(self.client.stream_evaluation("e1", ndjson=ndjson_mode))
        self.assertEqual([e.id for e in events], ["1", "2", "3", "4", "5", "6"])
        self.assertEqual([type(e).__name__ for e in events], ["CandidateEvent"] * 4 + ["ProgressEvent", "SummaryEvent"])
        r1, r2 = self.stub.requests
        self.assertEqual(r1.path, "/v1/evaluations/e1/events")
        self.assertNotIn("last-event-id", r1.headers)
        self.assertEqual(r2.headers["last-event-id"], "2")
        self.assertEqual(r1.headers["accept"], content_type)

    def test_sse_resumes(self):
        self.check_resumed(sse, "text/event-stream", False)

    def test_ndjson_resumes(self):
        self.check_resumed(ndjson, "application/x-ndjson", True)

    def test_a_stream_that_ends_without_summary_is_resumed(self):
        self.stub.handlers = [stream([sse(*CANDIDATES[:1])]), stream([sse(SUMMARY)])]
        events = list(self.client.stream_evaluation("e1", last_event_id="0"))
        self.assertEqual([e.id for e in events], ["1", "6"])
        self.assertEqual([r.headers["last-event-id"] for r in self.stub.requests], ["0", "1"])

    def test_404_is_raised(self):
        self.stub.handlers = [send(404, {"error": {"code": "not_found", "message": "no evaluation with this id", "field": "id"}})]
        with self.assertRaises(airlock.NotFoundError):
            list(self.client.stream_evaluation("nope"))

    def test_reconnects_are_bounded(self):
        self.client = airlock.Client(self.stub.url, retry=RetryPolicy(max_retries=2))
        self.stub.handlers = [stream([b": nothing\n\n"])] * 3
        with self.assertRaises(airlock.TransportError):
            list(self.client.stream_evaluation("e1"))
        self.assertEqual(len(self.stub.requests), 3)


class TestAsync(unittest.IsolatedAsyncioTestCase):
    def setUp(self):
        self.stub = Stub()
        self.addCleanup(self.stub.close)
        self.sleeps = []

        async def fake_sleep(d):
            self.sleeps.append(d)

        patcher = mock.patch("airlock._async.asyncio.sleep", side_effect=fake_sleep)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.client = airlock.AsyncClient(self.stub.url, api_key="k" * 20, timeout=10)

    async def test_execute_with_retry_and_poll(self):
        self.stub.handlers = [send(429, {"error": {"code": "rate_limited", "message": "m"}}, {"Retry-After": "1"}),
                              send(202, QUEUED), send(200, EXEC)]
        ex = await self.client.execute("python", {"main.py": "print(1)"})
        self.assertEqual((ex.verdict, ex.run.stdout), ("accepted", "hi\n"))
        self.assertEqual(self.sleeps, [1.0])
        r1, r2, r3 = self.stub.requests
        self.assertEqual(r1.headers["idempotency-key"], r2.headers["idempotency-key"])
        self.assertEqual(r1.headers["authorization"], "Bearer " + "k" * 20)
        self.assertEqual(r2.json()["files"], [{"name": "main.py", "content": "print(1)"}])
        self.assertIn("wait=true", r3.path)

    async def test_error(self):
        body = {"error": {"code": "unknown_language", "message": "language \"cobol\" is not served", "field": "language"}}
        self.stub.handlers = [send(422, body)]
        with self.assertRaises(airlock.UnprocessableError) as cm:
            await self.client.submit("cobol", {"main.cob": ""})
        self.assertEqual((cm.exception.code, cm.exception.field), ("unknown_language", "language"))

    async def test_stream_resumes(self):
        first = sse(*CANDIDATES[:3])
        self.stub.handlers = [stream([first, b"event: candid"], complete=False),
                              stream([sse(CANDIDATES[3], PROGRESS, SUMMARY)])]
        events = [e async for e in self.client.stream_evaluation("e1")]
        self.assertEqual([e.id for e in events], ["1", "2", "3", "4", "5", "6"])
        self.assertEqual(self.stub.requests[1].headers["last-event-id"], "3")
        self.assertEqual(events[-1].summary.pass_rate, 0.5)

    async def test_transport_error(self):
        self.client = airlock.AsyncClient(self.stub.url, retry=RetryPolicy(max_retries=1))
        self.stub.handlers = [hang_up, hang_up]
        with self.assertRaises(airlock.TransportError):
            await self.client.runtimes()
        self.assertEqual(len(self.stub.requests), 2)


if __name__ == "__main__":
    unittest.main()
