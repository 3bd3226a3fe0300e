package api

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/contracts/client"
	"github.com/airlockrun/airlock/internal/testkit"
)

// consoleAPI is a real API on an embedded NATS server, with API keys on.
func consoleAPI(t *testing.T, keys []APIKey) *API {
	t.Helper()
	n := testkit.StartNATS(t, "")
	ctx := context.Background()
	topo := contracts.DefaultTopology()
	if err := topo.Ensure(ctx, n.JS); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(ctx, n.Conn, client.Options{Topology: topo})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(c, n.JS, Options{
		Topology: topo, APIKeys: keys,
		MaxBodyBytes: 1 << 20, WaitTimeout: time.Second, MaxWaitTimeout: time.Second, MaxBatch: 10,
		Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	return a
}

func TestConsoleRoutes(t *testing.T) {
	// Paths that are not the console's need the key before anything else.
	const withKey = " (with the key)"
	h := consoleAPI(t, []APIKey{{Tenant: "t", Key: "secret"}}).Handler()
	tests := []struct {
		method, path string
		status       int
		ctype        string // prefix of Content-Type
		body         string // substring of the body
	}{
		{"GET", "/", 200, "text/html", "playground.js"},
		{"HEAD", "/", 200, "text/html", ""},
		{"GET", "/console/fleet", 200, "text/html", "fleet.js"},
		{"GET", "/console/assets/playground.js", 200, "text/javascript", "/v1/execute"},
		{"GET", "/console/assets/fleet.js", 200, "text/javascript", "/v1/fleet"},
		{"GET", "/console/assets/common.js", 200, "text/javascript", "Authorization"},
		{"GET", "/console/assets/console.css", 200, "text/css", "--v-accepted"},
		{"GET", "/console/assets/icon.svg", 200, "image/svg+xml", "<svg"},
		// Not files: the API's JSON 404, never a directory listing.
		{"GET", "/console/assets/", 404, "application/json", "not_found"},
		{"GET", "/console/assets/nope.js", 404, "application/json", "not_found"},
		{"GET", "/console/" + withKey, 404, "application/json", "not_found"},
		{"GET", "/console" + withKey, 404, "application/json", "not_found"},
		{"GET", "/index.html" + withKey, 404, "application/json", "not_found"},
		{"GET", "/nope" + withKey, 404, "application/json", "no such endpoint"},
		{"POST", "/", 405, "application/json", "method_not_allowed"},
		{"GET", "/nope", 401, "application/json", "unauthorized"},
		// The API still needs the key.
		{"GET", "/v1/fleet", 401, "application/json", "unauthorized"},
		{"GET", "/v1/runtimes", 401, "application/json", "unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			path, keyed := strings.CutSuffix(tc.path, withKey)
			req := httptest.NewRequest(tc.method, path, nil)
			if keyed {
				req.Header.Set("Authorization", "Bearer secret")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
				t.Errorf("Content-Type %q, want %s…", ct, tc.ctype)
			}
			if !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("body does not contain %q: %.300s", tc.body, rec.Body)
			}
			if tc.status == 200 {
				for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options"} {
					if rec.Header().Get(h) == "" {
						t.Errorf("no %s header", h)
					}
				}
			}
		})
	}
}

// The pages load nothing from elsewhere: every src and href is local.
func TestConsoleAssetsAreLocal(t *testing.T) {
	err := fs.WalkDir(consoleFiles, "console", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := consoleFiles.ReadFile(p)
		if err != nil {
			return err
		}
		text := string(data)
		for _, bad := range []string{"http://", "https://", "//cdn", "@import"} {
			if i := strings.Index(text, bad); i >= 0 && !strings.HasPrefix(text[i:], "http://www.w3.org/2000/svg") {
				t.Errorf("%s refers to %q: %.80s", p, bad, text[i:])
			}
		}
		if strings.HasSuffix(p, ".html") && (strings.Contains(text, "style=") || strings.Contains(text, "<script>")) {
			t.Errorf("%s has inline style or script (the CSP forbids both)", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !consolePath("/") || !consolePath("/console/fleet") || !consolePath("/console/assets/x.js") ||
		consolePath("/v1/fleet") || consolePath("/console") || consolePath("/metrics") {
		t.Error("consolePath exempts the wrong paths")
	}
}
