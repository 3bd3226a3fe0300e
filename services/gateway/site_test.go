package gateway_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/internal/testkit"
	"github.com/airlockrun/airlock/services/gateway"
)

// port is the port of the gateway under test.
func (e *env) port() string {
	_, port, err := net.SplitHostPort(strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	return port
}

func host(h string) map[string][]string { return map[string][]string{"Host": {h}} }

// refused reports whether r is the site guard's 403.
func refused(r response) bool {
	return r.status == 403 && strings.Contains(string(r.body), `"code":"`+contracts.CodeForbidden+`"`)
}

// TestHostAllowlist: an anonymous gateway answers only its localhost names
// (DNS rebinding: a page whose name points at 127.0.0.1 sends its own name
// as Host); probes answer any host; API keys or an explicit list change the
// default.
func TestHostAllowlist(t *testing.T) {
	e := start(t, nil)
	e.heartbeat("exec-1", "", testRuntimes())
	port := e.port()
	for _, h := range []string{"localhost", "localhost:" + port, "LOCALHOST.:" + port, "127.0.0.1:" + port, "[::1]:" + port, "[::1]"} {
		if r := e.do(call{path: "/v1/runtimes", headers: host(h)}); r.status != 200 {
			t.Errorf("Host %s: %d %s", h, r.status, r.body)
		}
	}
	for _, h := range []string{"attacker.example:" + port, "attacker.example", "localhost.attacker.example:" + port, "127.0.0.2:" + port} {
		for _, c := range []call{
			{path: "/v1/runtimes"},
			{path: "/"},
			{path: "/api/v2/execute", body: `{"language":"nosuchlanguage","version":"*","files":[{"content":"print(1)"}]}`},
		} {
			c.headers = host(h)
			r := e.do(c)
			if !refused(r) || !strings.Contains(string(r.body), "--allowed-hosts") {
				t.Errorf("Host %s, %s: %d %s, want 403 naming --allowed-hosts", h, c.path, r.status, r.body)
			}
		}
		for _, probe := range []string{"/healthz", "/readyz"} {
			if r := e.do(call{path: probe, headers: host(h)}); r.status != 200 {
				t.Errorf("Host %s, %s: %d %s", h, probe, r.status, r.body)
			}
		}
	}

	keyed := start(t, withKeys)
	if r := keyed.do(call{path: "/v1/runtimes", headers: map[string][]string{"Host": {"api.example.com"}, "Authorization": {"Bearer " + aliceKey}}}); r.status != 200 {
		t.Errorf("with API keys, any host by default: %d %s", r.status, r.body)
	}
	open := start(t, func(c *gateway.Config) { c.AllowedHosts = []string{"*"} })
	if r := open.do(call{path: "/v1/runtimes", headers: host("gateway.internal:8080")}); r.status != 200 {
		t.Errorf("--allowed-hosts '*': %d %s", r.status, r.body)
	}
	named := start(t, func(c *gateway.Config) { withKeys(c); c.AllowedHosts = []string{"api.example.com", "10.0.0.5:8080"} })
	auth := func(h string) map[string][]string {
		return map[string][]string{"Host": {h}, "Authorization": {"Bearer " + aliceKey}}
	}
	for h, ok := range map[string]bool{"api.example.com": true, "api.example.com:443": true, "10.0.0.5:8080": true,
		"10.0.0.5:9090": false, "localhost:" + named.port(): false, "other.example.com": false} {
		if r := named.do(call{path: "/v1/runtimes", headers: auth(h)}); refused(r) == ok {
			t.Errorf("explicit list, Host %s: %d %s, want allowed %v", h, r.status, r.body, ok)
		}
	}
}

// TestOriginCheck: a page of another site cannot POST a body a browser sends
// without a preflight (Piston's text/plain, Judge0's forms); the gateway's
// own pages and JSON clients are unaffected.
func TestOriginCheck(t *testing.T) {
	e := start(t, func(c *gateway.Config) { c.AllowedOrigins = []string{"https://app.example.com"} })
	e.heartbeat("exec-1", "", testRuntimes())
	own := "http://127.0.0.1:" + e.port()
	piston := `{"language":"nosuchlanguage","version":"*","files":[{"content":"print(1)"}]}`
	judge0 := "source_code=print(1)&language_id=999999"
	tests := []struct {
		name, path, body, contentType, origin string
		refused                               bool
	}{
		{"piston text/plain from another site", "/api/v2/execute", piston, "text/plain;charset=UTF-8", "https://attacker.example", true},
		{"judge0 form from another site", "/submissions", judge0, "application/x-www-form-urlencoded", "http://attacker.example", true},
		{"multipart from another site", "/submissions", "--x--", "multipart/form-data; boundary=x", "http://attacker.example", true},
		{"no content type from another site", "/v1/executions", `{}`, "-", "http://attacker.example", true},
		{"opaque origin", "/api/v2/execute", piston, "text/plain", "null", true},
		{"same host, other port", "/api/v2/execute", piston, "text/plain", "http://127.0.0.1:1", true},
		{"own origin (the console)", "/api/v2/execute", piston, "text/plain", own, false},
		{"allowed origin", "/submissions", judge0, "application/x-www-form-urlencoded", "https://app.example.com", false},
		{"JSON needs a preflight: not checked", "/api/v2/execute", piston, "application/json", "https://attacker.example", false},
		{"no Origin (curl, SDKs)", "/api/v2/execute", piston, "text/plain", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			headers := map[string][]string{}
			if tc.origin != "" {
				headers["Origin"] = []string{tc.origin}
			}
			r := e.do(call{method: "POST", path: tc.path, body: tc.body, contentType: tc.contentType, headers: headers})
			if refused(r) != tc.refused {
				t.Errorf("%d %s, want refused %v", r.status, r.body, tc.refused)
			}
			if tc.refused && !strings.Contains(string(r.body), "--allowed-origins") {
				t.Errorf("the refusal does not name --allowed-origins: %s", r.body)
			}
		})
	}
	if r := e.do(call{path: "/v1/runtimes", headers: map[string][]string{"Origin": {"https://attacker.example"}}}); r.status != 200 {
		t.Errorf("GET from another site (no body; the answer is not readable cross-site): %d %s", r.status, r.body)
	}
}

func TestSiteGuardBadConfig(t *testing.T) {
	n := testkit.StartNATS(t, "")
	for name, mutate := range map[string]func(*gateway.Config){
		"host with a scheme": func(c *gateway.Config) { c.AllowedHosts = []string{"http://example.com"} },
		"empty host":         func(c *gateway.Config) { c.AllowedHosts = []string{""} },
		"origin with a path": func(c *gateway.Config) { c.AllowedOrigins = []string{"https://example.com/app"} },
		"origin without one": func(c *gateway.Config) { c.AllowedOrigins = []string{"example.com"} },
	} {
		cfg := gateway.DefaultConfig()
		cfg.Listen = "127.0.0.1:0"
		mutate(&cfg)
		if err := gateway.Run(context.Background(), cfg, n.Conn, nil); err == nil || !strings.Contains(err.Error(), "allowed") {
			t.Errorf("%s: %v, want a startup error", name, err)
		}
	}
}
