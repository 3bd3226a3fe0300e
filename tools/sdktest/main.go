// Command sdktest tests the Python SDK (clients/python) against a real stack:
// it starts `airlock dev` on a free loopback port with two tenants' API keys,
// installs the SDK with Debian's python3 into a fresh venv without a package
// index (`pip install --no-index`), runs its unittest suites, then runs every
// example of clients/python/README.md and checks that each prints the output
// block that follows it. It stops the stack at the end and exits 1 on any
// failure.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/airlockrun/airlock/tools/internal/devstack"
)

// The tenants' keys of the stack under test (nothing secret: a throwaway stack).
const (
	aliceKey = "alice-key-0123456789abcdef"
	bobKey   = "bob-key-0123456789abcdef"
)

func main() {
	bin := flag.String("airlock", "bin/airlock", "the airlock binary")
	python := flag.String("python", "/usr/bin/python3", "the python3 that makes the venv (Debian's)")
	dir := flag.String("dir", "clients/python", "the SDK's directory")
	flag.Parse()
	passed, failed, err := run(*bin, *python, *dir)
	fmt.Printf("sdk: %d passed, %d failed\n", passed, failed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdktest:", err)
		os.Exit(1)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

func run(bin, python, dir string) (passed, failed int, err error) {
	sdk, err := filepath.Abs(dir)
	if err != nil {
		return 0, 0, err
	}
	tmp, err := os.MkdirTemp("", "airlock-sdktest-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(tmp)

	venv := filepath.Join(tmp, "venv")
	py := filepath.Join(venv, "bin", "python")
	env := append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PIP_DISABLE_PIP_VERSION_CHECK=1")
	step := func(name string, args ...string) error {
		fmt.Printf("sdktest: %s\n", strings.Join(append([]string{name}, args...), " "))
		cmd := exec.Command(name, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stderr
		return cmd.Run()
	}
	if err := step(python, "-m", "venv", venv); err != nil {
		return 0, 0, fmt.Errorf("make a venv with %s (Debian: apt-get install python3-venv): %w", python, err)
	}
	if err := step(py, "-m", "pip", "install", "--no-index", "--no-cache-dir", sdk); err != nil {
		return 0, 0, fmt.Errorf("pip install %s without an index: %w", sdk, err)
	}

	keys := "alice:" + aliceKey + ",bob:" + bobKey
	st, err := devstack.Start(bin, "sdk", "--languages", "python,bash", "--api-keys", keys)
	if err != nil {
		return 0, 0, fmt.Errorf("start the stack: %w", err)
	}
	defer st.Stop()
	fmt.Printf("sdktest: stack at %s\n", st.URL)
	env = append(env, "AIRLOCK_URL="+st.URL, "AIRLOCK_API_KEY="+aliceKey, "AIRLOCK_TEST_OTHER_KEY="+bobKey)

	// The unit tests (a local stub server), then the real stack's.
	p, f := unittests(py, filepath.Join(sdk, "tests"), env)
	passed, failed = passed+p, failed+f

	p, f, err = examples(py, filepath.Join(sdk, "README.md"), tmp, env)
	return passed + p, failed + f, err
}

var ranRE = regexp.MustCompile(`(?m)^Ran (\d+) tests?`)
var failedRE = regexp.MustCompile(`(?m)^FAILED \((.*)\)`)

// unittests runs the SDK's test modules and counts them from unittest's last lines.
func unittests(py, testsDir string, env []string) (passed, failed int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-m", "unittest", "-v", "test_unit", "test_stack", "test_stack_formats")
	cmd.Dir, cmd.Env = testsDir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	os.Stdout.Write(out.Bytes())
	ran := 0
	if m := ranRE.FindSubmatch(out.Bytes()); m != nil {
		ran, _ = strconv.Atoi(string(m[1]))
	}
	bad := 0
	if m := failedRE.FindSubmatch(out.Bytes()); m != nil {
		for _, part := range strings.Split(string(m[1]), ",") {
			if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k != "skipped" {
				n, _ := strconv.Atoi(v)
				bad += n
			}
		}
	}
	if runErr != nil && bad == 0 {
		bad = 1 // it died before counting (an import error, a timeout)
		fmt.Printf("sdktest: unittest: %v\n", runErr)
	}
	return ran - min(bad, ran), bad
}

// example is a python block of the README and the output block after it.
type example struct {
	line       int
	code, want string
}

var fenceRE = regexp.MustCompile("(?ms)^```([a-z]*)\n(.*?)^```$")

// parseExamples finds every ```python block; each must be followed by a
// ```text block, the exact output it prints.
func parseExamples(readme []byte) ([]example, error) {
	var out []example
	blocks := fenceRE.FindAllSubmatchIndex(readme, -1)
	for i, b := range blocks {
		if string(readme[b[2]:b[3]]) != "python" {
			continue
		}
		line := bytes.Count(readme[:b[0]], []byte("\n")) + 1
		if i+1 >= len(blocks) || string(readme[blocks[i+1][2]:blocks[i+1][3]]) != "text" {
			return nil, fmt.Errorf("README.md line %d: a python example must be followed by a ```text block with its output", line)
		}
		n := blocks[i+1]
		out = append(out, example{line: line, code: string(readme[b[4]:b[5]]), want: string(readme[n[4]:n[5]])})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no python example in the README")
	}
	return out, nil
}

// examples runs each README example with the venv's python and compares its stdout.
func examples(py, readmePath, tmp string, env []string) (passed, failed int, err error) {
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return 0, 0, err
	}
	exs, err := parseExamples(readme)
	if err != nil {
		return 0, 0, err
	}
	for i, ex := range exs {
		file := filepath.Join(tmp, fmt.Sprintf("example%d.py", i+1))
		if err := os.WriteFile(file, []byte(ex.code), 0o644); err != nil {
			return passed, failed, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, py, file)
		cmd.Dir, cmd.Env = tmp, env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		runErr := cmd.Run()
		cancel()
		if runErr == nil && stdout.String() == ex.want {
			fmt.Printf("sdktest: README example at line %d: ok\n", ex.line)
			passed++
			continue
		}
		failed++
		fmt.Printf("sdktest: README example at line %d: FAIL (%v)\n--- printed:\n%s--- wanted:\n%s--- stderr:\n%s",
			ex.line, runErr, stdout.String(), ex.want, stderr.String())
	}
	return passed, failed, nil
}
