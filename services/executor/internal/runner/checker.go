package runner

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/executor/internal/catalog"
	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// The exit codes of a checker, as testlib's quit codes define them.
const (
	checkerOK                = 0
	checkerWrongAnswer       = 1
	checkerPresentationError = 2
	checkerFail              = 3
	checkerPoints            = 7
	checkerUnexpectedEOF     = 8
)

// CheckerMessageMax bounds a test's checker_message (the checker's stderr).
const CheckerMessageMax = 4 << 10

// checkerCacheBytes bounds the compiled checkers an executor keeps.
const checkerCacheBytes = 256 << 20

// checker is a checker ready to run: its language, its entry files and
// either its build (compiled languages) or its sources, as a tar.
type checker struct {
	lang   *catalog.Language
	names  []string
	files  []byte
	limits contracts.LimitSet
	// runtime is the OCI runtime of its stages in the execution's mode.
	runtime string
	mode    string
}

// CheckerCompiles counts the checker compilations this runner ran (a cache
// hit runs none).
func (r *Runner) CheckerCompiles() int64 { return r.checkers.builds.Load() }

// prepareChecker readies the execution's checker in mode, the mode of the
// program's language: from the cache when a checker with the same language
// and sources was compiled before, else by compiling it. A checker that
// does not compile gives no checker and the verdict judge_error with a
// message; one whose language this executor does not serve (the gateway
// checked it against the fleet's) gives internal_error.
func (r *Runner) prepareChecker(ctx context.Context, id, tenant, mode, role string, jp contracts.JudgeProgram, ran func(sandbox.Outcome)) (*checker, contracts.Verdict, string, error) {
	var lang *catalog.Language
	var rt contracts.Runtime
	if r.Languages != nil {
		lang, rt = r.Languages(jp.Language, jp.Version)
	}
	if lang == nil {
		return nil, contracts.VerdictInternalError, fmt.Sprintf("the %s's language %q (version %q) is not served by this executor", role, jp.Language, jp.Version), nil
	}
	c := &checker{lang: lang, mode: mode, runtime: r.Isolation.OCIRuntime(mode, lang.Name),
		limits: contracts.ClampLimits(jp.Limits, contracts.JudgeRuntime(rt))}
	contents := make(map[string][]byte, len(jp.Files))
	key := sha256.New()
	fmt.Fprintf(key, "%s\x00%s\x00%s\x00", lang.Name, rt.Version, lang.Image)
	for _, f := range jp.Files {
		data, err := contracts.DecodeFile(f)
		if err != nil {
			return nil, "", "", fmt.Errorf("decode checker %s: %w", f.Name, err)
		}
		c.names = append(c.names, f.Name)
		contents[f.Name] = data
		fmt.Fprintf(key, "%d:%s%d:", len(f.Name), f.Name, len(data))
		key.Write(data)
	}
	sources, err := sandbox.TarFiles(contents, c.names)
	if err != nil {
		return nil, "", "", err
	}
	if !lang.Compiled() {
		c.files = sources
		return c, "", "", nil
	}
	var failed string
	c.files, err = r.checkers.get(ctx, hex.EncodeToString(key.Sum(nil)), func() ([]byte, error) {
		spec := sandbox.Spec{
			JobID: id, Stage: role + "-compile", Image: lang.Image,
			Isolation: mode, OCIRuntime: c.runtime, Tenant: tenant,
			Argv: lang.Expand(lang.Compile, c.names), Env: lang.FullEnv, Files: sources,
			CPUTime:     ms(c.limits.CompileCPUTimeMS),
			WallTime:    ms(c.limits.CompileWallTimeMS),
			MemoryBytes: c.limits.CompileMemoryMB << 20,
			Processes:   max(c.limits.Processes, 128),
			OutputBytes: c.limits.OutputBytes,
			Collect:     true, CollectMax: r.ArtifactMax,
		}
		st, built, err := r.compile(ctx, spec, ran)
		if err == nil && built == nil {
			failed = capMessage(fmt.Sprintf("the %s did not compile (%s):\n%s", role, st.Verdict, st.Stderr+st.Stdout))
		}
		return built, err
	})
	if err != nil {
		return nil, "", "", err
	}
	if c.files == nil {
		return nil, contracts.VerdictJudgeError, failed, nil
	}
	return c, "", "", nil
}

// CheckerResult is a checker's decision on one test.
type CheckerResult struct {
	Verdict contracts.Verdict
	Points  float64
	Message string
}

