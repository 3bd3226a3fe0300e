// Package cli is the client side of the airlock command: `airlock run` and
// `airlock runtimes`, which talk to a gateway over its HTTP API.
package cli

// The client commands: `airlock run` sends a program (and, with --tests, a
// directory of test cases) to a gateway and prints its output and verdict;
// `airlock runtimes` lists the languages the gateway serves. They speak the
// native HTTP API (docs/api.md, /openapi.json) like any other client.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/airlockrun/airlock/contracts"
)

// ExitCode is an error that asks main for a specific exit status. The
// commands that return it have already printed what went wrong.
type ExitCode int

func (c ExitCode) Error() string { return "exit status " + strconv.Itoa(int(c)) }

const (
	// exitNotAccepted: the program ran and its verdict is not accepted.
	exitNotAccepted ExitCode = 1
	// exitTrouble: no verdict: bad usage, unreadable files, the server
	// unreachable or answering an error, or no result in time.
	exitTrouble ExitCode = 2
)

const defaultURL = "http://127.0.0.1:8080"

// maxServerWait is the gateway's default cap on ?timeout= (--max-wait-timeout);
// longer waits are made of several long polls.
const maxServerWait = 5 * time.Minute

const runUsage = `Usage: airlock run FILE... [flags]

Runs FILE (the entry file) and any further source files on an Airlock
gateway, prints the program's stdout and stderr, then the verdict with its
CPU time, wall time and memory on stderr.

With --tests DIR, runs in judge mode: the program is compiled once and run
once per test; a table of the tests (#, name, verdict, cpu, wall, memory) is
printed instead of the output. DIR holds one test per NAME:
  DIR/NAME.in    the test's stdin (absent: empty)
  DIR/NAME.out   the expected stdout (or NAME.ans; absent: judged on the run alone)
Tests run in natural order of NAME (1, 2, ..., 10).

The language comes from --lang or from the entry file's extension (matched
against the entry_file of GET /v1/runtimes and a list of common extensions).

Exit status: 0 accepted; 1 any other verdict; 2 usage error, unreadable
file, server unreachable or answering an error, or no result within --timeout.

Flags (they may come before or after the files):
`

const runtimesUsage = `Usage: airlock runtimes [flags]

Lists the languages the gateway's live executors serve: version, aliases,
whether there is a compile stage, the entry file convention and the default
CPU time, wall time and memory limits.

Flags:
`

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// clientOptions are the flags every client command shares.
type clientOptions struct {
	url     string
	apiKey  string
	json    bool
	timeout time.Duration
}

func (o *clientOptions) register(fs *flag.FlagSet) {
	def := os.Getenv("AIRLOCK_URL")
	if def == "" {
		def = defaultURL
	}
	fs.StringVar(&o.url, "url", def, "base URL of the gateway ($AIRLOCK_URL)")
	fs.StringVar(&o.apiKey, "api-key", os.Getenv("AIRLOCK_API_KEY"), "API key, sent as Authorization: Bearer ($AIRLOCK_API_KEY)")
	fs.BoolVar(&o.json, "json", false, "print the server's JSON answer instead of text")
}

func (o *clientOptions) client(version string) (*apiClient, error) {
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want an http:// or https:// URL such as %s", o.url, defaultURL)
	}
	return &apiClient{base: strings.TrimRight(o.url, "/"), key: o.apiKey, userAgent: "airlock-cli/" + version, http: &http.Client{}}, nil
}

// parseInterleaved parses flags that may come before, between and after
// positional arguments (flag.Parse alone stops at the first positional).
// Everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// fail prints an error of a client command and returns exitTrouble.
func fail(stderr io.Writer, format string, a ...any) error {
	fmt.Fprintf(stderr, "airlock: "+format+"\n", a...)
	return exitTrouble
}

// apiClient calls the native HTTP API.
type apiClient struct {
	base      string
	key       string
	userAgent string
	http      *http.Client
}

