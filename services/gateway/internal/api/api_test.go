package api

import (
	"encoding/json"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

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
			wait, timeout, herr := waitParams(q, tc.force, def, maxT)
			if tc.bad != "" {
				if herr == nil || herr.status != http.StatusBadRequest || herr.code != contracts.CodeInvalidQuery || herr.field != tc.bad {
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
		want   string // "random", an id, or "" for a 400
	}{
		{name: "none", values: nil, want: "random"},
		{name: "key", values: []string{"abc"}, want: contracts.IDFromKey(contracts.DefaultTenant, "abc")},
		{name: "printable", values: []string{"a b~!"}, want: contracts.IDFromKey(contracts.DefaultTenant, "a b~!")},
		{name: "255", values: []string{strings.Repeat("x", 255)}, want: contracts.IDFromKey(contracts.DefaultTenant, strings.Repeat("x", 255))},
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
				h[idempotencyKeyHeader] = tc.values
			}
			id, herr := executionID(contracts.DefaultTenant, h)
			switch tc.want {
			case "":
				if herr == nil || herr.status != http.StatusBadRequest {
					t.Fatalf("got %q %+v, want a 400", id, herr)
				}
			case "random":
				if herr != nil || !contracts.ValidID(id) {
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
	h := instrument(slog.New(slog.DiscardHandler), newHTTPMetrics(prometheus.NewRegistry()), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
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

func TestLiveRuntimes(t *testing.T) {
	infos := []contracts.ExecutorInfo{
		{ID: "a", Runtimes: []contracts.Runtime{{Language: "python", Version: "3.9.1"}, {Language: "c", Version: "13.2.0"}}},
		{ID: "b", Runtimes: []contracts.Runtime{{Language: "python", Version: "3.10.0"}, {Language: "python", Version: "3.9.1"}}},
		{ID: "c", Problem: "down", Runtimes: []contracts.Runtime{{Language: "go", Version: "1.26.0"}}},
	}
	var got []string
	for _, rt := range liveRuntimes(infos) {
		if rt.Aliases == nil {
			t.Errorf("%s has nil aliases", rt.Language)
		}
		got = append(got, rt.Language+" "+rt.Version)
	}
	want := []string{"c 13.2.0", "python 3.10.0", "python 3.9.1"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := liveRuntimes(nil); got == nil || len(got) != 0 {
		t.Errorf("no executors: %#v, want an empty list", got)
	}
}
