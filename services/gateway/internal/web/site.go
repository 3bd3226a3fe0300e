package web

import (
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/airlockrun/airlock/contracts"
)

// localHosts are the Host names an anonymous gateway serves by default,
// on any port.
func localHosts() []string { return []string{"localhost", "127.0.0.1", "::1"} }

// SiteGuard keeps web pages of other sites away from the API:
//
//  1. Host: only the configured names are served, so that a page whose
//     name was rebound to the gateway's address (DNS rebinding) is refused
//     and cannot read answers. Probes are exempt (an orchestrator asks by
//     address).
//  2. Origin: a browser sends a POST with a text/plain, form or multipart
//     body (or none) to another site without asking first (no CORS
//     preflight), and the Piston API reads text/plain, Judge0's form bodies.
//     Such a request with an Origin that is neither the gateway's own nor
//     allowed is refused. JSON bodies need a preflight, which the gateway
//     never grants, so the browser does not send them.
type SiteGuard struct {
	anyHost bool
	hosts   []hostPort // port "" matches any port

	anyOrigin bool
	origins   []hostPort // scheme, host and port of each allowed origin
}

// hostPort is a host name or address (lower case, no brackets) and a port.
type hostPort struct{ scheme, host, port string }

// NewSiteGuard reads the allowed hosts ("*": any; nil: localHosts when the
// gateway is anonymous, any host with API keys) and origins ("*": any).
func NewSiteGuard(hosts, origins []string, anonymous bool) (*SiteGuard, error) {
	if hosts == nil {
		hosts = []string{"*"}
		if anonymous {
			hosts = localHosts()
		}
	}
	g := &SiteGuard{}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch {
		case h == "*":
			g.anyHost = true
		case h == "" || strings.ContainsAny(h, "/@ "):
			return nil, fmt.Errorf("allowed host %q: want a host name or address, with or without :port, or *", h)
		default:
			g.hosts = append(g.hosts, splitHost(h))
		}
	}
	for _, o := range origins {
		o = strings.TrimSpace(o)
		if o == "*" {
			g.anyOrigin = true
			continue
		}
		hp, ok := parseOrigin(o)
		if !ok {
			return nil, fmt.Errorf("allowed origin %q: want scheme://host[:port] such as https://app.example.com, or *", o)
		}
		g.origins = append(g.origins, hp)
	}
	return g, nil
}

// splitHost reads "host", "host:port", "[v6]" or "[v6]:port".
func splitHost(s string) hostPort {
	s = strings.ToLower(s)
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = s, ""
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	return hostPort{host: host, port: port}
}

// parseOrigin reads an Origin value: scheme://host[:port], the port filled
// in from the scheme.
func parseOrigin(s string) (hostPort, bool) {
	u, err := url.Parse(strings.ToLower(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return hostPort{}, false
	}
	port := u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	return hostPort{scheme: u.Scheme, host: strings.TrimSuffix(u.Hostname(), "."), port: port}, true
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// hostAllowed reports whether the Host header names this gateway.
func (g *SiteGuard) hostAllowed(host string) bool {
	if g.anyHost {
		return true
	}
	if host == "" {
		return false
	}
	got := splitHost(host)
	return slices.ContainsFunc(g.hosts, func(h hostPort) bool {
		return h.host == got.host && (h.port == "" || h.port == got.port)
	})
}

// crossSite reports whether r is a request a page of another site could
// have made without a preflight, from an origin that is not allowed.
func (g *SiteGuard) crossSite(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || g.anyOrigin {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	if !preflightFree(r.Header.Get("Content-Type")) {
		return false
	}
	o, ok := parseOrigin(origin)
	if !ok { // "null" (sandboxed frames, files) or junk
		return true
	}
	if slices.Contains(g.origins, o) {
		return false
	}
	// The gateway's own origin: the console's pages.
	own := splitHost(r.Host)
	if own.port == "" {
		own.port = defaultPort(o.scheme)
	}
	return o.host != own.host || o.port != own.port
}

// preflightFree reports whether a browser sends a body of this Content-Type
// to another site without a CORS preflight ("" too: a body without a type).
func preflightFree(contentType string) bool {
	if strings.TrimSpace(contentType) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return true // judged the strict way
	}
	return mt == "text/plain" || mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
}

// Middleware refuses other hosts and cross-site submissions with 403.
func (g *SiteGuard) Middleware(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probe := r.URL.Path == "/healthz" || r.URL.Path == "/readyz"
		if !probe && !g.hostAllowed(r.Host) {
			log.Debug("request refused: host not allowed", "host", r.Host, "path", r.URL.Path)
			WriteError(w, http.StatusForbidden, contracts.CodeForbidden, "",
				fmt.Sprintf("this gateway does not answer for the host %q: add it to --allowed-hosts (AIRLOCK_ALLOWED_HOSTS)", r.Host))
			return
		}
		if g.crossSite(r) {
			log.Debug("request refused: cross-site", "origin", r.Header.Get("Origin"), "path", r.URL.Path)
			WriteError(w, http.StatusForbidden, contracts.CodeForbidden, "",
				fmt.Sprintf("cross-site request refused: a %q body from the origin %q; send Content-Type: application/json, or add the origin to --allowed-origins (AIRLOCK_ALLOWED_ORIGINS)",
					r.Header.Get("Content-Type"), r.Header.Get("Origin")))
			return
		}
		next.ServeHTTP(w, r)
	})
}
