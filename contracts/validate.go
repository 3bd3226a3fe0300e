package contracts

import (
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/go-playground/validator/v10"
)

// Policy holds the configurable bounds on a request.
type Policy struct {
	MaxFiles       int   // files per request
	MaxFileBytes   int64 // one file, decoded
	MaxSourceBytes int64 // all files, decoded
	MaxStdinBytes  int64
	// MaxTests bounds the tests of one judge-mode request and of a
	// problem package.
	MaxTests int
	// MaxProblemBytes bounds the test data (every input and answer) of one
	// problem package; each test is bounded as on a request
	// (MaxStdinBytes).
	MaxProblemBytes int64
}

// DefaultPolicy is the policy the gateway and executor use unless configured.
func DefaultPolicy() Policy {
	return Policy{
		MaxFiles:       64,
		MaxFileBytes:   4 << 20,
		MaxSourceBytes: 8 << 20,
		MaxStdinBytes:  8 << 20,
		MaxTests:       1000,
		// A package is sent once and kept: twice a request's 32 MiB.
		MaxProblemBytes: 64 << 20,
	}
}

// Validator checks requests. It is safe for concurrent use.
type Validator struct {
	v      *validator.Validate
	policy Policy
}

var (
	componentRE = regexp.MustCompile(`^[A-Za-z0-9_+@][A-Za-z0-9._+@-]{0,99}$|^\.[A-Za-z0-9_+@-][A-Za-z0-9._+@-]{0,98}$`)
	tokenRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9+#._-]*$`)
)

// MaxPathDepth is the deepest directory nesting a file name may have.
const MaxPathDepth = 8

// ValidFileName reports whether name is a plain relative path that is safe to
// create inside a work directory: components of letters, digits and ._+@-,
// none "." or "..", none starting with "-", at most MaxPathDepth deep.
func ValidFileName(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	parts := strings.Split(name, "/")
	if len(parts) > MaxPathDepth {
		return false
	}
	for _, p := range parts {
		if p == "." || p == ".." || !componentRE.MatchString(p) {
			return false
		}
	}
	return true
}

// NewValidator builds a validator for the given policy.
func NewValidator(p Policy) *Validator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	must := func(err error) {
		if err != nil {
			panic(err) // programming error in a tag name; caught by tests
		}
	}
	must(v.RegisterValidation("filename", func(fl validator.FieldLevel) bool { return ValidFileName(fl.Field().String()) }))
	must(v.RegisterValidation("token", func(fl validator.FieldLevel) bool { return tokenRE.MatchString(fl.Field().String()) }))
	must(v.RegisterValidation("problemid", func(fl validator.FieldLevel) bool { return ValidProblemID(fl.Field().String()) }))
	must(v.RegisterValidation("problemversion", func(fl validator.FieldLevel) bool { return ValidProblemVersion(fl.Field().String()) }))
	must(v.RegisterValidation("nonul", func(fl validator.FieldLevel) bool { return !strings.ContainsRune(fl.Field().String(), 0) }))
	return &Validator{v: v, policy: p}
}

// Policy returns the bounds this validator enforces.
func (v *Validator) Policy() Policy { return v.policy }

// Request checks everything that does not depend on the live runtimes. It
// normalises the language name to lower case.
func (v *Validator) Request(req *ExecutionRequest) *ValidationError {
	req.Language = strings.ToLower(strings.TrimSpace(req.Language))
	if verr := v.structure(req, req.Checker, req.Interactor); verr != nil {
		return verr
	}
	if verr := problemRequest(req); verr != nil {
		return verr
	}
	if int64(len(req.Stdin)) > v.policy.MaxStdinBytes {
		return &ValidationError{Code: CodeInvalidRequest, Field: "stdin",
			Message: fmt.Sprintf("stdin is %d bytes; the maximum is %d", len(req.Stdin), v.policy.MaxStdinBytes)}
	}
	if verr := v.tests(req); verr != nil {
		return verr
	}
	if verr := v.files(req.Files, "files"); verr != nil {
		return verr
	}
	if verr := v.judgePrograms(req.Checker, req.Interactor, len(req.Tests) > 0); verr != nil {
		return verr
	}
	seen := make(map[string]bool, len(req.OutputFiles))
	for i, name := range req.OutputFiles {
		if seen[name] {
			return &ValidationError{Code: CodeInvalidRequest, Field: fmt.Sprintf("output_files[%d]", i), Message: fmt.Sprintf("duplicate file name %q", name)}
		}
		seen[name] = true
	}
	return nil
}

