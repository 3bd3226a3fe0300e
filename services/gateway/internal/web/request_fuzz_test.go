package web

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
)

// FuzzDecodeRequest feeds arbitrary bodies to the request decoder: it never
// panics, answers either a request or a 400/413 with a code and a message
// that encode as the JSON error body, accepts only a single valid JSON
// value, and a body under the size limit gets the same answer with and
// without the limit.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"language":"python","files":[{"name":"main.py","content":"print(1)"}]}`))
	f.Add([]byte(`{"language":"python","files":[],"bogus":1}`))
	f.Add([]byte(`{"language":5}`))
	f.Add([]byte(`{"limits":{"cpu_time_ms":1e30}}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[[[[[[[[[[]]]]]]]]]]`))
	f.Add([]byte("{\"stdin\":\"\xff\xfe\"}"))
	const limit = 256
	f.Fuzz(func(t *testing.T, body []byte) {
		req, herr := DecodeRequest(bytes.NewReader(body))
		if (req == nil) == (herr == nil) {
			t.Fatalf("want a request or an error, got %v and %v", req, herr)
		}
		if herr != nil {
			checkHTTPError(t, herr, http.StatusBadRequest)
		} else {
			if !json.Valid(body) {
				t.Fatalf("accepted a body that is not valid JSON: %q", body)
			}
			var again contracts.ExecutionRequest
			if err := json.Unmarshal(body, &again); err != nil {
				t.Fatalf("accepted a body json.Unmarshal rejects: %v", err)
			}
		}

		rec := httptest.NewRecorder()
		lreq, lerr := DecodeRequest(http.MaxBytesReader(rec, io.NopCloser(bytes.NewReader(body)), limit))
		if lerr != nil && lerr.Status == http.StatusRequestEntityTooLarge {
			checkHTTPError(t, lerr, http.StatusRequestEntityTooLarge)
			if len(body) <= limit {
				t.Fatalf("413 for a body of %d bytes under the %d limit", len(body), limit)
			}
			return
		}
		if len(body) <= limit {
			if (lreq == nil) != (req == nil) || (lerr != nil && (lerr.Status != herr.Status || lerr.Code != herr.Code || lerr.Field != herr.Field)) {
				t.Fatalf("the size limit changed the answer: %+v / %+v", herr, lerr)
			}
		}
	})
}

// checkHTTPError asserts an error answer is complete and encodes.
func checkHTTPError(t *testing.T, herr *Error, wantStatus int) {
	t.Helper()
	if herr.Status != wantStatus && !(wantStatus == http.StatusBadRequest && herr.Status == http.StatusRequestEntityTooLarge) {
		t.Fatalf("status %d, want %d: %+v", herr.Status, wantStatus, herr)
	}
	if herr.Code == "" || herr.Message == "" {
		t.Fatalf("error without code or message: %+v", herr)
	}
	rec := httptest.NewRecorder()
	herr.Write(rec)
	var eb contracts.ErrorBody
	if rec.Code != herr.Status || json.Unmarshal(rec.Body.Bytes(), &eb) != nil || eb.Error.Code != herr.Code || eb.Error.Message == "" {
		t.Fatalf("error body %d %q does not carry %+v", rec.Code, rec.Body.Bytes(), herr)
	}
}

// FuzzWaitParams parses arbitrary ?wait= and ?timeout= values: a 400 names
// the parameter, and an accepted timeout is positive and never above the cap.
func FuzzWaitParams(f *testing.F) {
	for _, s := range [][2]string{{"true", "10s"}, {"1", "30"}, {"", ""}, {"no", "-1s"}, {"maybe", "1h"}, {"yes", "9223372036854775807"}, {"false", "1e3s"}} {
		f.Add(s[0], s[1], false)
	}
	const def, maxT = 30 * time.Second, 5 * time.Minute
	f.Fuzz(func(t *testing.T, wait, timeout string, force bool) {
		q := url.Values{}
		if wait != "" {
			q.Set("wait", wait)
		}
		if timeout != "" {
			q.Set("timeout", timeout)
		}
		w, d, herr := WaitParams(q, force, def, maxT)
		if herr != nil {
			checkHTTPError(t, herr, http.StatusBadRequest)
			if herr.Field != "wait" && herr.Field != "timeout" {
				t.Fatalf("400 names field %q", herr.Field)
			}
			return
		}
		if d <= 0 || d > maxT {
			t.Fatalf("timeout %v outside (0, %v] for %q", d, maxT, timeout)
		}
		if force && !w {
			t.Fatal("a forced wait was turned off")
		}
	})
}