// runChecker runs the checker on one test in a fresh sandbox, with /work
// holding its build and input.txt, output.txt and answer.txt.
func (r *Runner) runChecker(ctx context.Context, id, tenant string, c *checker, tc contracts.TestCase, output string, ran func(sandbox.Outcome)) (CheckerResult, error) {
	answer := ""
	if tc.ExpectedOutput != nil {
		answer = *tc.ExpectedOutput
	}
	files, err := withFiles(c.files, contracts.JudgeFileNames, [][]byte{[]byte(tc.Stdin), []byte(output), []byte(answer)})
	if err != nil {
		return CheckerResult{}, err
	}
	spec := sandbox.Spec{
		JobID: id, Stage: "checker", Image: c.lang.Image,
		Isolation: c.mode, OCIRuntime: c.runtime, Tenant: tenant,
		Argv: append(c.lang.Expand(c.lang.Run, c.names), contracts.JudgeFileNames...), Env: c.lang.FullEnv,
		Files:       files,
		CPUTime:     ms(c.limits.CPUTimeMS),
		WallTime:    ms(c.limits.WallTimeMS),
		MemoryBytes: c.limits.MemoryMB << 20,
		Processes:   c.limits.Processes,
		OutputBytes: c.limits.OutputBytes,
	}
	out, err := r.sb.Run(ctx, spec)
	if err != nil {
		return CheckerResult{}, err
	}
	ran(out)
	if out.InitError != "" {
		return CheckerResult{}, fmt.Errorf("%w: checker: %s", ErrSandbox, out.InitError)
	}
	return CheckerVerdict(out, spec.CPUTime, tc.TestPoints()), nil
}

// CheckerVerdict maps a checker's outcome to the test's verdict, points and
// message, following testlib's exit codes: 0 accepted (all the points), 1
// wrong_answer, 2 and 8 presentation_error, 7 partial with the points read
// from the start of its stderr ("points <value> <message>", at most the
// test's points), anything else judge_error. A checker that did not end
// normally (a limit, a signal) is judge_error too. Only the exit status the
// init reported and the checker's own stderr are read: nothing the program
// wrote reaches this function except through the checker.
func CheckerVerdict(o sandbox.Outcome, cpuLimit time.Duration, points float64) CheckerResult {
	stderr := string(o.Stderr)
	res := CheckerResult{Message: capMessage(stderr)}
	if v := Verdict(o, cpuLimit); o.Signal != 0 || (v != contracts.VerdictAccepted && v != contracts.VerdictRuntimeError) {
		why := string(v)
		if v == contracts.VerdictRuntimeError {
			why = "killed by " + signalName(o.Signal)
		}
		res.Verdict, res.Message = contracts.VerdictJudgeError, capMessage(fmt.Sprintf("the checker failed: %s\n%s", why, stderr))
		return res
	}
	switch o.ExitCode {
	case checkerOK:
		res.Verdict, res.Points = contracts.VerdictAccepted, points
	case checkerWrongAnswer:
		res.Verdict = contracts.VerdictWrongAnswer
	case checkerPresentationError, checkerUnexpectedEOF:
		res.Verdict = contracts.VerdictPresentationError
	case checkerFail:
		res.Verdict = contracts.VerdictJudgeError
	case checkerPoints:
		p, err := partialPoints(stderr, points)
		if err != nil {
			res.Verdict, res.Message = contracts.VerdictJudgeError, capMessage(fmt.Sprintf("the checker exited 7 (partial), but %v\n%s", err, stderr))
			return res
		}
		res.Verdict, res.Points = contracts.VerdictPartial, p
	default:
		res.Verdict, res.Message = contracts.VerdictJudgeError, capMessage(fmt.Sprintf("the checker exited %d, which no verdict has\n%s", o.ExitCode, stderr))
	}
	return res
}

// partialPoints reads "points <value>" from the start of a checker's
// stderr: a finite number from 0 to the test's points.
func partialPoints(stderr string, points float64) (float64, error) {
	rest, ok := strings.CutPrefix(stderr, "points ")
	if !ok {
		return 0, errors.New(`its stderr does not start with "points <value>"`)
	}
	field, _, _ := strings.Cut(strings.TrimLeft(rest, " \t"), " ")
	field, _, _ = strings.Cut(field, "\n")
	p, err := strconv.ParseFloat(strings.TrimSpace(field), 64)
	switch {
	case err != nil || math.IsNaN(p) || math.IsInf(p, 0):
		return 0, fmt.Errorf("%q is not a number of points", field)
	case p < 0:
		return 0, fmt.Errorf("%v points is negative", p)
	case p > points:
		return 0, fmt.Errorf("%v points is more than the test's %v", p, points)
	}
	return p, nil
}

// capMessage cuts s to CheckerMessageMax bytes, at a character boundary,
// and replaces invalid UTF-8.
func capMessage(s string) string {
	if len(s) > CheckerMessageMax {
		s = s[:CheckerMessageMax]
		for len(s) > 0 && !utf8.ValidString(s[len(s)-min(len(s), utf8.UTFMax):]) {
			s = s[:len(s)-1]
		}
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// withFiles returns the tar base with the files names (contents in the
// same order) added, replacing any entry of base with one of those names.
func withFiles(base []byte, names []string, contents [][]byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(base))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read build: %w", err)
		}
		if slices.Contains(names, strings.TrimPrefix(h.Name, "./")) {
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", h.Name, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, fmt.Errorf("tar %s: %w", h.Name, err)
		}
	}
	for i, name := range names {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(contents[i]))}); err != nil {
			return nil, fmt.Errorf("tar %s: %w", name, err)
		}
		if _, err := tw.Write(contents[i]); err != nil {
			return nil, fmt.Errorf("tar %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}