// judgePrograms checks a checker and an interactor (of a request, or of a
// problem package): both need tests, and neither may name a test's file.
func (v *Validator) judgePrograms(checker, interactor *JudgeProgram, tests bool) *ValidationError {
	for _, j := range []struct {
		field, article string
		p              *JudgeProgram
	}{{"checker", "a", checker}, {"interactor", "an", interactor}} {
		if j.p == nil {
			continue
		}
		if !tests {
			return &ValidationError{Code: CodeInvalidRequest, Field: j.field, Message: fmt.Sprintf("%s %s judges tests: give tests", j.article, j.field)}
		}
		if verr := v.files(j.p.Files, j.field+".files"); verr != nil {
			return verr
		}
		for i, f := range j.p.Files {
			if slices.Contains(JudgeFileNames, f.Name) {
				return &ValidationError{Code: CodeInvalidRequest, Field: fmt.Sprintf("%s.files[%d].name", j.field, i),
					Message: fmt.Sprintf("%q is one of the test's files (%s)", f.Name, strings.Join(JudgeFileNames, ", "))}
			}
		}
	}
	return nil
}

// problemRequest refuses a request that names a problem and also sets what
// the problem's package gives.
func problemRequest(req *ExecutionRequest) *ValidationError {
	if req.Problem == "" {
		if req.ProblemVersion != "" {
			return &ValidationError{Code: CodeInvalidRequest, Field: "problem_version", Message: "problem_version needs problem"}
		}
		return nil
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"tests", len(req.Tests) > 0}, {"checker", req.Checker != nil}, {"interactor", req.Interactor != nil},
		{"compare", req.Compare != ""}, {"abs_tolerance", req.AbsTolerance != 0}, {"rel_tolerance", req.RelTolerance != 0},
		{"expected_output", req.ExpectedOutput != nil},
	} {
		if f.set {
			return &ValidationError{Code: CodeInvalidRequest, Field: f.name,
				Message: fmt.Sprintf("a request that names a problem takes %s from the problem's package: remove it", f.name)}
		}
	}
	return nil
}

// Problem checks a problem package (PUT /v1/problems/{id}) against the
// rules that do not depend on the live runtimes: its tests (1 to MaxTests,
// each within MaxStdinBytes, all within MaxProblemBytes), its checker and
// interactor as on a request. It normalises their language names to lower
// case.
func (v *Validator) Problem(pkg *ProblemPackage) *ValidationError {
	if verr := v.structure(pkg, pkg.Checker, pkg.Interactor); verr != nil {
		return verr
	}
	maxBytes := v.policy.MaxProblemBytes
	if maxBytes <= 0 {
		maxBytes = DefaultPolicy().MaxProblemBytes
	}
	if verr := v.testList(pkg.Tests, maxBytes); verr != nil {
		return verr
	}
	return v.judgePrograms(pkg.Checker, pkg.Interactor, true)
}

// structure normalises the language names of a checker and an interactor
// to lower case, then checks obj's validation tags.
func (v *Validator) structure(obj any, checker, interactor *JudgeProgram) *ValidationError {
	for _, jp := range []*JudgeProgram{checker, interactor} {
		if jp != nil {
			jp.Language = strings.ToLower(strings.TrimSpace(jp.Language))
		}
	}
	if err := v.v.Struct(obj); err != nil {
		var ve validator.ValidationErrors
		if errors.As(err, &ve) && len(ve) > 0 {
			return fieldError(ve[0])
		}
		return &ValidationError{Code: CodeInvalidRequest, Message: err.Error()}
	}
	return nil
}

