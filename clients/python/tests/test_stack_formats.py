"""Tests of the benchmark formats and the event stream against a real stack
(issue 21 parts 1 and 2): run by `go tool task sdk` like test_stack.py, with the
same environment. A gateway without them fails these tests with a message that
says so (404 from the events endpoint, 400 invalid_json for the fields of a format)."""

from __future__ import annotations

import asyncio
import unittest

import airlock
from test_stack import KEY, LIMITS, PROBLEMS, URL, StackCase, pass_at_k, setUpModule  # noqa: F401

CANDIDATES = [
    {"id": "add/%d" % i, "problem": "add", "files": [{"name": "solution.py", "content": code}]}
    for i, code in enumerate(["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a - b\n",
                              "def add(a, b):\n    return b + a\n", "def add(a, b):\n    return 5\n"])
]


class Missing(AssertionError):
    pass


def needs_feature(what):
    """Turn the answers of a gateway without the feature into a clear failure."""

    def wrap(fn):
        def run(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except airlock.NotFoundError as e:
                raise Missing("%s: the gateway answered 404 (%s); is issue 21's %s merged?" % (fn.__name__, e, what)) from e
            except airlock.BadRequestError as e:
                if e.code == "invalid_json" and "unknown field" in e.message:
                    raise Missing("%s: the gateway does not take a benchmark format's fields (%s); is issue 21's %s merged?"
                                  % (fn.__name__, e, what)) from e
                raise

        run.__name__ = fn.__name__
        return run

    return wrap


def check_pass_at_k(case, ev, counts, ks):
    """ev's pass@k equals the estimator computed here from counts {task: (n, c)}."""
    got = {str(p.problem): (p.n, p.c) for p in ev.pass_at_k.problems}
    case.assertEqual(got, {str(t): nc for t, nc in counts.items()})
    for k in ks:
        usable = [pass_at_k(n, c, k) for n, c in counts.values() if n >= k]
        case.assertAlmostEqual(ev.pass_at_k.value(k), sum(usable) / len(usable))


class TestFormats(StackCase):
    @needs_feature("benchmark formats")
    def test_humaneval(self):
        problems = [
            {"task_id": "Mini/0", "prompt": "def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n", "entry_point": "add",
             "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
             "canonical_solution": "    return a + b\n"},
            {"task_id": "Mini/1", "prompt": "def one():\n", "entry_point": "one",
             "test": "def check(candidate):\n    assert candidate() == 1\n"},
        ]
        samples = [
            {"task_id": "Mini/0", "completion": "    return a + b\n"},
            {"task_id": "Mini/0", "completion": "    return a - b\n"},
            {"task_id": "Mini/1", "completion": "    return 1\n"},
            {"task_id": "Mini/1", "completion": "    while True:\n        pass\n"},
            {"task_id": "Mini/1", "completion": "    return 2\n"},
        ]
        acc = self.client.evaluate_humaneval(problems, samples, k=[1, 2], limits={"cpu_time_ms": 1000, "wall_time_ms": 3000})
        ev = self.client.wait_evaluation(acc.id, timeout=300)
        got = [(c.task_id, c.sample, c.passed, c.result) for c in ev.candidates]
        self.assertEqual([g[:3] for g in got], [("Mini/0", 0, True), ("Mini/0", 1, False), ("Mini/1", 0, True),
                                                ("Mini/1", 1, False), ("Mini/1", 2, False)])
        self.assertEqual(got[0][3], "passed")
        self.assertTrue(got[1][3].startswith("failed: "), got[1][3])
        self.assertEqual(got[3][3], "timed out")
        check_pass_at_k(self, ev, {"Mini/0": (2, 1), "Mini/1": (3, 1)}, [1, 2])

    @needs_feature("benchmark formats")
    def test_mbpp(self):
        problems = [{"task_id": 11, "text": "Write a function that adds two numbers.", "test_setup_code": "",
                     "test_list": ["assert add(1, 2) == 3", "assert add(2, 2) == 4"],
                     "challenge_test_list": ["assert add(-1, -1) == -2"]}]
        samples = [{"task_id": 11, "completion": "def add(a, b):\n    return a + b\n"},
                   {"task_id": 11, "completion": "def add(a, b):\n    return abs(a) + abs(b)\n"}]
        plain = self.client.wait_evaluation(self.client.evaluate_mbpp(problems, samples).id, timeout=300)
        self.assertEqual([c.passed for c in plain.candidates], [True, True])
        self.assertEqual([c.task_id for c in plain.candidates], [11, 11])
        hard = self.client.wait_evaluation(self.client.evaluate_mbpp(problems, samples, challenge=True).id, timeout=300)
        self.assertEqual([c.passed for c in hard.candidates], [True, False])
        check_pass_at_k(self, hard, {"11": (2, 1)}, [1])

    @needs_feature("benchmark formats")
    def test_stdio(self):
        problems = [{"task_id": "io/1", "tests": [{"input": "2 3\n", "output": "5\n"}, {"input": "10 -4\n", "output": "6"}]}]
        samples = [{"task_id": "io/1", "completion": "a, b = map(int, input().split())\nprint(a + b, end='   \\n')\n"},
                   {"task_id": "io/1", "completion": "print(5)\n"}]
        ev = self.client.wait_evaluation(self.client.evaluate_stdio(problems, samples, language="python").id, timeout=300)
        self.assertEqual([c.passed for c in ev.candidates], [True, False])
        self.assertTrue(ev.candidates[1].result.startswith("failed: "), ev.candidates[1].result)
        check_pass_at_k(self, ev, {"io/1": (2, 1)}, [1])

    @needs_feature("benchmark formats")
    def test_call(self):
        problems = [{"task_id": "two-sum", "fn_name": "twoSum",
                     "tests": [{"input": [[2, 7, 11, 15], 9], "output": [0, 1]}, {"input": [[3, 2, 4], 6], "output": [1, 2]}]}]
        samples = [
            {"task_id": "two-sum", "completion": "class Solution:\n    def twoSum(self, nums, target):\n"
                                                "        seen = {}\n        for i, x in enumerate(nums):\n"
                                                "            if target - x in seen:\n                return [seen[target - x], i]\n"
                                                "            seen[x] = i\n"},
            {"task_id": "two-sum", "completion": "def twoSum(nums, target):\n    return [0, 1]\n"},
        ]
        ev = self.client.wait_evaluation(self.client.evaluate_call(problems, samples).id, timeout=300)
        self.assertEqual([c.passed for c in ev.candidates], [True, False])
        check_pass_at_k(self, ev, {"two-sum": (2, 1)}, [1])


class TestEvents(StackCase):
    def start(self):
        return self.client.create_evaluation(language="python", problems=PROBLEMS[:1], candidates=CANDIDATES, k=[1])

    def check_complete(self, events, total):
        cands = [e for e in events if isinstance(e, airlock.CandidateEvent)]
        self.assertEqual(sorted(e.candidate.index for e in cands), list(range(total)))
        self.assertIsInstance(events[-1], airlock.SummaryEvent)
        self.assertEqual(sum(1 for e in events if isinstance(e, airlock.SummaryEvent)), 1)
        # A candidate event's id is its own; progress and summary events repeat the
        # id of the candidate event before them (resuming after them loses nothing).
        ids = [int(e.id) for e in cands]
        self.assertEqual(ids, sorted(set(ids)), ids)
        return {e.candidate.index: e.candidate.passed for e in cands}

    @needs_feature("events endpoint")
    def test_sse(self):
        acc = self.start()
        events = list(self.client.stream_evaluation(acc.id))
        passed = self.check_complete(events, 4)
        # add/3 returns 5: right for add(2, 3), wrong for add(-1, 1).
        self.assertEqual(passed, {0: True, 1: False, 2: True, 3: False})
        self.assertEqual(events[-1].summary.passed, 2)
        self.assertAlmostEqual(events[-1].pass_at_k.value(1), 0.5)

    @needs_feature("events endpoint")
    def test_ndjson(self):
        acc = self.start()
        self.check_complete(list(self.client.stream_evaluation(acc.id, ndjson=True)), 4)

    @needs_feature("events endpoint")
    def test_resume_after_disconnect(self):
        acc = self.start()
        first = []
        stream = self.client.stream_evaluation(acc.id)
        for ev in stream:
            first.append(ev)
            if sum(isinstance(e, airlock.CandidateEvent) for e in first) == 2:
                break
        stream.close()  # the connection is gone; resume from the last id seen
        rest = list(self.client.stream_evaluation(acc.id, last_event_id=first[-1].id))
        self.check_complete(first + rest, 4)

    @needs_feature("events endpoint")
    def test_async(self):
        async def run():
            async with airlock.AsyncClient(URL, KEY) as client:
                acc = await client.create_evaluation(language="python", problems=PROBLEMS[:1], candidates=CANDIDATES)
                return [e async for e in client.stream_evaluation(acc.id)]

        self.check_complete(asyncio.run(run()), 4)


if __name__ == "__main__":
    unittest.main()
