package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/cmd/airlock/internal/cli"
	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway"
)

// cliResult is what one CLI invocation did.
type cliResult struct {
	err            error
	stdout, stderr string
}

// exit is the status main would exit with.
func (r cliResult) exit() int {
	var code cli.ExitCode
	switch {
	case r.err == nil:
		return 0
	case errors.As(r.err, &code):
		return int(code)
	}
	return 1
}

func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runCLIWithStdin(t, "", args...)
}

// runCLIWithStdin runs the command with stdin as its standard input.
func runCLIWithStdin(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, stdio{in: strings.NewReader(stdin), out: &out, err: &errb})
	r := cliResult{err: err, stdout: out.String(), stderr: errb.String()}
	t.Logf("airlock %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.exit(), r.stdout, r.stderr)
	return r
}

func cliWriteFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// closedPort is a loopback address nothing listens on.
func cliClosedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// TestCLI runs `airlock run` and `airlock runtimes` against the real stack.
func TestCLI(t *testing.T) {
	const key = "cli-test-key"
	s := startDev(t, func(c *config) {
		c.Executor.Languages = []string{"python", "c++"}
		c.Gateway.APIKeys = []gateway.APIKey{{Tenant: "cli", Key: key}}
	})
	t.Setenv("AIRLOCK_URL", s.URL)
	t.Setenv("AIRLOCK_API_KEY", key)
	dir := t.TempDir()

	greet := cliWriteFile(t, filepath.Join(dir, "greet", "main.py"),
		"import sys\nfrom util import shout\nprint(shout(sys.stdin.readline().strip()), sys.argv[1:])\nprint('to stderr', file=sys.stderr)\n")
	util := cliWriteFile(t, filepath.Join(dir, "greet", "util.py"), "def shout(s):\n    return s.upper() + '!'\n")
	input := cliWriteFile(t, filepath.Join(dir, "input.txt"), "hello\n")
	// Time limits far above what the programs need on a slow machine (the
	// CLI's flags; it has none for the compile stage, whose defaults are
	// ten times the run's).
	roomy := []string{"--cpu-time-ms", "10000", "--wall-time-ms", "30000"}

	t.Run("python with stdin and args", func(t *testing.T) {
		r := runCLI(t, append([]string{"run", greet, util, "--stdin", input, "--args", `one "two three"`, "--arg", "four five"}, roomy...)...)
		if r.exit() != 0 || r.stdout != "HELLO! ['one', 'two three', 'four five']\n" {
			t.Fatalf("exit %d, stdout %q", r.exit(), r.stdout)
		}
		if !strings.Contains(r.stderr, "to stderr\n") || !regexp.MustCompile(`verdict: accepted \(cpu \d+ ms, wall \d+ ms, memory [\d.]+ [KMG]iB; python `).MatchString(r.stderr) {
			t.Errorf("stderr: %q", r.stderr)
		}
	})

	t.Run("stdin from -", func(t *testing.T) {
		r := runCLIWithStdin(t, "piped\n", append([]string{"run", "--lang", "py", "--stdin", "-", greet, util}, roomy...)...)
		if r.exit() != 0 || !strings.HasPrefix(r.stdout, "PIPED! []") {
			t.Fatalf("exit %d, stdout %q", r.exit(), r.stdout)
		}
	})

	t.Run("json", func(t *testing.T) {
		r := runCLI(t, append([]string{"run", "--json", greet, util, "--stdin", input}, roomy...)...)
		var e contracts.Execution
		if err := json.Unmarshal([]byte(r.stdout), &e); err != nil || r.exit() != 0 || e.Verdict != contracts.VerdictAccepted || e.Run == nil {
			t.Fatalf("exit %d, %v: %q", r.exit(), err, r.stdout)
		}
	})

	t.Run("runtime error", func(t *testing.T) {
		f := cliWriteFile(t, filepath.Join(dir, "fail", "main.py"), "import sys\nprint('partial')\nsys.exit(3)\n")
		r := runCLI(t, append([]string{"run", f}, roomy...)...)
		if r.exit() != 1 || r.stdout != "partial\n" || !strings.Contains(r.stderr, "verdict: runtime_error") || !strings.Contains(r.stderr, "exit code 3") {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.exit(), r.stdout, r.stderr)
		}
	})

	sum := cliWriteFile(t, filepath.Join(dir, "sum", "sum.cpp"),
		"#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }\n")

	t.Run("c++ judge with a wrong expected output", func(t *testing.T) {
		tests := filepath.Join(dir, "tests")
		cliWriteFile(t, filepath.Join(tests, "1.in"), "1 2\n")
		cliWriteFile(t, filepath.Join(tests, "1.out"), "3\n")
		cliWriteFile(t, filepath.Join(tests, "2.in"), "20 22\n")
		cliWriteFile(t, filepath.Join(tests, "2.out"), "41\n") // wrong on purpose
		cliWriteFile(t, filepath.Join(tests, "10.in"), "100 200\n")
		cliWriteFile(t, filepath.Join(tests, "10.ans"), "300\n")
		cliWriteFile(t, filepath.Join(tests, "README"), "not a test\n")
		r := runCLI(t, append([]string{"run", "--tests", tests, sum, "--url", s.URL}, roomy...)...)
		if r.exit() != 1 {
			t.Fatalf("exit %d, want 1", r.exit())
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 4 || !regexp.MustCompile(`^#\s+NAME\s+VERDICT\s+CPU\s+WALL\s+MEMORY$`).MatchString(lines[0]) {
			t.Fatalf("table: %q", r.stdout)
		}
		for i, want := range []string{`^1\s+1\s+accepted\s+\d+ ms\s+\d+ ms\s+[\d.]+ [KMG]iB$`, `^2\s+2\s+wrong_answer\s`, `^3\s+10\s+accepted\s`} {
			if !regexp.MustCompile(want).MatchString(lines[i+1]) {
				t.Errorf("row %d: %q does not match %s", i+1, lines[i+1], want)
			}
		}
		for _, want := range []string{"test 2 (2): wrong_answer", "expected:\n    41\n  got:\n    42\n", "verdict: wrong_answer (2/3 tests passed; max cpu", "c++ "} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q: %q", want, r.stderr)
			}
		}
	})

	t.Run("c++ judge accepted", func(t *testing.T) {
		tests := filepath.Join(dir, "good")
		cliWriteFile(t, filepath.Join(tests, "a.in"), "2 2\n")
		cliWriteFile(t, filepath.Join(tests, "a.out"), "4")
		r := runCLI(t, append([]string{"run", sum, "--tests", tests, "--compare", "tokens"}, roomy...)...)
		if r.exit() != 0 || !strings.Contains(r.stdout, "accepted") || !strings.Contains(r.stderr, "verdict: accepted (1/1 tests passed") {
			t.Fatalf("exit %d", r.exit())
		}
	})

	t.Run("compile error", func(t *testing.T) {
		f := cliWriteFile(t, filepath.Join(dir, "broken", "main.cpp"), "int main() { return missing_name; }\n")
		r := runCLI(t, "run", f)
		if r.exit() != 1 || !strings.Contains(r.stderr, "missing_name") || !strings.Contains(r.stderr, "verdict: compile_error") {
			t.Fatalf("exit %d, stderr %q", r.exit(), r.stderr)
		}
	})

	t.Run("runtimes", func(t *testing.T) {
		r := runCLI(t, "runtimes")
		if r.exit() != 0 || !regexp.MustCompile(`(?m)^LANGUAGE\s+VERSION\s+ALIASES\s+COMPILED\s+ENTRY\s+CPU\s+WALL\s+MEMORY$`).MatchString(r.stdout) {
			t.Fatalf("exit %d, stdout %q", r.exit(), r.stdout)
		}
		for _, want := range []string{`(?m)^c\+\+\s+\S+\s+cpp,\S*\s+yes\s+main\.cpp\s+1000 ms\s+3000 ms\s+256 MiB$`, `(?m)^python\s+\S+\s+py,python3,py3\s+no\s+main\.py\s+2000 ms\s+5000 ms\s+256 MiB$`} {
			if !regexp.MustCompile(want).MatchString(r.stdout) {
				t.Errorf("no line matches %s", want)
			}
		}
		r = runCLI(t, "runtimes", "--json")
		var body struct{ Runtimes []contracts.Runtime }
		if err := json.Unmarshal([]byte(r.stdout), &body); err != nil || r.exit() != 0 || len(body.Runtimes) != 2 {
			t.Fatalf("--json: exit %d, %v: %q", r.exit(), err, r.stdout)
		}
	})

	t.Run("no result in time", func(t *testing.T) {
		f := cliWriteFile(t, filepath.Join(dir, "slow", "main.py"), "import time\ntime.sleep(4)\n")
		r := runCLI(t, "run", f, "--timeout", "1s")
		if r.exit() != 2 || !strings.Contains(r.stderr, "no result within 1s: execution ") {
			t.Fatalf("exit %d, stderr %q", r.exit(), r.stderr)
		}
	})

	t.Run("errors of the server", func(t *testing.T) {
		r := runCLI(t, "run", greet, "--lang", "cobol")
		if r.exit() != 2 || !strings.Contains(r.stderr, `airlock: the server answered 422 unknown_language: language "cobol" is not served`) {
			t.Errorf("unknown language: exit %d, stderr %q", r.exit(), r.stderr)
		}
		r = runCLI(t, "runtimes", "--api-key", "wrong")
		if r.exit() != 2 || !strings.Contains(r.stderr, "airlock: the server answered 403 forbidden: the API key is not valid") {
			t.Errorf("wrong key: exit %d, stderr %q", r.exit(), r.stderr)
		}
		r = runCLI(t, "run", greet, "--memory-mb", "999999")
		if r.exit() != 2 || !strings.Contains(r.stderr, "422 limit_too_high") {
			t.Errorf("limit: exit %d, stderr %q", r.exit(), r.stderr)
		}
	})

	t.Run("unreachable server", func(t *testing.T) {
		url := cliClosedPort(t)
		for _, args := range [][]string{{"run", greet, "--url", url}, {"runtimes", "--url", url}} {
			r := runCLI(t, args...)
			if r.exit() != 2 || !strings.Contains(r.stderr, "airlock: cannot reach the Airlock server at "+url+": ") || !strings.Contains(r.stderr, "connection refused") {
				t.Errorf("%v: exit %d, stderr %q", args, r.exit(), r.stderr)
			}
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		cases := []struct {
			args []string
			want string
		}{
			{[]string{"run"}, "no file given"},
			{[]string{"run", greet, "--bogus"}, "flag provided but not defined: -bogus"},
			{[]string{"run", filepath.Join(dir, "missing.py")}, "missing.py: no such file or directory"},
			{[]string{"run", greet, "--url", "localhost:8080"}, `--url "localhost:8080": want an http:// or https:// URL`},
			{[]string{"run", greet, "--tests", dir, "--stdin", input}, "--stdin and --expected are for a single run"},
			{[]string{"run", greet, "--tests", filepath.Join(dir, "greet")}, "no tests in"},
			{[]string{"run", cliWriteFile(t, filepath.Join(dir, "x.unknownext"), "")}, `no served language uses ".unknownext" files: use --lang (served: c++, python)`},
			{[]string{"runtimes", "extra"}, `unexpected argument "extra"`},
		}
		for _, tc := range cases {
			r := runCLI(t, tc.args...)
			if r.exit() != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, r.exit(), r.stderr, tc.want)
			}
		}
		if r := runCLI(t, "run", "-h"); r.exit() != 0 || !strings.Contains(r.stderr, "DIR/NAME.in") {
			t.Errorf("-h: exit %d", r.exit())
		}
	})

	// The same through the real binary: main turns the results into exit statuses.
	t.Run("binary exit statuses", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds the binary")
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			t.Skip("no go command")
		}
		bin := filepath.Join(t.TempDir(), "airlock")
		build := exec.Command(goBin, "build", "-o", bin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		status := func(args ...string) (int, string) {
			cmd := exec.Command(bin, args...)
			cmd.Stdin = strings.NewReader("from the pipe\n")
			var errb bytes.Buffer
			cmd.Stderr = &errb
			err := cmd.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode(), errb.String()
			}
			if err != nil {
				t.Fatal(err)
			}
			return 0, errb.String()
		}
		if code, stderr := status(append([]string{"run", greet, util, "--stdin", "-"}, roomy...)...); code != 0 {
			t.Errorf("accepted: exit %d: %s", code, stderr)
		}
		if code, stderr := status(append([]string{"run", sum, "--tests", filepath.Join(dir, "tests")}, roomy...)...); code != 1 {
			t.Errorf("wrong answer: exit %d: %s", code, stderr)
		}
		if code, stderr := status("runtimes", "--url", cliClosedPort(t)); code != 2 || strings.Count(stderr, "cannot reach") != 1 {
			t.Errorf("unreachable: exit %d: %q", code, stderr)
		}
	})
}