// JudgeFileNames are the files a checker finds in /work beside its own: the
// test's input, the program's output and the test's expected output.
var JudgeFileNames = []string{"input.txt", "output.txt", "answer.txt"}

// files checks one list of files (the request's or a checker's) against the
// policy's bounds; field names the list in errors.
func (v *Validator) files(files []File, list string) *ValidationError {
	if len(files) > v.policy.MaxFiles {
		return &ValidationError{Code: CodeInvalidRequest, Field: list,
			Message: fmt.Sprintf("at most %d files are allowed, got %d", v.policy.MaxFiles, len(files))}
	}
	var total int64
	seen := make(map[string]bool, len(files))
	for i, f := range files {
		field := fmt.Sprintf("%s[%d]", list, i)
		data, err := DecodeFile(f)
		if err != nil {
			return &ValidationError{Code: CodeInvalidRequest, Field: field + ".content", Message: err.Error()}
		}
		if int64(len(data)) > v.policy.MaxFileBytes {
			return &ValidationError{Code: CodeInvalidRequest, Field: field + ".content",
				Message: fmt.Sprintf("file is %d bytes; the maximum is %d", len(data), v.policy.MaxFileBytes)}
		}
		total += int64(len(data))
		if seen[f.Name] {
			return &ValidationError{Code: CodeInvalidRequest, Field: field + ".name", Message: fmt.Sprintf("duplicate file name %q", f.Name)}
		}
		seen[f.Name] = true
	}
	// A name that is also a directory of another file ("a" and "a/b") cannot both exist.
	for name := range seen {
		for dir := name; ; {
			i := strings.LastIndexByte(dir, '/')
			if i < 0 {
				break
			}
			dir = dir[:i]
			if seen[dir] {
				return &ValidationError{Code: CodeInvalidRequest, Field: list,
					Message: fmt.Sprintf("%q is both a file and the directory of %q", dir, name)}
			}
		}
	}
	if total > v.policy.MaxSourceBytes {
		return &ValidationError{Code: CodeInvalidRequest, Field: list,
			Message: fmt.Sprintf("files total %d bytes; the maximum is %d", total, v.policy.MaxSourceBytes)}
	}
	return nil
}

// tests checks the judge-mode fields: the number of tests and the size of
// every input and expected output (all of them together within the stdin
// bound's multiple).
func (v *Validator) tests(req *ExecutionRequest) *ValidationError {
	if req.ExpectedOutput != nil && int64(len(*req.ExpectedOutput)) > v.policy.MaxStdinBytes {
		return &ValidationError{Code: CodeInvalidRequest, Field: "expected_output",
			Message: fmt.Sprintf("expected_output is %d bytes; the maximum is %d", len(*req.ExpectedOutput), v.policy.MaxStdinBytes)}
	}
	if req.ExpectedOutput != nil && len(req.Tests) > 0 {
		return &ValidationError{Code: CodeInvalidRequest, Field: "expected_output",
			Message: "set expected_output on each test, not on a request with tests"}
	}
	return v.testList(req.Tests, 4*v.policy.MaxStdinBytes)
}

// testList checks a list of tests: at most MaxTests, each input and answer
// within MaxStdinBytes, all of them within maxTotal bytes.
func (v *Validator) testList(tests []TestCase, maxTotal int64) *ValidationError {
	maxTests := v.policy.MaxTests
	if maxTests <= 0 {
		maxTests = DefaultPolicy().MaxTests
	}
	if len(tests) > maxTests {
		return &ValidationError{Code: CodeInvalidRequest, Field: "tests",
			Message: fmt.Sprintf("at most %d tests are allowed, got %d", maxTests, len(tests))}
	}
	var total int64
	for i, tc := range tests {
		size := int64(len(tc.Stdin))
		if tc.ExpectedOutput != nil {
			size += int64(len(*tc.ExpectedOutput))
		}
		if size > v.policy.MaxStdinBytes {
			return &ValidationError{Code: CodeInvalidRequest, Field: fmt.Sprintf("tests[%d]", i),
				Message: fmt.Sprintf("stdin and expected_output are %d bytes; the maximum is %d", size, v.policy.MaxStdinBytes)}
		}
		total += size
	}
	if total > maxTotal {
		return &ValidationError{Code: CodeInvalidRequest, Field: "tests",
			Message: fmt.Sprintf("the tests' inputs and outputs total %d bytes; the maximum is %d", total, maxTotal)}
	}
	return nil
}

