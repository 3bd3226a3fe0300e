package main

import (
	"encoding/json"
	"io"
	"math"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/contracts"
)

// TestEvalFormats runs evaluations in the benchmark formats (humaneval,
// mbpp, stdio, call) through the real stack, from rows written here in
// each data set's layout, with samples built to pass, fail and time out,
// and checks every result and pass@k against a direct computation.
func TestEvalFormats(t *testing.T) {
	s := startDev(t, func(c *config) { c.Executor.Languages = []string{"python"} })

	type sample struct {
		task, completion, want string // want: the result, or its prefix for "failed: "
	}
	run := func(t *testing.T, body map[string]any, samples []sample, ks []int) contracts.Evaluation {
		t.Helper()
		var rows []map[string]any
		for _, sm := range samples {
			rows = append(rows, map[string]any{"task_id": json.RawMessage(sm.task), "completion": sm.completion})
		}
		body["samples"] = rows
		body["k"] = ks
		_, ev := evaluate(t, s, body, nil)
		if len(ev.Candidates) != len(samples) {
			t.Fatalf("%d candidates, want %d", len(ev.Candidates), len(samples))
		}
		// Direct pass@k: per task, n samples and c of them expected to pass.
		n, c := map[string]int{}, map[string]int{}
		var order []string
		perTask := map[string]int{}
		for i, sm := range samples {
			got := ev.Candidates[i]
			if string(got.TaskID) != sm.task || got.Sample == nil || *got.Sample != perTask[sm.task] {
				t.Errorf("candidate %d: task_id %s sample %v, want %s %d", i, got.TaskID, got.Sample, sm.task, perTask[sm.task])
			}
			perTask[sm.task]++
			if (strings.HasSuffix(sm.want, ": ") && !strings.HasPrefix(got.Result, sm.want)) ||
				(!strings.HasSuffix(sm.want, ": ") && got.Result != sm.want) {
				exec := getExecution(t, s, got.ExecutionID)
				t.Errorf("candidate %d (%s): result %q, want %q: %s", i, sm.task, got.Result, sm.want, dump(exec))
			}
			if n[sm.task] == 0 {
				order = append(order, sm.task)
			}
			n[sm.task]++
			if sm.want == contracts.ResultPassed {
				c[sm.task]++
			}
		}
		for j, k := range ks {
			total, used := 0.0, 0
			for _, task := range order {
				if n[task] < k {
					continue
				}
				used++
				// 1 - C(n-c, k) / C(n, k), with exact binomials.
				num := new(big.Int).Binomial(int64(n[task]-c[task]), int64(k))
				den := new(big.Int).Binomial(int64(n[task]), int64(k))
				f, _ := new(big.Rat).SetFrac(num, den).Float64()
				total += 1 - f
			}
			est := ev.PassAtK.Estimates[j]
			if est.K != k || est.Problems != used || est.Value == nil || math.Abs(*est.Value-total/float64(used)) > 1e-12 {
				t.Errorf("pass@%d = %+v (value %v), want %v over %d tasks", k, est, est.Value, total/float64(used), used)
			}
		}
		t.Logf("%s: pass@k %s", body["format"], mustMarshal(t, ev.PassAtK))
		for _, c := range ev.Candidates[:2] {
			t.Logf("%s: candidate %s", body["format"], mustMarshal(t, c))
		}
		// The events stream, replayed (the start of it, as curl -N shows it).
		resp, err := http.Get(s.URL + "/v1/evaluations/" + ev.ID + "/events")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(raw), "event: summary\n") {
			t.Errorf("events: %d %s", resp.StatusCode, raw)
		}
		t.Logf("%s: events:\n%s", body["format"], raw[:min(len(raw), 1200)])
		return ev
	}

	t.Run("humaneval", func(t *testing.T) {
		problems := []map[string]any{
			{"task_id": "Mini/0", "prompt": "def add(a: int, b: int) -> int:\n    \"\"\"Return the sum of a and b.\n    >>> add(2, 3)\n    5\n    \"\"\"\n",
				"entry_point": "add", "canonical_solution": "    return a + b\n",
				"test": "METADATA = {}\n\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n    assert candidate(10, 5) == 15\n"},
			{"task_id": "Mini/1", "prompt": "def is_even(n: int) -> bool:\n    \"\"\"Return whether n is even.\"\"\"\n",
				"entry_point": "is_even", "test": "def check(candidate):\n    assert candidate(4) is True\n    assert candidate(7) is False\n"},
		}
		run(t, map[string]any{"format": "humaneval", "problems": problems}, []sample{
			{`"Mini/0"`, "    return a + b\n", "passed"},
			{`"Mini/0"`, "    return a - b\n", "failed: AssertionError"},
			{`"Mini/0"`, "    while True:\n        pass\n", "timed out"},
			{`"Mini/0"`, "    return sum([a, b])\n", "passed"},
			{`"Mini/1"`, "    return n % 2 == 0\n", "passed"},
			{`"Mini/1"`, "    return n % 2\n", "failed: AssertionError"},
			{`"Mini/1"`, "    return undefined_name\n", "failed: NameError: "},
		}, []int{1, 2, 3})
	})

	t.Run("mbpp", func(t *testing.T) {
		problems := []map[string]any{
			{"task_id": 11, "text": "Write a function to remove the first and last occurrence of a character from a string.",
				"code": "def remove_Occ(s, ch):\n    return s", "test_setup_code": "",
				"test_list":           []string{`assert remove_Occ("hello","l") == "heo"`, `assert remove_Occ("abcda","a") == "bcd"`},
				"challenge_test_list": []string{`assert remove_Occ("xx","x") == ""`}},
			{"task_id": 12, "text": "Write a function to square every number of a list.", "test_setup_code": "import math",
				"test_list": []string{"assert squares([1, 2, 3]) == [1, 4, 9]", "assert squares([]) == []"}},
		}
		remove := "def remove_Occ(s, ch):\n    i = s.find(ch)\n    if i >= 0:\n        s = s[:i] + s[i+1:]\n    j = s.rfind(ch)\n    if j >= 0:\n        s = s[:j] + s[j+1:]\n    return s\n"
		run(t, map[string]any{"format": "mbpp", "problems": problems, "challenge": true}, []sample{
			{`11`, remove, "passed"},
			{`11`, "def remove_Occ(s, ch):\n    return s.replace(ch, '', 1)\n", "failed: AssertionError"},
			{`12`, "def squares(xs):\n    return [int(math.pow(x, 2)) for x in xs]\n", "passed"},
			{`12`, "def squares(xs):\n    return [x * 2 for x in xs]\n", "failed: AssertionError"},
			{`12`, "def squares(xs):\n    import time\n    time.sleep(60)\n", "timed out"},
		}, []int{1, 2})
	})

	t.Run("stdio", func(t *testing.T) {
		problems := []map[string]any{
			{"task_id": "sum-pairs", "tests": []map[string]string{{"input": "2\n1 2\n3 4\n", "output": "3\n7\n"}, {"input": "1\n-5 5\n", "output": "0\n"}}},
		}
		run(t, map[string]any{"format": "stdio", "language": "python", "problems": problems}, []sample{
			{`"sum-pairs"`, "n = int(input())\nfor _ in range(n):\n    a, b = map(int, input().split())\n    print(a + b)\n", "passed"},
			{`"sum-pairs"`, "import sys\nlines = sys.stdin.read().split('\\n')\nfor l in lines[1:]:\n    if l:\n        a, b = map(int, l.split())\n        print(a + b, '   ')\n", "passed"},
			{`"sum-pairs"`, "n = int(input())\nfor _ in range(n):\n    a, b = map(int, input().split())\n    print(a * b)\n", "failed: wrong answer on test 0"},
			{`"sum-pairs"`, "while True:\n    pass\n", "timed out"},
		}, []int{1, 2})
	})

	t.Run("call", func(t *testing.T) {
		problems := []map[string]any{
			{"task_id": "two-sum", "fn_name": "twoSum", "tests": []map[string]any{
				{"input": []any{[]int{2, 7, 11, 15}, 9}, "output": []int{0, 1}},
				{"input": []any{[]int{3, 2, 4}, 6}, "output": []int{1, 2}}}},
			{"task_id": "mean", "fn_name": "mean", "tests": []map[string]any{
				{"input": []any{[]int{1, 2, 3, 4}}, "output": 2.5},
				{"input": []any{[]int{2, 4}}, "output": 3},
				{"input": []any{[]string{}}, "output": nil}}},
		}
		run(t, map[string]any{"format": "call", "problems": problems}, []sample{
			{`"two-sum"`, "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n                return [seen[target - x], i]\n            seen[x] = i\n", "passed"},
			{`"two-sum"`, "class Solution:\n    def twoSum(self, nums, target):\n        print('debugging output goes to stderr')\n        return (0, 1)\n", "failed: wrong answer on test 1"},
			{`"mean"`, "def mean(xs):\n    return sum(xs) / len(xs) if xs else None\n", "passed"},
			{`"mean"`, "def mean(xs):\n    return sum(xs) // len(xs)\n", "failed: wrong answer on test 0"},
			{`"mean"`, "def mean(xs):\n    return statistics.mean(xs)\n", "failed: NameError: "},
		}, []int{1, 2})
	})
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
