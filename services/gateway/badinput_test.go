package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway"
)

// manyFiles is a request body with n files named f0.py, f1.py, ...; the
// file at index bad (if any) gets badName.
func manyFiles(n, bad int, badName string) string {
	var b strings.Builder
	b.WriteString(`{"language":"python","files":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		name := fmt.Sprintf("f%d.py", i)
		if i == bad {
			name = badName
		}
		fmt.Fprintf(&b, `{"name":%q,"content":"x"}`, name)
	}
	b.WriteString(`]}`)
	return b.String()
}

// withName is a request with one file of the given JSON-encoded name.
func withName(jsonName string) string {
	return `{"language":"python","files":[{"name":` + jsonName + `,"content":""}]}`
}

// TestBadBodies sends hostile and malformed bodies: each gets the documented
// 4xx answer with a code, a field and a message, never a 500, and nothing
// reaches the queue. Policy: unknown fields are rejected with 400; invalid
// UTF-8 inside a JSON string is replaced with U+FFFD by the decoder (so a
// name or language then fails its rule; file content must be sent as base64
// to carry arbitrary bytes).
func TestBadBodies(t *testing.T) {
	e := start(t, func(c *gateway.Config) {
		c.MaxBodyBytes = 4 << 20
		c.Policy.MaxStdinBytes = 64 << 10
		c.Policy.MaxFileBytes = 64 << 10
	})
	e.heartbeat("exec-1", "", testRuntimes())
	nested := func(depth int, open, close string) string {
		return strings.Repeat(open, depth) + strings.Repeat(close, depth)
	}
	tests := []struct {
		name, body, path      string
		status                int
		code, field, contains string
	}{
		// Nesting: beyond the decoder's depth limit (10000) anywhere, and
		// moderate nesting where a flat value belongs.
		{name: "deeply nested array", body: `{"language":"python","stdin":` + nested(100000, "[", "]") + `}`, status: 400, code: contracts.CodeInvalidJSON, contains: "depth"},
		{name: "deeply nested objects in unknown field", body: `{"x":` + nested(20000, `{"x":`, "}") + `null}`, status: 400, code: contracts.CodeInvalidJSON},
		{name: "nested arrays as args", body: `{"language":"python","files":[],"args":` + nested(5000, "[", "]") + `}`, status: 400, code: contracts.CodeInvalidJSON, field: "args"},
		{name: "nested objects as limits", body: `{"language":"python","files":[],"limits":{"cpu_time_ms":` + strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000) + `}}`, status: 400, code: contracts.CodeInvalidJSON, field: "limits.cpu_time_ms"},

		// Invalid UTF-8 and encodings.
		{name: "invalid UTF-8 outside strings", body: "{\"language\":\"python\"\xff}", status: 400, code: contracts.CodeInvalidJSON},
		{name: "invalid UTF-8 in language", body: "{\"language\":\"pyth\xffon\",\"files\":[{\"name\":\"a.py\",\"content\":\"\"}]}", status: 422, code: contracts.CodeInvalidRequest, field: "language"},
		{name: "invalid UTF-8 in file name", body: withName("\"a\xff.py\""), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "UTF-16 body", body: "\xff\xfe{\x00}\x00", status: 400, code: contracts.CodeInvalidJSON},
		{name: "byte order mark", body: "\xef\xbb\xbf" + helloPy, status: 400, code: contracts.CodeInvalidJSON},
		{name: "base64 without padding", body: withFiles(`[{"name":"a.py","content":"aGk","encoding":"base64"}]`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].content", contains: "base64"},
		{name: "base64 URL alphabet", body: withFiles(`[{"name":"a.py","content":"__8-","encoding":"base64"}]`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].content", contains: "base64"},
		{name: "base64 over the file limit", body: withFiles(`[{"name":"a.py","content":"` + strings.Repeat("QUFB", 1<<15) + `","encoding":"base64"}]`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].content", contains: "98304"},

		// Many files.
		{name: "thousands of files", body: manyFiles(5000, -1, ""), status: 422, code: contracts.CodeInvalidRequest, field: "files", contains: "at most 64"},
		{name: "thousands of files one bad name", body: manyFiles(3000, 2999, "../x"), status: 422, code: contracts.CodeInvalidRequest, field: "*"},
		{name: "one file over the limit", body: manyFiles(65, -1, ""), status: 422, code: contracts.CodeInvalidRequest, field: "files", contains: "65"},

		// Huge stdin and arguments.
		{name: "stdin over the policy", body: `{"language":"python","files":[{"name":"a.py","content":""}],"stdin":"` + strings.Repeat("x", 100<<10) + `"}`, status: 422, code: contracts.CodeInvalidRequest, field: "stdin", contains: "65536"},
		{name: "stdin over the body limit", body: `{"language":"python","files":[{"name":"a.py","content":""}],"stdin":"` + strings.Repeat("x", 5<<20) + `"}`, status: 413, code: contracts.CodeBodyTooLarge},
		{name: "too many args", body: `{"language":"python","files":[{"name":"a.py","content":""}],"args":[` + strings.TrimSuffix(strings.Repeat(`"a",`, 129), ",") + `]}`, status: 422, code: contracts.CodeInvalidRequest, field: "args"},
		{name: "arg too long", body: `{"language":"python","files":[{"name":"a.py","content":""}],"args":["` + strings.Repeat("a", 4097) + `"]}`, status: 422, code: contracts.CodeInvalidRequest, field: "args[0]"},
		{name: "NUL in arg", body: `{"language":"python","files":[{"name":"a.py","content":""}],"args":["a\u0000b"]}`, status: 422, code: contracts.CodeInvalidRequest, field: "args[0]", contains: "NUL"},

		// File names with control characters and other path tricks.
		{name: "name with SOH", body: withName(`"a\u0001b"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name with tab", body: withName(`"a\tb"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name with newline", body: withName(`"a\nb.py"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name with carriage return", body: withName(`"a.py\r"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name with escape", body: withName(`"\u001b[31m.py"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name with DEL", body: withName(`"a\u007f"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name with NEL", body: withName(`"a\u0085"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name with zero-width space", body: withName(`"a\u200b.py"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name with right-to-left override", body: withName(`"exe.\u202etxt"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name with backslash", body: withName(`"..\\x"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name with drive letter", body: withName(`"C:x"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name dotdot inside", body: withName(`"a/../../b"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name dot component", body: withName(`"./a"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name trailing slash", body: withName(`"src/"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name too deep", body: withName(`"a/b/c/d/e/f/g/h/i"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},
		{name: "name too long", body: withName(`"` + strings.Repeat("a", 256) + `"`), status: 422, code: contracts.CodeInvalidRequest, field: "files[0].name"},

		// Wrong types.
		{name: "string body", body: `"python"`, status: 400, code: contracts.CodeInvalidJSON, contains: "object"},
		{name: "number body", body: `5`, status: 400, code: contracts.CodeInvalidJSON, contains: "object"},
		{name: "boolean language", body: `{"language":true,"files":[]}`, status: 400, code: contracts.CodeInvalidJSON, field: "language"},
		{name: "files object", body: `{"language":"python","files":{"name":"a.py"}}`, status: 400, code: contracts.CodeInvalidJSON, field: "files"},
		{name: "file number", body: withFiles(`[5]`), status: 400, code: contracts.CodeInvalidJSON, field: "files"},
		{name: "stdin number", body: `{"language":"python","files":[],"stdin":42}`, status: 400, code: contracts.CodeInvalidJSON, field: "stdin"},
		{name: "args string", body: `{"language":"python","files":[],"args":"-v"}`, status: 400, code: contracts.CodeInvalidJSON, field: "args"},
		{name: "arg number", body: `{"language":"python","files":[],"args":[1]}`, status: 400, code: contracts.CodeInvalidJSON, field: "args"},
		{name: "limits array", body: `{"language":"python","files":[],"limits":[1000]}`, status: 400, code: contracts.CodeInvalidJSON, field: "limits"},
		{name: "fractional limit", body: `{"language":"python","files":[],"limits":{"memory_mb":1.5}}`, status: 400, code: contracts.CodeInvalidJSON, field: "limits.memory_mb"},
		{name: "tests object", body: `{"language":"python","files":[],"tests":{"stdin":""}}`, status: 400, code: contracts.CodeInvalidJSON, field: "tests"},
		{name: "compare number", body: `{"language":"python","files":[],"compare":1}`, status: 400, code: contracts.CodeInvalidJSON, field: "compare"},

		// Unknown fields are rejected wherever they are.
		{name: "unknown field in limits", body: `{"language":"python","files":[],"limits":{"gpu":1}}`, status: 400, code: contracts.CodeInvalidJSON, field: "gpu"},
		{name: "unknown field in tests", body: `{"language":"python","files":[],"tests":[{"stdin":"","timeout":1}]}`, status: 400, code: contracts.CodeInvalidJSON, field: "timeout"},

		// Batches.
		{name: "batch deeply nested", path: "/v1/executions/batch", body: `{"executions":` + nested(20000, "[", "]") + `}`, status: 400, code: contracts.CodeInvalidJSON},
		{name: "batch of thousands", path: "/v1/executions/batch", body: `{"executions":[` + strings.TrimSuffix(strings.Repeat(helloPy+",", 3000), ",") + `]}`, status: 422, code: contracts.CodeInvalidRequest, field: "executions"},
		{name: "batch trailing bracket", path: "/v1/executions/batch", body: `{"executions":[` + helloPy + `]}]`, status: 400, code: contracts.CodeInvalidJSON},
		{name: "batch not a list", path: "/v1/executions/batch", body: `{"executions":{}}`, status: 400, code: contracts.CodeInvalidJSON, field: "executions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/v1/executions"
			}
			r := e.do(call{method: http.MethodPost, path: path, body: tc.body})
			if r.status >= 500 {
				t.Fatalf("answered %d: %s", r.status, r.body)
			}
			wantError(t, r, tc.status, tc.code, tc.field, tc.contains)
		})
	}

	if r := e.do(call{path: "/healthz"}); r.status != 200 {
		t.Fatalf("healthz after the bad bodies: %d", r.status)
	}
	info, err := e.nats.JS.Stream(context.Background(), contracts.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("JOBS holds %d messages after only bad requests", n)
	}
}

// TestInvalidUTF8Content documents what happens to file content and stdin
// that are not valid UTF-8 inside the JSON strings: the request is accepted
// and every invalid byte becomes U+FFFD (JSON strings are Unicode text);
// bytes travel unchanged only as base64.
func TestInvalidUTF8Content(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	body := "{\"language\":\"python\",\"files\":[{\"name\":\"a.py\",\"content\":\"x\xffy\"},{\"name\":\"b.bin\",\"content\":\"/w==\",\"encoding\":\"base64\"}],\"stdin\":\"\xc3(\"}"
	r := e.do(call{method: http.MethodPost, path: "/v1/executions", body: body})
	if r.status != 202 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := e.nats.JS.Stream(ctx, contracts.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var job contracts.Job
	if err := json.Unmarshal(msg.Data, &job); err != nil {
		t.Fatal(err)
	}
	if got := job.Request.Files[0].Content; got != "x\uFFFDy" {
		t.Errorf("content %q, want %q", got, "x\uFFFDy")
	}
	if got := job.Request.Stdin; got != "\uFFFD(" {
		t.Errorf("stdin %q, want %q", got, "\uFFFD(")
	}
	if b, err := contracts.DecodeFile(job.Request.Files[1]); err != nil || string(b) != "\xff" {
		t.Errorf("base64 file %q (%v), want the byte 0xff", b, err)
	}
}