// Resolve checks a request against the rules, picks its runtime among
// runtimes and checks its limits against the runtime's maximums. It
// normalises the request's language and version to the runtime's. This is
// the whole admission check of the gateway and of the NATS client.
func (v *Validator) Resolve(req *ExecutionRequest, runtimes []Runtime) (*Runtime, *ValidationError) {
	if verr := v.Request(req); verr != nil {
		return nil, verr
	}
	return v.ResolveChecked(req, runtimes)
}

// ResolveChecked is Resolve for a request Request has already accepted:
// the runtimes' part only, so that a caller that checks the request first
// (before it reads the runtimes) does not check it twice.
func (v *Validator) ResolveChecked(req *ExecutionRequest, runtimes []Runtime) (*Runtime, *ValidationError) {
	rt, verr := FindRuntime(runtimes, req.Language, req.Version)
	if verr != nil {
		return nil, verr
	}
	if _, verr := ResolveLimits(req.Limits, *rt); verr != nil {
		return nil, verr
	}
	if verr := ResolveJudgePrograms(req.Checker, req.Interactor, runtimes); verr != nil {
		return nil, verr
	}
	req.Language, req.Version = rt.Language, rt.Version
	return rt, nil
}

// ResolveJudgePrograms finds the runtimes of a checker and an interactor
// (either may be nil) and checks their limits against the judge defaults
// and the runtimes' maximums; it normalises their language and version.
func ResolveJudgePrograms(checker, interactor *JudgeProgram, runtimes []Runtime) *ValidationError {
	for _, j := range []struct {
		field string
		c     *JudgeProgram
	}{{"checker", checker}, {"interactor", interactor}} {
		field, c := j.field, j.c
		if c == nil {
			continue
		}
		crt, verr := FindRuntime(runtimes, c.Language, c.Version)
		if verr != nil {
			verr.Field = field + "." + verr.Field
			return verr
		}
		if _, verr := ResolveLimits(c.Limits, JudgeRuntime(*crt)); verr != nil {
			verr.Field = field + "." + verr.Field
			return verr
		}
		c.Language, c.Version = crt.Language, crt.Version
	}
	return nil
}

// The default limits of a checker: generous, because a slow checker is the
// problem's fault, never the program's.
var judgeDefaults = LimitSet{
	CPUTimeMS: 10_000, WallTimeMS: 20_000, MemoryMB: 512,
	CompileCPUTimeMS: 30_000, CompileWallTimeMS: 60_000, CompileMemoryMB: 512,
}

// JudgeRuntime is rt with the default limits of a checker (10 s CPU, 20 s
// wall and 512 MB to run; 30 s CPU and 60 s wall to compile), each lowered
// to rt's maximum; processes and output keep rt's defaults.
func JudgeRuntime(rt Runtime) Runtime {
	d, m := judgeDefaults, rt.Maximums
	bound := func(v, mx int64) int64 {
		if mx > 0 {
			return min(v, mx)
		}
		return v
	}
	rt.Defaults = LimitSet{
		CPUTimeMS: bound(d.CPUTimeMS, m.CPUTimeMS), WallTimeMS: bound(d.WallTimeMS, m.WallTimeMS),
		MemoryMB: bound(d.MemoryMB, m.MemoryMB), Processes: rt.Defaults.Processes, OutputBytes: rt.Defaults.OutputBytes,
		CompileCPUTimeMS: bound(d.CompileCPUTimeMS, m.CompileCPUTimeMS), CompileWallTimeMS: bound(d.CompileWallTimeMS, m.CompileWallTimeMS),
		CompileMemoryMB: bound(d.CompileMemoryMB, m.CompileMemoryMB),
	}
	return rt
}

