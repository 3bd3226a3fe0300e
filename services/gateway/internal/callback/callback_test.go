package callback

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestAllowed(t *testing.T) {
	var p Rules
	blocked := []string{"127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "169.254.0.1", "0.0.0.0", "0.1.2.3", "100.64.0.1", "224.0.0.1", "255.255.255.255",
		"::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe"}
	open := []string{"8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "172.32.0.1", "100.128.0.1"}
	at := func(s string, port uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(s), port) }
	for _, s := range blocked {
		if p.allowed("default", at(s, 443)) {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range open {
		if !p.allowed("default", at(s, 8443)) {
			t.Errorf("%s blocked", s)
		}
	}
	p.Allow = mustRules(t, "127.0.0.1/32:*,10.0.0.0/8")
	if !p.allowed("default", at("127.0.0.1", 9)) || !p.allowed("default", at("10.9.9.9", 80)) || p.allowed("default", at("127.0.0.2", 80)) {
		t.Error("the allow-list is not applied exactly")
	}
}

func mustRules(t *testing.T, s string) []Rule {
	t.Helper()
	rules, err := ParseRules(s)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func TestParseRules(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8":                           "10.0.0.0/8",
		" 10.1.2.3/8 , 192.168.0.0/16":         "10.0.0.0/8,192.168.0.0/16",
		"acme@10.0.0.0/8:8080+9090":            "acme@10.0.0.0/8:8080+9090",
		"fd00::/8:8443,team_2@::1/128:*":       "fd00::/8:8443,team_2@::1/128:*",
		"127.0.0.1/32:443, acme@172.16.0.0/12": "127.0.0.1/32:443,acme@172.16.0.0/12",
		"":                                     "",
	} {
		rules, err := ParseRules(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		var got []string
		for _, r := range rules {
			got = append(got, r.String())
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%q: read as %q, want %q", in, strings.Join(got, ","), want)
		}
	}
	for in, msg := range map[string]string{
		"10.0.0.1":                 "not a network",
		"10.0.0.0/33":              "not a network",
		"acme@":                    "not a network",
		"bad tenant@10.0.0.0/8":    "not a tenant",
		"@10.0.0.0/8":              "not a tenant",
		"10.0.0.0/8:":              "not a port",
		"10.0.0.0/8:0":             "not a port",
		"10.0.0.0/8:65536":         "not a port",
		"10.0.0.0/8:80,90":         "not a network",
		"10.0.0.0/8:http":          "not a port",
		"acme@10.0.0.0/8:8080+x":   "not a port",
		"10.0.0.0/8,example.com/8": "not a network",
	} {
		_, err := ParseRules(in)
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "TENANT@") {
			t.Errorf("%q: %v, want an error saying %q and the syntax", in, err, msg)
		}
	}
}

// TestRulesPerTenantAndPort: a rule opens its network only to its tenant,
// and only on its ports (80 and 443 when it names none), at submission and
// again when the delivery connects.
func TestRulesPerTenantAndPort(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	p := Rules{Secret: "s", Allow: mustRules(t, "alice@127.0.0.0/8:"+port+",10.0.0.0/8,bob@192.168.0.0/16:8080")}
	for _, tc := range []struct {
		tenant, url string
		ok          bool
	}{
		{"alice", srv.URL + "/hook", true},
		{"bob", srv.URL + "/hook", false},     // alice's range
		{"default", srv.URL + "/hook", false}, // alice's range
		{"alice", "http://127.0.0.1/hook", false},
		{"bob", "http://10.1.2.3/hook", true},
		{"bob", "https://10.1.2.3/hook", true},
		{"bob", "http://10.1.2.3:8080/hook", false}, // not 80 or 443
		{"bob", "http://10.1.2.3:22/hook", false},
		{"bob", "http://192.168.1.1:8080/hook", true},
		{"bob", "http://192.168.1.1/hook", false},
		{"alice", "http://192.168.1.1:8080/hook", false},
		{"bob", "http://93.184.216.34:8080/hook", true}, // public: any port
	} {
		err := p.Check(tc.tenant, tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("%s %s: %v, want allowed %v", tc.tenant, tc.url, err, tc.ok)
		}
		if !tc.ok && !errors.Is(err, ErrBlocked) {
			t.Errorf("%s %s: %v, want ErrBlocked", tc.tenant, tc.url, err)
		}
	}
	// By name: only the dial-time check sees the address.
	byName := "http://localhost:" + port + "/hook"
	if resp, err := p.Client("alice", 5*time.Second).Get(byName); err != nil {
		t.Errorf("alice, her own range: %v", err)
	} else {
		resp.Body.Close()
	}
	for _, tenant := range []string{"bob", "default"} {
		if _, err := p.Client(tenant, 5*time.Second).Get(byName); !errors.Is(err, ErrBlocked) {
			t.Errorf("%s reached alice's range: %v, want ErrBlocked", tenant, err)
		}
	}
	// Without ports a rule opens only 80 and 443, not the receiver's port.
	if _, err := (Rules{Allow: mustRules(t, "127.0.0.0/8")}).Client("alice", 5*time.Second).Get(byName); !errors.Is(err, ErrBlocked) {
		t.Errorf("port %s through a rule without ports: %v, want ErrBlocked", port, err)
	}
}

func TestCheck(t *testing.T) {
	p := Rules{Secret: "s", TenantSecrets: map[string]string{"t": "x"}}
	for raw, ok := range map[string]bool{
		"https://example.com/hook":       true,
		"http://example.com:8080/a?b=c":  true,
		"ftp://example.com/":             false,
		"/relative":                      false,
		"https://user:pw@example.com/":   false,
		"http://10.0.0.1/":               false,
		"http://[::1]:80/":               false,
		"http://169.254.169.254/latest/": false,
	} {
		if err := p.Check("default", raw); (err == nil) != ok {
			t.Errorf("%s: %v", raw, err)
		}
	}
	if err := (Rules{}).Check("default", "https://example.com/"); err == nil || !strings.Contains(err.Error(), "AIRLOCK_CALLBACK_SECRET") {
		t.Errorf("no secret: %v", err)
	}
	if err := (Rules{TenantSecrets: map[string]string{"t": "x"}}).Check("t", "https://example.com/"); err != nil {
		t.Errorf("a tenant secret is enough: %v", err)
	}
}

func TestClientRefusesInternalAfterResolution(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	// A name, not a literal: only the check at dial time can catch it.
	_, err := (Rules{}).Client("default", 5*time.Second).Get("http://localhost:" + port + "/")
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("localhost: %v, want ErrBlocked", err)
	}
	allowed := Rules{Allow: mustRules(t, "127.0.0.0/8:*,::1/128:*")}
	if resp, err := allowed.Client("default", 5*time.Second).Get("http://localhost:" + port + "/"); err != nil {
		t.Fatalf("allow-listed: %v", err)
	} else {
		resp.Body.Close()
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	hits := 0
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	p := Rules{Allow: mustRules(t, "127.0.0.0/8:*")}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, redirector.URL, nil)
	resp, err := p.Client("default", 5*time.Second).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || hits != 0 {
		t.Errorf("status %d, target hit %d times: a redirect was followed", resp.StatusCode, hits)
	}
}

func TestSign(t *testing.T) {
	at := time.Unix(1700000000, 0)
	got := Sign("secret", at, []byte(`{"id":"x"}`))
	// printf '%s' '1700000000.{"id":"x"}' | openssl dgst -sha256 -hmac secret
	want := "t=1700000000,v1=2f7852138f9dbd8d61c07c2cfb0b8ac96a46a32d78d4527788fb42fcb409a493"
	if got != want {
		t.Fatalf("signature %q, want %q", got, want)
	}
	if Sign("secret", at, []byte(`{"id":"y"}`)) == got || Sign("other", at, []byte(`{"id":"x"}`)) == got {
		t.Error("the signature does not depend on the body and the secret")
	}
}