// apiError is an error answer of the server.
type apiError struct {
	status int
	detail contracts.ErrorDetail
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("the server answered %d %s: %s", e.status, e.detail.Code, e.detail.Message)
	if e.detail.Field != "" {
		msg += " (field " + e.detail.Field + ")"
	}
	return msg
}

// do sends one request and returns the status and body of a 2xx answer; a
// connection failure or an error answer is returned as an error.
func (c *apiClient) do(ctx context.Context, method, path string, body any) (int, http.Header, []byte, error) {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, fmt.Errorf("no answer from %s in time: %w", c.base, ctx.Err())
		}
		return 0, nil, nil, fmt.Errorf("cannot reach the Airlock server at %s: %w (is it running? start one with "+
			"\"airlock dev\", or point --url or $AIRLOCK_URL at it)", c.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading the answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var eb contracts.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			return 0, nil, nil, &apiError{status: resp.StatusCode, detail: eb.Error}
		}
		snippet := strings.TrimSpace(string(data))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "..."
		}
		return 0, nil, nil, fmt.Errorf("the server answered %s to %s %s (is %s an Airlock gateway?): %s",
			resp.Status, method, path, c.base, snippet)
	}
	return resp.StatusCode, resp.Header, data, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *apiClient) runtimes(ctx context.Context) ([]contracts.Runtime, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, _, data, err := c.do(ctx, http.MethodGet, "/v1/runtimes", nil)
	if err != nil {
		return nil, nil, err
	}
	var body struct {
		Runtimes []contracts.Runtime `json:"runtimes"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return nil, nil, fmt.Errorf("unreadable answer of GET /v1/runtimes: %w", err)
	}
	return body.Runtimes, data, nil
}

// execute submits req and waits for its result until timeout, continuing
// with long polls when one wait is not enough. It returns the completed
// execution and the server's JSON of it.
func (c *apiClient) execute(ctx context.Context, req *contracts.ExecutionRequest, timeout time.Duration) (*contracts.Execution, []byte, error) {
	deadline := time.Now().Add(timeout)
	method, path, body := http.MethodPost, "/v1/execute", any(req)
	for {
		wait := max(min(time.Until(deadline), maxServerWait), time.Millisecond)
		q := "?wait=true&timeout=" + strconv.FormatInt(wait.Milliseconds(), 10) + "ms"
		// The server answers when its wait ends; allow for the round trip.
		cctx, cancel := context.WithTimeout(ctx, wait+30*time.Second)
		status, hdr, data, err := c.do(cctx, method, path+q, body)
		cancel()
		if err != nil {
			return nil, nil, err
		}
		var exec contracts.Execution
		if err := json.Unmarshal(data, &exec); err != nil || exec.ID == "" {
			return nil, nil, fmt.Errorf("unreadable answer of %s %s: %s", method, path, data)
		}
		if status == http.StatusOK && exec.Terminal() {
			return &exec, data, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("no result within %s: execution %s is still %s (see %s/v1/executions/%s)",
				timeout, exec.ID, exec.Status, c.base, exec.ID)
		}
		// 202: still queued or running; follow it by id.
		method, path, body = http.MethodGet, "/v1/executions/"+exec.ID, nil
		if loc := hdr.Get("Location"); strings.HasPrefix(loc, "/v1/executions/") {
			path = loc
		}
	}
}

// Env is what a command gets from the process: its standard streams
// (buffers in tests) and airlock's version, sent in the User-Agent.
type Env struct {
	In       io.Reader
	Out, Err io.Writer
	Version  string
}

// Run is `airlock run`; args are those after the command's name.
func Run(ctx context.Context, args []string, env Env) error {
	stdin, stdout, stderr := env.In, env.Out, env.Err
	fs := flag.NewFlagSet("airlock run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), runUsage)
		fs.PrintDefaults()
	}
	var (
		o                     clientOptions
		lang, langVersion     string
		stdinFile, testsDir   string
		expectedFile, compare string
		words, single         stringList
		stop                  bool
		cpuMS, wallMS, memMB  int64
	)
	o.register(fs)
	fs.StringVar(&lang, "lang", "", "language name or alias (default: from the entry file's extension)")
	fs.StringVar(&langVersion, "lang-version", "", "language version or prefix (default: the newest served)")
	fs.StringVar(&stdinFile, "stdin", "", "file given to the program's stdin; - reads this command's stdin")
	fs.Var(&words, "args", "program arguments, split into words like a shell does (repeatable)")
	fs.Var(&single, "arg", "one program argument, verbatim (repeatable; after those of --args)")
	fs.StringVar(&expectedFile, "expected", "", "file with the expected stdout of a single run (wrong_answer on a mismatch)")
	fs.StringVar(&testsDir, "tests", "", "directory of tests NAME.in / NAME.out: judge mode")
	fs.StringVar(&compare, "compare", "", "output comparison: exact, trim (default), tokens or float")
	fs.BoolVar(&stop, "stop-on-first-failure", false, "judge mode: skip the tests after the first failure")
	fs.Int64Var(&cpuMS, "cpu-time-ms", 0, "CPU time limit in ms (default: the language's)")
	fs.Int64Var(&wallMS, "wall-time-ms", 0, "wall time limit in ms (default: the language's)")
	fs.Int64Var(&memMB, "memory-mb", 0, "memory limit in MiB (default: the language's)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for the result")
	files, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return exitTrouble // the flag package has printed the problem
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "airlock run: no file given")
		fs.Usage()
		return exitTrouble
	}
	if o.timeout <= 0 {
		return fail(stderr, "--timeout must be positive, got %s", o.timeout)
	}
	if testsDir != "" && (stdinFile != "" || expectedFile != "") {
		return fail(stderr, "--stdin and --expected are for a single run; with --tests, each test has DIR/NAME.in and DIR/NAME.out")
	}
	c, err := o.client(env.Version)
	if err != nil {
		return fail(stderr, "%v", err)
	}

	req := &contracts.ExecutionRequest{Language: lang, Version: langVersion, Compare: contracts.CompareMode(compare),
		StopOnFirstFailure: stop, Limits: contracts.Limits{CPUTimeMS: cpuMS, WallTimeMS: wallMS, MemoryMB: memMB}}
	if req.Files, err = readSources(files); err != nil {
		return fail(stderr, "%v", err)
	}
	for _, w := range words {
		split, err := splitWords(w)
		if err != nil {
			return fail(stderr, "--args %q: %v", w, err)
		}
		req.Args = append(req.Args, split...)
	}
	req.Args = append(req.Args, single...)
	switch stdinFile {
	case "":
	case "-":
		data, err := io.ReadAll(stdin)
		if err != nil {
			return fail(stderr, "reading stdin: %v", err)
		}
		req.Stdin = string(data)
	default:
		data, err := os.ReadFile(stdinFile)
		if err != nil {
			return fail(stderr, "--stdin: %v", err)
		}
		req.Stdin = string(data)
	}
	if expectedFile != "" {
		data, err := os.ReadFile(expectedFile)
		if err != nil {
			return fail(stderr, "--expected: %v", err)
		}
		s := string(data)
		req.ExpectedOutput = &s
	}
	if testsDir != "" {
		if req.Tests, err = readTests(testsDir); err != nil {
			return fail(stderr, "--tests: %v", err)
		}
	}
	if req.Language == "" {
		rts, _, err := c.runtimes(ctx)
		if err != nil {
			return fail(stderr, "%v", err)
		}
		if req.Language, err = detectLanguage(files[0], rts); err != nil {
			return fail(stderr, "%v", err)
		}
	}

	exec, raw, err := c.execute(ctx, req, o.timeout)
	if err != nil {
		return fail(stderr, "%v", err)
	}
	if o.json {
		_, _ = stdout.Write(raw)
	} else {
		printExecution(stdout, stderr, req, exec)
	}
	if exec.Verdict != contracts.VerdictAccepted {
		return exitNotAccepted
	}
	return nil
}

// readSources reads the files of a request. Names are relative to the entry
// file's directory (base names for files outside it); text that is not
// UTF-8 is sent as base64.
func readSources(paths []string) ([]contracts.File, error) {
	root := filepath.Dir(paths[0])
	var files []contracts.File
	seen := map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		name := filepath.Base(p)
		if rel, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(rel, "..") && !filepath.IsAbs(rel) {
			name = filepath.ToSlash(rel)
		}
		if other, ok := seen[name]; ok {
			return nil, fmt.Errorf("%s and %s would both be sent as %q", other, p, name)
		}
		seen[name] = p
		f := contracts.File{Name: name, Content: string(data)}
		if !utf8.Valid(data) {
			f.Content, f.Encoding = base64.StdEncoding.EncodeToString(data), "base64"
		}
		files = append(files, f)
	}
	return files, nil
}

// readTests reads DIR/NAME.in and DIR/NAME.out (or NAME.ans) into tests, in
// natural order of NAME.
func readTests(dir string) ([]contracts.TestCase, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type pair struct{ in, out string }
	byName := map[string]*pair{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		ext := filepath.Ext(e.Name())
		stem := strings.TrimSuffix(e.Name(), ext)
		if stem == "" || (ext != ".in" && ext != ".out" && ext != ".ans") {
			continue
		}
		p := byName[stem]
		if p == nil {
			p = &pair{}
			byName[stem] = p
		}
		path := filepath.Join(dir, e.Name())
		switch {
		case ext == ".in":
			p.in = path
		case p.out != "":
			return nil, fmt.Errorf("test %q has both %s and %s", stem, p.out, path)
		default:
			p.out = path
		}
	}
	if len(byName) == 0 {
		return nil, fmt.Errorf("no tests in %s: want files NAME.in (stdin) and NAME.out (expected stdout)", dir)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.SortFunc(names, naturalCompare)
	var tests []contracts.TestCase
	for _, n := range names {
		tc := contracts.TestCase{Name: n}
		if p := byName[n]; p.in != "" {
			data, err := os.ReadFile(p.in)
			if err != nil {
				return nil, err
			}
			tc.Stdin = string(data)
		}
		if p := byName[n]; p.out != "" {
			data, err := os.ReadFile(p.out)
			if err != nil {
				return nil, err
			}
			s := string(data)
			tc.ExpectedOutput = &s
		}
		tests = append(tests, tc)
	}
	return tests, nil
}

// naturalCompare orders names with their digit runs compared as numbers:
// 2 before 10, test9 before test10 (and 01 before 1).
func naturalCompare(a, b string) int {
	if c := naturalCompareRuns(a, b); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func naturalCompareRuns(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// splitWords splits s into words like a POSIX shell: whitespace separates,
// '...' and "..." quote, a backslash escapes the next character (inside
// double quotes only before " and \).
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("a trailing backslash escapes nothing")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated ' quote")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated \" quote")
			}
			inWord = true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// commonExtensions name the usual language of a file extension, for the
// extensions several runtimes share (.c, .py, .sh, .pl, .m) or that a
// catalog may not list.
var commonExtensions = map[string]string{
	".py": "python", ".c": "c", ".cpp": "c++", ".cc": "c++", ".cxx": "c++", ".c++": "c++",
	".java": "java", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
	".ts": "typescript", ".go": "go", ".sh": "bash", ".bash": "bash", ".rs": "rust", ".rb": "ruby",
	".php": "php", ".pl": "perl", ".lua": "lua", ".kt": "kotlin", ".scala": "scala", ".cs": "csharp",
	".hs": "haskell", ".ml": "ocaml", ".ex": "elixir", ".exs": "elixir", ".erl": "erlang",
	".clj": "clojure", ".lisp": "common-lisp", ".scm": "scheme", ".rkt": "racket", ".r": "r",
	".jl": "julia", ".swift": "swift", ".d": "d", ".pas": "pascal", ".f90": "fortran", ".nim": "nim",
	".zig": "zig", ".dart": "dart", ".m": "objective-c", ".sql": "sqlite", ".groovy": "groovy",
}

// detectLanguage picks the language of an entry file from its extension:
// the usual language for it when the gateway serves that one, otherwise the
// one runtime whose entry_file has the extension.
func detectLanguage(entry string, rts []contracts.Runtime) (string, error) {
	ext := strings.ToLower(filepath.Ext(entry))
	if ext == "" {
		return "", fmt.Errorf("cannot tell the language of %s (no extension): use --lang", entry)
	}
	if len(rts) == 0 {
		return "", errors.New("the gateway serves no language right now (GET /v1/runtimes is empty): is an executor running?")
	}
	if want, ok := commonExtensions[ext]; ok {
		for _, rt := range rts {
			if rt.Language == want || slices.Contains(rt.Aliases, want) {
				return rt.Language, nil
			}
		}
	}
	var candidates []string
	for _, rt := range rts {
		if strings.EqualFold(filepath.Ext(rt.EntryFile), ext) && !slices.Contains(candidates, rt.Language) {
			candidates = append(candidates, rt.Language)
		}
	}
	switch len(candidates) {
	case 1:
		return candidates[0], nil
	case 0:
		var served []string
		for _, rt := range rts {
			if !slices.Contains(served, rt.Language) {
				served = append(served, rt.Language)
			}
		}
		return "", fmt.Errorf("no served language uses %q files: use --lang (served: %s)", ext, strings.Join(served, ", "))
	}
	return "", fmt.Errorf("several languages use %q files (%s): choose one with --lang", ext, strings.Join(candidates, ", "))
}

// printExecution prints a completed execution: the program's output (or the
// table of tests) on stdout, compiler messages and the verdict on stderr.
func printExecution(stdout, stderr io.Writer, req *contracts.ExecutionRequest, e *contracts.Execution) {
	if e.Compile != nil && e.Compile.Verdict != contracts.VerdictAccepted {
		fmt.Fprint(stderr, e.Compile.Stdout, e.Compile.Stderr)
		if !strings.HasSuffix(e.Compile.Stdout+e.Compile.Stderr, "\n") && e.Compile.Stdout+e.Compile.Stderr != "" {
			fmt.Fprintln(stderr)
		}
	}
	lang := strings.TrimSpace(e.Language + " " + e.Version)
	if len(req.Tests) == 0 {
		if e.Run != nil {
			fmt.Fprint(stdout, e.Run.Stdout)
			fmt.Fprint(stderr, e.Run.Stderr)
		}
		details := []string{}
		if s := e.Run; s != nil {
			details = append(details, fmt.Sprintf("cpu %d ms, wall %d ms, memory %s", s.CPUTimeMS, s.WallTimeMS, formatKB(s.MemoryKB)))
			if s.Signal != "" {
				details = append(details, "signal "+s.Signal)
			} else if s.ExitCode != 0 {
				details = append(details, fmt.Sprintf("exit code %d", s.ExitCode))
			}
			if s.Truncated {
				details = append(details, "output truncated")
			}
		} else if s := e.Compile; s != nil {
			details = append(details, fmt.Sprintf("compile: %s, exit code %d, cpu %d ms, wall %d ms", s.Verdict, s.ExitCode, s.CPUTimeMS, s.WallTimeMS))
		}
		details = append(details, lang)
		fmt.Fprintf(stderr, "verdict: %s (%s)\n", e.Verdict, strings.Join(details, "; "))
		if e.Message != "" {
			fmt.Fprintf(stderr, "message: %s\n", e.Message)
		}
		return
	}

	if len(e.Tests) > 0 {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tNAME\tVERDICT\tCPU\tWALL\tMEMORY")
		for i, t := range e.Tests {
			if t.Skipped {
				fmt.Fprintf(tw, "%d\t%s\t%s\t-\t-\t-\n", i+1, t.Name, t.Verdict)
				continue
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d ms\t%d ms\t%s\n", i+1, t.Name, t.Verdict, t.CPUTimeMS, t.WallTimeMS, formatKB(t.MemoryKB))
		}
		_ = tw.Flush()
	}
	passed := 0
	var maxCPU, maxWall, maxMem int64
	for _, t := range e.Tests {
		if t.Verdict == contracts.VerdictAccepted {
			passed++
		}
		maxCPU, maxWall, maxMem = max(maxCPU, t.CPUTimeMS), max(maxWall, t.WallTimeMS), max(maxMem, t.MemoryKB)
	}
	if i := e.FailedTest; i != nil && *i >= 0 && *i < len(e.Tests) && *i < len(req.Tests) {
		printFailure(stderr, *i, req.Tests[*i], e.Tests[*i])
	}
	details := []string{fmt.Sprintf("%d/%d tests passed", passed, len(req.Tests))}
	if len(e.Tests) > 0 {
		details = append(details, fmt.Sprintf("max cpu %d ms, max wall %d ms, max memory %s", maxCPU, maxWall, formatKB(maxMem)))
	}
	details = append(details, lang)
	fmt.Fprintf(stderr, "verdict: %s (%s)\n", e.Verdict, strings.Join(details, "; "))
	if e.Message != "" {
		fmt.Fprintf(stderr, "message: %s\n", e.Message)
	}
}

// printFailure shows why the first failed test failed.
func printFailure(w io.Writer, i int, tc contracts.TestCase, t contracts.TestResult) {
	fmt.Fprintf(w, "test %d (%s): %s", i+1, tc.Name, t.Verdict)
	if t.Signal != "" {
		fmt.Fprintf(w, ", signal %s", t.Signal)
	} else if t.ExitCode != 0 {
		fmt.Fprintf(w, ", exit code %d", t.ExitCode)
	}
	fmt.Fprintln(w)
	if t.Verdict == contracts.VerdictWrongAnswer && tc.ExpectedOutput != nil {
		fmt.Fprintf(w, "  expected:\n%s  got:\n%s", excerpt(*tc.ExpectedOutput), excerpt(t.Stdout))
	}
	if t.Stderr != "" {
		fmt.Fprintf(w, "  stderr:\n%s", excerpt(t.Stderr))
	}
}

// excerpt indents the first lines of s.
func excerpt(s string) string {
	const maxLines, maxLine = 5, 120
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var b strings.Builder
	for i, l := range lines {
		if i == maxLines {
			fmt.Fprintf(&b, "    ... (%d more lines)\n", len(lines)-maxLines)
			break
		}
		if len(l) > maxLine {
			l = l[:maxLine] + "..."
		}
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// formatKB prints KiB as KiB, MiB or GiB.
func formatKB(kb int64) string {
	switch {
	case kb >= 1<<20:
		return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	case kb >= 1<<10:
		return fmt.Sprintf("%.1f MiB", float64(kb)/(1<<10))
	}
	return fmt.Sprintf("%d KiB", kb)
}

// Runtimes is `airlock runtimes`.
func Runtimes(ctx context.Context, args []string, env Env) error {
	stdout, stderr := env.Out, env.Err
	fs := flag.NewFlagSet("airlock runtimes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), runtimesUsage)
		fs.PrintDefaults()
	}
	var o clientOptions
	o.register(fs)
	rest, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return exitTrouble
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "airlock runtimes: unexpected argument %q\n", rest[0])
		fs.Usage()
		return exitTrouble
	}
	c, err := o.client(env.Version)
	if err != nil {
		return fail(stderr, "%v", err)
	}
	rts, raw, err := c.runtimes(ctx)
	if err != nil {
		return fail(stderr, "%v", err)
	}
	if o.json {
		_, _ = stdout.Write(raw)
		return nil
	}
	if len(rts) == 0 {
		fmt.Fprintln(stderr, "no language is served right now: no executor is live")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LANGUAGE\tVERSION\tALIASES\tCOMPILED\tENTRY\tCPU\tWALL\tMEMORY")
	for _, rt := range rts {
		compiled := "no"
		if rt.Compiled {
			compiled = "yes"
		}
		aliases := strings.Join(rt.Aliases, ",")
		if aliases == "" {
			aliases = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d ms\t%d ms\t%d MiB\n", rt.Language, rt.Version, aliases, compiled,
			rt.EntryFile, rt.Defaults.CPUTimeMS, rt.Defaults.WallTimeMS, rt.Defaults.MemoryMB)
	}
	return tw.Flush()
}