// DecodeFile returns a file's bytes, decoding base64 when asked.
func DecodeFile(f File) ([]byte, error) {
	switch f.Encoding {
	case "", "utf8":
		return []byte(f.Content), nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(f.Content)
		if err != nil {
			return nil, errors.New("content is not valid base64")
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown encoding %q", f.Encoding)
}

func fieldError(fe validator.FieldError) *ValidationError {
	// Namespace is "ExecutionRequest.files[0].name": drop the type name.
	field := fe.Namespace()
	if _, rest, ok := strings.Cut(field, "."); ok {
		field = rest
	}
	var msg string
	switch fe.Tag() {
	case "required":
		msg = "is required"
	case "min":
		msg = fmt.Sprintf("needs at least %s", fe.Param())
		if fe.Kind() == reflect.Slice {
			msg = fmt.Sprintf("needs at least %s item(s)", fe.Param())
		}
	case "max":
		msg = fmt.Sprintf("must be at most %s characters", fe.Param())
		if fe.Kind() == reflect.Slice {
			msg = fmt.Sprintf("allows at most %s items", fe.Param())
		}
	case "oneof":
		msg = fmt.Sprintf("must be one of: %s", fe.Param())
	case "gte":
		msg = "must not be negative"
	case "lte":
		msg = fmt.Sprintf("must be at most %s", fe.Param())
	case "filename":
		msg = "must be a plain relative path (letters, digits, . _ + @ -; no '..', no leading '/' or '-', at most 8 levels deep, 255 bytes)"
	case "token":
		msg = "must be a lower-case language name such as \"python\" or \"c++\""
	case "nonul":
		msg = "must not contain a NUL byte"
	case "problemid":
		msg = "must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
	case "problemversion":
		msg = "must be a version as GET /v1/problems/{id} shows it (64 lower-case hex digits)"
	case "url", "startswith":
		msg = "must be an absolute http or https URL"
	default:
		msg = fmt.Sprintf("fails rule %q", fe.Tag())
	}
	return &ValidationError{Code: CodeInvalidRequest, Field: field, Message: msg}
}

// FindRuntime picks the runtime for a language name or alias and an optional
// version (exact, or a prefix at a dot boundary: "3.11" matches "3.11.2").
func FindRuntime(runtimes []Runtime, language, version string) (*Runtime, *ValidationError) {
	language = strings.ToLower(language)
	var named []*Runtime
	for i := range runtimes {
		rt := &runtimes[i]
		if rt.Language == language || contains(rt.Aliases, language) {
			named = append(named, rt)
		}
	}
	if len(named) == 0 {
		return nil, &ValidationError{Code: CodeUnknownLanguage, Field: "language",
			Message: fmt.Sprintf("language %q is not served; GET /v1/runtimes lists the languages", language)}
	}
	if version == "" || version == "*" {
		return named[0], nil
	}
	for _, rt := range named {
		if rt.Version == version || strings.HasPrefix(rt.Version, version+".") {
			return rt, nil
		}
	}
	return nil, &ValidationError{Code: CodeUnknownLanguage, Field: "version",
		Message: fmt.Sprintf("%s version %q is not served (served: %s)", language, version, named[0].Version)}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MinMemoryMB is the least memory a stage may be given: the engine refuses a
// container under 6 MB, and no language runtime starts in much less.
const MinMemoryMB = 16

// ResolveLimits fills unset limits from the runtime's defaults and rejects any
// limit above the runtime's maximum or a memory limit under MinMemoryMB.
func ResolveLimits(req Limits, rt Runtime) (LimitSet, *ValidationError) {
	out := rt.Defaults
	type item struct {
		name     string
		asked    int64
		out      *int64
		min, max int64
	}
	items := []item{
		{"cpu_time_ms", req.CPUTimeMS, &out.CPUTimeMS, 0, rt.Maximums.CPUTimeMS},
		{"wall_time_ms", req.WallTimeMS, &out.WallTimeMS, 0, rt.Maximums.WallTimeMS},
		{"memory_mb", req.MemoryMB, &out.MemoryMB, MinMemoryMB, rt.Maximums.MemoryMB},
		{"processes", req.Processes, &out.Processes, 0, rt.Maximums.Processes},
		{"output_bytes", req.OutputBytes, &out.OutputBytes, 0, rt.Maximums.OutputBytes},
		{"compile_cpu_time_ms", req.CompileCPUTimeMS, &out.CompileCPUTimeMS, 0, rt.Maximums.CompileCPUTimeMS},
		{"compile_wall_time_ms", req.CompileWallTimeMS, &out.CompileWallTimeMS, 0, rt.Maximums.CompileWallTimeMS},
		{"compile_memory_mb", req.CompileMemoryMB, &out.CompileMemoryMB, MinMemoryMB, rt.Maximums.CompileMemoryMB},
	}
	for _, it := range items {
		if it.asked < 0 {
			return LimitSet{}, &ValidationError{Code: CodeInvalidRequest, Field: "limits." + it.name, Message: "must not be negative"}
		}
		if it.asked == 0 {
			continue
		}
		if it.asked < it.min {
			return LimitSet{}, &ValidationError{Code: CodeInvalidRequest, Field: "limits." + it.name,
				Message: fmt.Sprintf("%s is %d; the minimum is %d", it.name, it.asked, it.min)}
		}
		if it.max > 0 && it.asked > it.max {
			return LimitSet{}, &ValidationError{Code: CodeLimitTooHigh, Field: "limits." + it.name,
				Message: fmt.Sprintf("%s is %d; the maximum for %s is %d", it.name, it.asked, rt.Language, it.max)}
		}
		*it.out = it.asked
	}
	// A wall limit below the CPU limit would turn every CPU-bound overrun into
	// a wall timeout; keep the wall limit at least the CPU limit.
	if req.WallTimeMS == 0 && out.WallTimeMS < out.CPUTimeMS {
		out.WallTimeMS = min(out.CPUTimeMS+1000, rt.Maximums.WallTimeMS)
	}
	if req.CompileWallTimeMS == 0 && out.CompileWallTimeMS < out.CompileCPUTimeMS {
		out.CompileWallTimeMS = min(out.CompileCPUTimeMS+1000, rt.Maximums.CompileWallTimeMS)
	}
	return out, nil
}

// ClampLimits resolves req against rt like ResolveLimits, but lowers a limit
// above the maximum to the maximum and raises a memory limit under the floor
// to the floor instead of refusing it: an executor clamps what it pulled
// (the gateway already refused such requests; a job published straight onto
// NATS is clamped, not trusted).
func ClampLimits(req Limits, rt Runtime) LimitSet {
	m := rt.Maximums
	lim := func(v, mx int64) int64 {
		if v < 0 {
			return 0
		}
		if mx > 0 {
			return min(v, mx)
		}
		return v
	}
	mem := func(v, mx int64) int64 {
		if v = lim(v, mx); v > 0 {
			v = max(v, MinMemoryMB)
		}
		return v
	}
	req = Limits{
		CPUTimeMS: lim(req.CPUTimeMS, m.CPUTimeMS), WallTimeMS: lim(req.WallTimeMS, m.WallTimeMS),
		MemoryMB: mem(req.MemoryMB, m.MemoryMB), Processes: lim(req.Processes, m.Processes),
		OutputBytes:      lim(req.OutputBytes, m.OutputBytes),
		CompileCPUTimeMS: lim(req.CompileCPUTimeMS, m.CompileCPUTimeMS), CompileWallTimeMS: lim(req.CompileWallTimeMS, m.CompileWallTimeMS),
		CompileMemoryMB: mem(req.CompileMemoryMB, m.CompileMemoryMB),
	}
	out, _ := ResolveLimits(req, rt) // cannot fail: everything is within the bounds
	return out
}
