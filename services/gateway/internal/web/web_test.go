package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/airlockrun/airlock/contracts"
)

func TestWaitParams(t *testing.T) {
	const def, maxT = 30 * time.Second, 5 * time.Minute
	tests := []struct {
		query   string
		force   bool
		wait    bool
		timeout time.Duration
		bad     string // field of the 400, or ""
	}{
		{query: "", wait: false, timeout: def},
		{query: "", force: true, wait: true, timeout: def},
		{query: "wait=true", wait: true, timeout: def},
		{query: "wait=TRUE", wait: true, timeout: def},
		{query: "wait=1", wait: true, timeout: def},
		{query: "wait=yes", wait: true, timeout: def},
		{query: "wait", wait: true, timeout: def},
		{query: "wait=false", wait: false, timeout: def},
		{query: "wait=0", force: true, wait: true, timeout: def},
		{query: "wait=true&timeout=10s", wait: true, timeout: 10 * time.Second},
		{query: "wait=true&timeout=300ms", wait: true, timeout: 300 * time.Millisecond},
		{query: "wait=true&timeout=7", wait: true, timeout: 7 * time.Second},
		{query: "wait=true&timeout=1h", wait: true, timeout: maxT},
		{query: "wait=true&timeout=99999999999999999", wait: true, timeout: maxT},
		{query: "wait=true&timeout=9223372036854775807", wait: true, timeout: maxT},
		{query: "wait=maybe", bad: "wait"},
		{query: "wait=true&timeout=", bad: "timeout"},
		{query: "wait=true&timeout=0", bad: "timeout"},
		{query: "wait=true&timeout=-5", bad: "timeout"},
		{query: "wait=true&timeout=-1s", bad: "timeout"},
		{query: "wait=true&timeout=1.5", bad: "timeout"},
		{query: "wait=true&timeout=99999999999999999999", bad: "timeout"},
		{query: "wait=true&timeout=10x", bad: "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			wait, timeout, herr := WaitParams(q, tc.force, def, maxT)
			if tc.bad != "" {
				if herr == nil || herr.Status != http.StatusBadRequest || herr.Code != contracts.CodeInvalidQuery || herr.Field != tc.bad {
					t.Fatalf("got %+v, want a 400 on %s", herr, tc.bad)
				}
				return
			}
			if herr != nil {
				t.Fatalf("unexpected error %+v", herr)
			}
			if wait != tc.wait || timeout != tc.timeout {
				t.Errorf("got wait=%v timeout=%v, want %v %v", wait, timeout, tc.wait, tc.timeout)
			}
		})
	}
}

func TestExecutionID(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string // "none", the key, or "" for a 400
	}{
		{name: "none", values: nil, want: "none"},
		{name: "key", values: []string{"abc"}, want: "abc"},
		{name: "printable", values: []string{"a b~!"}, want: "a b~!"},
		{name: "255", values: []string{strings.Repeat("x", 255)}, want: strings.Repeat("x", 255)},
		{name: "256", values: []string{strings.Repeat("x", 256)}},
		{name: "empty", values: []string{""}},
		{name: "control", values: []string{"a\x01"}},
		{name: "DEL", values: []string{"a\x7f"}},
		{name: "UTF-8", values: []string{"é"}},
		{name: "twice", values: []string{"a", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.values != nil {
				h[IdempotencyKeyHeader] = tc.values
			}
			id, herr := IdempotencyKey(h)
			switch tc.want {
			case "":
				if herr == nil || herr.Status != http.StatusBadRequest {
					t.Fatalf("got %q %+v, want a 400", id, herr)
				}
			case "none":
				if herr != nil || id != "" {
					t.Fatalf("got %q %+v", id, herr)
				}
			default:
				if herr != nil || id != tc.want {
					t.Fatalf("got %q %+v, want %q", id, herr, tc.want)
				}
			}
		})
	}
}

func TestPanicRecovery(t *testing.T) {
	h := Instrument(slog.New(slog.DiscardHandler), NewMetrics(prometheus.NewRegistry()), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	var eb contracts.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code != contracts.CodeInternal {
		t.Fatalf("body %s (%v)", rec.Body, err)
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Error("the panic value leaked to the client")
	}
}
