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
	var p Policy
	blocked := []string{"127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "169.254.0.1", "0.0.0.0", "0.1.2.3", "100.64.0.1", "224.0.0.1", "255.255.255.255",
		"::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe"}
	open := []string{"8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "172.32.0.1", "100.128.0.1"}
	for _, s := range blocked {
		if p.allowed(netip.MustParseAddr(s)) {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range open {
		if !p.allowed(netip.MustParseAddr(s)) {
			t.Errorf("%s blocked", s)
		}
	}
	p.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	if !p.allowed(netip.MustParseAddr("127.0.0.1")) || !p.allowed(netip.MustParseAddr("10.9.9.9")) || p.allowed(netip.MustParseAddr("127.0.0.2")) {
		t.Error("the allow-list is not applied exactly")
	}
}

func TestCheck(t *testing.T) {
	p := Policy{Secret: "s", TenantSecrets: map[string]string{"t": "x"}}
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
	if err := (Policy{}).Check("default", "https://example.com/"); err == nil || !strings.Contains(err.Error(), "AIRLOCK_CALLBACK_SECRET") {
		t.Errorf("no secret: %v", err)
	}
	if err := (Policy{TenantSecrets: map[string]string{"t": "x"}}).Check("t", "https://example.com/"); err != nil {
		t.Errorf("a tenant secret is enough: %v", err)
	}
}

func TestClientRefusesInternalAfterResolution(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	// A name, not a literal: only the check at dial time can catch it.
	_, err := (Policy{}).Client(5 * time.Second).Get("http://localhost:" + port + "/")
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("localhost: %v, want ErrBlocked", err)
	}
	allowed := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	if resp, err := allowed.Client(5 * time.Second).Get("http://localhost:" + port + "/"); err != nil {
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
	p := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, redirector.URL, nil)
	resp, err := p.Client(5 * time.Second).Do(req)
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
