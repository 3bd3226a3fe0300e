package judge0

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway/internal/compat"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
)

// judge0Params reads the body: a JSON object, or form fields (Rails reads
// both). A body that is neither is a 400.
func (a *API) judge0Params(w http.ResponseWriter, r *http.Request) (map[string]any, *web.Error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, a.MaxBodyBytes)
		var err error
		if mt == "multipart/form-data" {
			err = r.ParseMultipartForm(a.MaxBodyBytes)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			if herr := web.BodyTooLarge(err); herr != nil {
				return nil, herr
			}
			return nil, web.InvalidJSON("", "could not read the form: "+err.Error())
		}
		p := map[string]any{}
		for k, v := range r.PostForm {
			if len(v) > 0 {
				p[k] = v[len(v)-1]
			}
		}
		return p, nil
	}
	body, herr := a.ReadRaw(w, r)
	if herr != nil {
		return nil, herr
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, web.InvalidJSON("", "the request body is not valid JSON: "+strings.TrimPrefix(err.Error(), "json: "))
	}
	p, ok := v.(map[string]any)
	if !ok {
		return nil, web.InvalidJSON("", "the request body must be a JSON object")
	}
	return p, nil
}

// judge0String reads a text attribute: strings, numbers and booleans as
// their text; null, absent, arrays and objects (which Rails' permit drops)
// as absent.
func judge0String(p map[string]any, key string) (string, bool) {
	switch v := p[key].(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// judge0Number reads a numeric attribute. present is false for absent, null
// and "" (Rails then applies the default); ok is false for a value that is
// not a number.
func judge0Number(p map[string]any, key string) (v float64, present, ok bool) {
	switch x := p[key].(type) {
	case nil:
		return 0, false, true
	case json.Number:
		f, err := x.Float64()
		return f, true, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	case string:
		if strings.TrimSpace(x) == "" {
			return 0, false, true
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, true, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	if _, isMap := p[key].(map[string]any); isMap {
		return 0, false, true
	}
	if _, isList := p[key].([]any); isList {
		return 0, false, true
	}
	return 0, true, false
}

// judge0Bool casts like ActiveModel::Type::Boolean: absent, null and "" are
// absent; false, 0, "0", "f", "false", "off" (any case) are false; anything
// else is true.
func judge0Bool(p map[string]any, key string) (v, present bool) {
	switch x := p[key].(type) {
	case nil:
		return false, false
	case bool:
		return x, true
	case json.Number:
		return x.String() != "0", true
	case string:
		switch strings.ToLower(x) {
		case "":
			return false, false
		case "0", "f", "false", "off":
			return false, true
		}
		return true, true
	}
	return false, false
}

func isBlank(s string) bool { return strings.TrimFunc(s, unicode.IsSpace) == "" }

// rubyNumber formats a bound as Ruby prints it in a validation message.
func rubyNumber(v float64, float bool) string {
	if !float {
		return strconv.FormatInt(int64(v), 10)
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// judge0Request translates a submission into an ExecutionRequest, with
// Judge0's validations and messages.
func (a *API) judge0Request(p map[string]any, b64 bool, runtimes []contracts.Runtime) (*contracts.ExecutionRequest, *judge0Errors) {
	errs := &judge0Errors{}
	decode := func(key string) (string, bool) {
		s, ok := judge0String(p, key)
		if ok && b64 {
			s = string(compat.DecodeBase64Lenient(s))
		}
		return s, ok
	}
	source, hasSource := decode("source_code")
	if !hasSource || isBlank(source) {
		errs.add("source_code", "can't be blank")
	}
	langNum, hasLang, langOK := judge0Number(p, "language_id")
	var rt *contracts.Runtime
	var lang *judge0Language
	if !hasLang || !langOK {
		errs.add("language_id", "can't be blank")
	} else if lang = judge0LanguageByID(int(langNum)); lang != nil {
		rt, _ = lang.resolve(runtimes)
	}
	var maxs *contracts.LimitSet
	if rt != nil {
		maxs = &rt.Maximums
	}

	// numericality: value, lower bound (inclusive or not), upper bound.
	number := func(key string, lo float64, loInclusive bool, hi float64, hiFloat bool) (float64, bool) {
		v, present, ok := judge0Number(p, key)
		if !present {
			return 0, false
		}
		if !ok {
			errs.add(key, "is not a number")
			return 0, false
		}
		switch {
		case loInclusive && v < lo:
			errs.add(key, "must be greater than or equal to "+rubyNumber(lo, false))
		case !loInclusive && v <= lo:
			errs.add(key, "must be greater than "+rubyNumber(lo, false))
		case hi > 0 && v > hi:
			errs.add(key, "must be less than or equal to "+rubyNumber(hi, hiFloat))
		default:
			return v, true
		}
		return 0, false
	}
	var maxCPU, maxWall, maxMem, maxProcs float64
	if maxs != nil {
		maxCPU, maxWall = float64(maxs.CPUTimeMS)/1000, float64(maxs.WallTimeMS)/1000
		maxMem, maxProcs = float64(maxs.MemoryMB*1024), float64(maxs.Processes)
	}
	number("number_of_runs", 0, false, j0MaxNumberOfRuns, false)
	cpu, hasCPU := number("cpu_time_limit", 0, true, maxCPU, true)
	number("cpu_extra_time", 0, true, j0MaxCPUExtraTime, true)
	wall, hasWall := number("wall_time_limit", j0MinWallTimeLimitS, true, maxWall, true)
	mem, hasMem := number("memory_limit", j0MinMemoryLimitKB, true, maxMem, false)
	number("stack_limit", 0, true, j0MaxStackLimit, false)
	procs, hasProcs := number("max_processes_and_or_threads", 0, false, maxProcs, false)
	for _, key := range []string{"enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit"} {
		if v, _ := judge0Bool(p, key); v {
			errs.add(key, "this option cannot be enabled")
		}
	}
	number("max_file_size", 0, true, j0MaxMaxFileSize, false)
	compilerOptions, _ := judge0String(p, "compiler_options")
	cmdline, _ := judge0String(p, "command_line_arguments")
	if utf8.RuneCountInString(compilerOptions) > j0MaxOptionLength {
		errs.add("compiler_options", fmt.Sprintf("is too long (maximum is %d characters)", j0MaxOptionLength))
	}
	if utf8.RuneCountInString(cmdline) > j0MaxOptionLength {
		errs.add("command_line_arguments", fmt.Sprintf("is too long (maximum is %d characters)", j0MaxOptionLength))
	}
	if hasLang && langOK && rt == nil {
		if id := int(langNum); id >= judge0FirstArchived && id <= judge0LastArchived {
			// db/languages/archived.rb
			errs.add("language_id", fmt.Sprintf("language with id %d is archived and cannot be used anymore", id))
		} else {
			errs.add("language_id", fmt.Sprintf("language with id %s doesn't exist", rubyNumber(langNum, false)))
		}
	}
	if !isBlank(compilerOptions) {
		errs.add("compiler_options", "setting compiler options is not allowed")
	}
	if cb, _ := judge0String(p, "callback_url"); !isBlank(cb) {
		errs.add("callback_url", "setting callback is not allowed")
	}
	if v, _ := judge0Bool(p, "enable_network"); v {
		errs.add("enable_network", "enabling network is not allowed")
	}
	if v, _ := judge0Bool(p, "redirect_stderr_to_stdout"); v {
		errs.add("redirect_stderr_to_stdout", "redirecting stderr to stdout is not supported")
	}
	var extra []contracts.File
	if s, ok := judge0String(p, "additional_files"); ok && !isBlank(s) {
		var msg string
		extra, msg = judge0Unzip(compat.DecodeBase64Lenient(s), a.Client.Policy().MaxSourceBytes)
		if msg != "" {
			errs.add("additional_files", msg)
		}
	}
	if !errs.empty() {
		return nil, errs
	}

	entry := rt.EntryFile
	if entry == "" {
		entry = lang.source
	}
	req := &contracts.ExecutionRequest{Language: rt.Language, Version: rt.Version, Compare: contracts.CompareTrim}
	main := contracts.File{Name: entry, Content: source}
	if !utf8.ValidString(source) {
		main.Content, main.Encoding = base64.StdEncoding.EncodeToString([]byte(source)), "base64"
	}
	req.Files = append(req.Files, main)
	for _, f := range extra {
		if f.Name != entry { // unzip -n: the source file is never overwritten
			req.Files = append(req.Files, f)
		}
	}
	req.Stdin, _ = decode("stdin")
	if eo, ok := decode("expected_output"); ok {
		req.ExpectedOutput = &eo
	}
	req.Args = judge0Args(cmdline)
	if hasCPU && cpu > 0 {
		req.Limits.CPUTimeMS = int64(math.Ceil(cpu * 1000))
	}
	if hasWall {
		req.Limits.WallTimeMS = int64(math.Ceil(wall * 1000))
	}
	if hasMem {
		req.Limits.MemoryMB = int64(math.Ceil(mem / 1024))
	}
	if hasProcs {
		req.Limits.Processes = int64(procs)
	}
	return req, nil
}

// judge0Args splits command_line_arguments as the bash script Judge0 runs
// it in would: Judge0 first removes $&;<>|` and then the shell splits words
// at blanks, honouring quotes and backslashes. Globs are not expanded.
func judge0Args(s string) []string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune("$&;<>|`", r) {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	var args []string
	var cur strings.Builder
	inWord := false
	quote := rune(0)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(rs) && strings.ContainsRune("\"\\", rs[i+1]):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\':
			if i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			}
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args
}

// judge0Unzip reads additional_files (a zip archive) into files: regular
// files only, at most limit bytes in total.
func judge0Unzip(data []byte, limit int64) ([]contracts.File, string) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, "must be a base64 encoded zip archive: " + err.Error()
	}
	var files []contracts.File
	var total int64
	for _, zf := range zr.File {
		if zf.FileInfo().IsDir() || !zf.Mode().IsRegular() {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, fmt.Sprintf("cannot read %s from the zip archive: %v", zf.Name, err)
		}
		content, err := io.ReadAll(io.LimitReader(rc, limit-total+1))
		_ = rc.Close()
		if err != nil {
			return nil, fmt.Sprintf("cannot read %s from the zip archive: %v", zf.Name, err)
		}
		total += int64(len(content))
		if total > limit {
			return nil, fmt.Sprintf("the files in the zip archive are larger than %d bytes", limit)
		}
		files = append(files, contracts.File{Name: strings.TrimPrefix(zf.Name, "./"),
			Content: base64.StdEncoding.EncodeToString(content), Encoding: "base64"})
	}
	return files, ""
}
