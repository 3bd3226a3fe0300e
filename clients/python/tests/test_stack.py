"""Tests of the SDK against a real Airlock stack (`go tool task sdk` starts one).

They need $AIRLOCK_URL, $AIRLOCK_API_KEY (a tenant's key) and
$AIRLOCK_TEST_OTHER_KEY (another tenant's key) and fail, never skip, without them.
The stack must serve python and bash.
"""

from __future__ import annotations

import asyncio
import math
import os
import unittest
import uuid
from unittest import mock

import airlock

URL = os.environ.get("AIRLOCK_URL")
KEY = os.environ.get("AIRLOCK_API_KEY")
OTHER_KEY = os.environ.get("AIRLOCK_TEST_OTHER_KEY")


def setUpModule():
    if not (URL and KEY and OTHER_KEY):
        raise RuntimeError("test_stack needs AIRLOCK_URL, AIRLOCK_API_KEY and AIRLOCK_TEST_OTHER_KEY "
                           "(a stack started with two tenants' keys); `go tool task sdk` sets them")


def pass_at_k(n, c, k):
    """The unbiased estimator 1 - C(n-c, k) / C(n, k), computed here to check the API's."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


LIMITS = {"cpu_time_ms": 2000, "wall_time_ms": 5000, "memory_mb": 128}


class StackCase(unittest.TestCase):
    def setUp(self):
        self.client = airlock.Client(URL, KEY, timeout=60)

    def unique(self):
        return "sdk-test-" + uuid.uuid4().hex


class TestExecutions(StackCase):
    def test_execute(self):
        ex = self.client.execute("python", {"main.py": "import sys\nprint(sys.stdin.read()[::-1])"}, stdin="airlock",
                                 limits=LIMITS)
        self.assertIsInstance(ex, airlock.Execution)
        self.assertEqual((ex.status, ex.verdict, ex.language), ("completed", "accepted", "python"))
        self.assertEqual(ex.run.stdout, "kcolria\n")
        self.assertIsInstance(ex.run, airlock.Stage)
        self.assertGreater(ex.run.wall_time_ms, 0)
        self.assertEqual(ex.limits.memory_mb, 128)
        self.assertEqual(ex.tenant, "alice")

    def test_judge_mode(self):
        ex = self.client.execute("python", {"main.py": "print(int(input()) ** 2)"},
                                 tests=[{"name": "three", "stdin": "3", "expected_output": "9"},
                                        {"name": "four", "stdin": "4", "expected_output": "15"}])
        self.assertEqual((ex.verdict, ex.failed_test), ("wrong_answer", 1))
        self.assertEqual([(t.name, t.verdict, t.stdout) for t in ex.tests],
                         [("three", "accepted", "9\n"), ("four", "wrong_answer", "16\n")])
        self.assertIsInstance(ex.tests[0], airlock.TestResult)
        self.assertEqual((ex.score, ex.max_score), (1, 2))

    def test_submit_get_wait(self):
        sub = self.client.submit("bash", {"main.sh": "sleep 1; echo done"})
        self.assertIsInstance(sub, airlock.Submission)
        self.assertEqual(sub.status, "queued")
        self.assertEqual(len(sub.id), 26)
        self.assertIn(self.client.get(sub.id).status, ("queued", "running", "completed"))
        ex = self.client.wait(sub.id)
        self.assertEqual((ex.id, ex.verdict, ex.run.stdout), (sub.id, "accepted", "done\n"))
        self.assertEqual(self.client.get(sub.id).verdict, "accepted")

    def test_wait_timeout(self):
        sub = self.client.submit("bash", {"main.sh": "sleep 3; echo late"})
        with self.assertRaises(airlock.WaitTimeout) as cm:
            self.client.wait(sub.id, timeout=0.5)
        self.assertIn(cm.exception.last.status, ("queued", "running"))
        self.assertEqual(self.client.wait(sub.id, timeout=120).run.stdout, "late\n")

    def test_execute_past_its_first_poll(self):
        # With one-second polls the gateway answers 202 before the program ends:
        # execute goes on with long polls until it completes.
        with mock.patch("airlock._sync.MAX_POLL_SECONDS", 1.0):
            ex = self.client.execute("bash", {"main.sh": "sleep 3; echo slow"}, timeout=120)
        self.assertEqual((ex.status, ex.run.stdout), ("completed", "slow\n"))

    def test_batch_and_get_many(self):
        entries = self.client.submit_batch([
            airlock.request("python", {"main.py": "print(6 * 7)"}),
            airlock.request("cobol", {"main.cob": ""}),
            airlock.request("python", {"main.py": "print(input())"}, tests=[{"stdin": "x", "expected_output": "x"}]),
        ])
        self.assertEqual(len(entries), 3)
        self.assertTrue(entries[0].ok and entries[2].ok)
        self.assertEqual((entries[1].error.code, entries[1].error.field), ("unknown_language", "language"))
        done = [self.client.wait(e.id) for e in (entries[0], entries[2])]
        self.assertEqual(done[0].run.stdout, "42\n")
        self.assertEqual(done[1].verdict, "accepted")
        many = self.client.get_many([entries[0].id, "a" * 26, entries[2].id])
        self.assertEqual([m.id for m in many], [entries[0].id, "a" * 26, entries[2].id])
        self.assertEqual(many[0].execution.run.stdout, "42\n")
        self.assertEqual(many[1].error.code, "not_found")
        self.assertIsNone(many[1].execution)

    def test_runtimes(self):
        names = {r.language for r in self.client.runtimes()}
        self.assertTrue({"python", "bash"} <= names, names)


class TestIdempotency(StackCase):
    def test_same_key_same_execution(self):
        key = self.unique()
        a = self.client.submit("python", {"main.py": "print(1)"}, idempotency_key=key)
        b = self.client.submit("python", {"main.py": "print(1)"}, idempotency_key=key)
        self.assertEqual(a.id, b.id)
        with self.assertRaises(airlock.UnprocessableError) as cm:
            self.client.submit("python", {"main.py": "print(2)"}, idempotency_key=key)
        self.assertEqual((cm.exception.code, cm.exception.field), ("idempotency_key_reused", "Idempotency-Key"))

    def test_default_keys_differ_per_call(self):
        a = self.client.submit("python", {"main.py": "print(1)"})
        b = self.client.submit("python", {"main.py": "print(1)"})
        self.assertNotEqual(a.id, b.id)

    def test_batch_key(self):
        key = self.unique()
        reqs = [airlock.request("python", {"main.py": "print(%d)" % i}) for i in range(2)]
        first = self.client.submit_batch(reqs, idempotency_key=key)
        again = self.client.submit_batch(reqs, idempotency_key=key)
        self.assertEqual([e.id for e in first], [e.id for e in again])
        single = self.client.submit("python", {"main.py": "print(1)"}, idempotency_key=key + "#1")
        self.assertEqual(single.id, first[1].id)


class TestErrors(StackCase):
    def test_invalid_request(self):
        with self.assertRaises(airlock.UnprocessableError) as cm:
            self.client.submit("python", {"../etc/passwd": ""})
        e = cm.exception
        self.assertEqual((e.status, e.code, e.field), (422, "invalid_request", "files[0].name"))
        self.assertIn("plain relative path", e.message)

    def test_limit_too_high(self):
        with self.assertRaises(airlock.UnprocessableError) as cm:
            self.client.execute("python", {"main.py": ""}, limits={"memory_mb": 4096})
        self.assertEqual((cm.exception.code, cm.exception.field), ("limit_too_high", "limits.memory_mb"))

    def test_unknown_field(self):
        with self.assertRaises(airlock.BadRequestError) as cm:
            self.client.submit("python", {"main.py": ""}, no_such_field=1)
        self.assertEqual(cm.exception.code, "invalid_json")

    def test_not_found(self):
        with self.assertRaises(airlock.NotFoundError) as cm:
            self.client.get("a" * 26)
        self.assertEqual((cm.exception.code, cm.exception.field), ("not_found", "id"))
        with self.assertRaises(airlock.NotFoundError):
            self.client.wait("b" * 26)


class TestAPIKeys(StackCase):
    def test_no_key(self):
        saved = os.environ.pop("AIRLOCK_API_KEY", None)
        try:
            anon = airlock.Client(URL)
        finally:
            if saved is not None:
                os.environ["AIRLOCK_API_KEY"] = saved
        with self.assertRaises(airlock.AuthenticationError) as cm:
            anon.runtimes()
        self.assertEqual((cm.exception.status, cm.exception.code), (401, "unauthorized"))

    def test_wrong_key(self):
        with self.assertRaises(airlock.PermissionDeniedError) as cm:
            airlock.Client(URL, "not-a-configured-key-0123").submit("python", {"main.py": ""})
        self.assertEqual((cm.exception.status, cm.exception.code), (403, "forbidden"))

    def test_tenants_are_isolated(self):
        sub = self.client.submit("python", {"main.py": "print(1)"})
        other = airlock.Client(URL, OTHER_KEY)
        with self.assertRaises(airlock.NotFoundError):
            other.get(sub.id)
        self.assertEqual(self.client.wait(sub.id).tenant, "alice")


PROBLEMS = [
    {"id": "add", "harness": {
        "files": [{"name": "main.py", "content": "from solution import add\nassert add(2, 3) == 5\nassert add(-1, 1) == 0\n"}],
        "limits": LIMITS}},
    {"id": "sq", "harness": {
        "files": [{"name": "main.py", "content": "from solution import sq\nprint(sq(int(input())))\n"}],
        "tests": [{"name": "small", "stdin": "3", "expected_output": "9"},
                  {"name": "neg", "stdin": "-4", "expected_output": "16"}],
        "limits": LIMITS}},
]


def solution(code):
    return [{"name": "solution.py", "content": code}]


CANDIDATES = [
    {"id": "add/0", "problem": "add", "files": solution("def add(a, b):\n    return a + b\n")},
    {"id": "add/1", "problem": "add", "files": solution("def add(a, b):\n    return a - b\n")},
    {"id": "add/2", "problem": "add", "files": solution("def add(a, b):\n    return b + a\n")},
    {"id": "sq/0", "problem": "sq", "files": solution("def sq(x):\n    return x * x\n")},
    {"id": "sq/1", "problem": "sq", "files": solution("def sq(x):\n    return x * abs(x) if x > 0 else x\n")},
]


class TestNativeEvaluation(StackCase):
    def test_evaluation(self):
        key = self.unique()
        acc = self.client.create_evaluation(language="python", problems=PROBLEMS, candidates=CANDIDATES, k=[1, 2],
                                            idempotency_key=key)
        self.assertIsInstance(acc, airlock.EvaluationAccepted)
        self.assertEqual(acc.total, 5)
        self.assertEqual([c.id for c in acc.candidates], [c["id"] for c in CANDIDATES])
        ev = self.client.wait_evaluation(acc.id, timeout=300)
        self.assertEqual(ev.status, "completed")
        passed = {c.id: c.passed for c in ev.candidates}
        self.assertEqual(passed, {"add/0": True, "add/1": False, "add/2": True, "sq/0": True, "sq/1": False})
        self.assertEqual((ev.summary.passed, ev.summary.failed), (3, 2))
        self.assertEqual(ev.candidates[4].failed_test_name, "neg")
        for k in (1, 2):
            want = (pass_at_k(3, 2, k) + pass_at_k(2, 1, k)) / 2
            self.assertAlmostEqual(ev.pass_at_k.value(k), want)
        counts = {p.problem: (p.n, p.c) for p in ev.pass_at_k.problems}
        self.assertEqual(counts, {"add": (3, 2), "sq": (2, 1)})
        # The same key and body again: the same evaluation, nothing new.
        again = self.client.create_evaluation(language="python", problems=PROBLEMS, candidates=CANDIDATES, k=[1, 2],
                                              idempotency_key=key)
        self.assertEqual((again.id, again.status), (acc.id, "completed"))
        brief = self.client.get_evaluation(acc.id, candidates=False)
        self.assertEqual((brief.candidates, brief.progress.completed), ([], 5))

    def test_refused_evaluation(self):
        with self.assertRaises(airlock.UnprocessableError) as cm:
            self.client.create_evaluation(language="python", candidates=[{"files": solution("")},
                                                                         {"files": [{"name": "../x.py", "content": ""}]}])
        self.assertEqual(cm.exception.field, "candidates[1].files[0].name")


class TestAsyncClient(unittest.IsolatedAsyncioTestCase):
    async def test_concurrent_executions(self):
        async with airlock.AsyncClient(URL, KEY) as client:
            results = await asyncio.gather(*[
                client.execute("python", {"main.py": "print(%d * %d)" % (i, i)}) for i in range(4)])
            self.assertEqual([r.run.stdout for r in results], ["0\n", "1\n", "4\n", "9\n"])
            sub = await client.submit("bash", {"main.sh": "echo async"})
            self.assertEqual((await client.wait(sub.id)).run.stdout, "async\n")
            entries = await client.submit_batch([airlock.request("python", {"main.py": "print(5)"})])
            self.assertEqual((await client.wait(entries[0].id)).run.stdout, "5\n")
            with self.assertRaises(airlock.UnprocessableError) as cm:
                await client.submit("cobol", {"main.cob": ""})
            self.assertEqual(cm.exception.code, "unknown_language")

    async def test_evaluation(self):
        async with airlock.AsyncClient(URL, KEY) as client:
            acc = await client.create_evaluation(language="python", problems=PROBLEMS, candidates=CANDIDATES)
            ev = await client.wait_evaluation(acc.id, timeout=300)
            self.assertEqual(ev.summary.passed, 3)
            self.assertAlmostEqual(ev.pass_at_k.value(1), (2 / 3 + 1 / 2) / 2)


if __name__ == "__main__":
    unittest.main()
