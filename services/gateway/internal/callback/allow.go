package callback

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/airlockrun/airlock/contracts"
)

// defaultPorts are the ports a Rule opens when it names none.
var defaultPorts = []uint16{80, 443}

// Rule opens an internal network to callbacks: the addresses of Prefix, on
// Ports, for Tenant.
type Rule struct {
	// Tenant is the only tenant the rule is for ("": every tenant).
	Tenant string
	Prefix netip.Prefix
	// Ports are the ports it opens (nil: 80 and 443); AnyPort opens all.
	Ports   []uint16
	AnyPort bool
}

// String writes the rule in the syntax ParseRules reads.
func (r Rule) String() string {
	s := r.Prefix.String()
	if r.Tenant != "" {
		s = r.Tenant + "@" + s
	}
	switch {
	case r.AnyPort:
		return s + ":*"
	case r.Ports != nil:
		ports := make([]string, len(r.Ports))
		for i, p := range r.Ports {
			ports[i] = strconv.Itoa(int(p))
		}
		return s + ":" + strings.Join(ports, "+")
	}
	return s
}

// permits reports whether the rule lets tenant's callbacks connect to ap.
func (r Rule) permits(tenant string, ap netip.AddrPort) bool {
	if r.Tenant != "" && r.Tenant != tenant {
		return false
	}
	if !r.Prefix.Contains(ap.Addr()) {
		return false
	}
	if r.AnyPort {
		return true
	}
	ports := r.Ports
	if ports == nil {
		ports = defaultPorts
	}
	return slices.Contains(ports, ap.Port())
}

// RuleSyntax describes what ParseRules reads, for error messages and help.
const RuleSyntax = `[TENANT@]CIDR[:PORTS], comma-separated; PORTS is "*" or ports joined by "+" (default 80+443), e.g. "acme@10.0.0.0/8:8080+9090,192.168.1.0/24"`

// ParseRules reads comma-separated rules of the form [TENANT@]CIDR[:PORTS]
// (see RuleSyntax): "10.0.0.0/8" opens ports 80 and 443 of that network to
// every tenant, "acme@10.1.2.3/32:8080+9090" ports 8080 and 9090 of one
// address to the tenant acme only, "fd00::/8:*" every port.
func ParseRules(s string) ([]Rule, error) {
	var rules []Rule
	for _, entry := range strings.Split(s, ",") {
		if entry = strings.TrimSpace(entry); entry == "" {
			continue
		}
		r, err := parseRule(entry)
		if err != nil {
			return nil, fmt.Errorf("%q: %w (want %s)", entry, err, RuleSyntax)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func parseRule(entry string) (Rule, error) {
	var r Rule
	rest := entry
	if tenant, after, ok := strings.Cut(entry, "@"); ok {
		if !contracts.ValidTenant(tenant) {
			return r, fmt.Errorf("%q is not a tenant name (letters, digits, - and _)", tenant)
		}
		r.Tenant, rest = tenant, after
	}
	// The port list follows the prefix length, so an IPv6 prefix's own
	// colons are never mistaken for it.
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return r, fmt.Errorf("%q is not a network like 10.0.0.0/8", rest)
	}
	cidr, ports, hasPorts := rest, "", false
	if i := strings.IndexByte(rest[slash:], ':'); i >= 0 {
		cidr, ports, hasPorts = rest[:slash+i], rest[slash+i+1:], true
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return r, fmt.Errorf("%q is not a network like 10.0.0.0/8", cidr)
	}
	r.Prefix = p.Masked()
	if !hasPorts {
		return r, nil
	}
	if ports == "*" {
		r.AnyPort = true
		return r, nil
	}
	for _, ps := range strings.Split(ports, "+") {
		n, err := strconv.ParseUint(strings.TrimSpace(ps), 10, 16)
		if err != nil || n == 0 {
			return r, fmt.Errorf("%q is not a port (1-65535)", ps)
		}
		r.Ports = append(r.Ports, uint16(n))
	}
	return r, nil
}
