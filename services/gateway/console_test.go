package gateway_test

import (
	"strings"
	"testing"
)

// TestConsoleRoutes: the console's pages and assets answer without a key,
// next to the API, which still needs one.
func TestConsoleRoutes(t *testing.T) {
	// Paths that are not the console's need the key before anything else.
	const withKey = " (with the key)"
	e := start(t, withKeys)
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
			c := call{method: tc.method, path: path}
			if keyed {
				c.headers = bearer(aliceKey)
			}
			rec := e.do(c)
			if rec.status != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.status, tc.status, rec.body)
			}
			if ct := rec.header.Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
				t.Errorf("Content-Type %q, want %s…", ct, tc.ctype)
			}
			if !strings.Contains(string(rec.body), tc.body) {
				t.Errorf("body does not contain %q: %.300s", tc.body, rec.body)
			}
			if tc.status == 200 {
				for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options"} {
					if rec.header.Get(h) == "" {
						t.Errorf("no %s header", h)
					}
				}
			}
		})
	}
}
