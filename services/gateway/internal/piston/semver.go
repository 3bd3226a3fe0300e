package piston

import (
	"strconv"
	"strings"
)

// Piston picks a runtime with node-semver's satisfies(version, range). This is
// the subset of npm's range grammar that clients send: exact versions ("3.10.0",
// "=3.10.0", "v3.10.0"), "*" / "x" / "", x-ranges and partial versions ("3",
// "3.x", "3.10", "3.10.*"), comparators (">=3.8 <3.12"), caret ("^3.10.0"),
// tilde ("~3.10"), hyphen ranges ("3.8 - 3.11") and alternatives ("2.x || 3.x").
// Pre-release tags are ignored. A range that does not parse matches nothing,
// as in node-semver.

// semverVersion is major.minor.patch; missing parts of a runtime version are 0.
type semverVersion [3]int

func parseRuntimeVersion(s string) (semverVersion, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	s, _, _ = strings.Cut(s, "+")
	s, _, _ = strings.Cut(s, "-")
	var v semverVersion
	parts := strings.Split(s, ".")
	if len(parts) == 0 || parts[0] == "" {
		return v, false
	}
	for i := 0; i < len(parts) && i < 3; i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

func (v semverVersion) cmp(o semverVersion) int {
	for i := range v {
		if v[i] != o[i] {
			if v[i] < o[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// partial is a version in a range: n of its parts are given (0 to 3), the
// rest are wildcards.
type partial struct {
	v semverVersion
	n int
}

func parsePartial(s string) (partial, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "v"), "=")
	s, _, _ = strings.Cut(s, "+")
	s, _, _ = strings.Cut(s, "-")
	var p partial
	if s == "" {
		return p, true
	}
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return p, false
	}
	for i, part := range parts {
		if part == "x" || part == "X" || part == "*" {
			for _, rest := range parts[i+1:] {
				if rest != "x" && rest != "X" && rest != "*" {
					return p, false
				}
			}
			return p, true
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return p, false
		}
		p.v[i] = n
		p.n = i + 1
	}
	return p, true
}

// bound is one comparison against a full version.
type bound struct {
	op string // ">=", ">", "<", "<=", "="
	v  semverVersion
}

func (b bound) ok(v semverVersion) bool {
	c := v.cmp(b.v)
	switch b.op {
	case ">=":
		return c >= 0
	case ">":
		return c > 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	}
	return c == 0
}

// never is a bound no version satisfies.
var never = bound{op: "<", v: semverVersion{0, 0, 0}}

// next returns the smallest version above every version matching p's given
// parts (1.2 → 1.3.0, 1 → 2.0.0).
func (p partial) next() semverVersion {
	v := p.v
	switch p.n {
	case 1:
		return semverVersion{v[0] + 1, 0, 0}
	case 2:
		return semverVersion{v[0], v[1] + 1, 0}
	}
	return semverVersion{v[0], v[1], v[2] + 1}
}

// comparator turns one operator and partial version into bounds.
func comparator(op string, p partial) []bound {
	if p.n == 0 {
		switch op {
		case "<", ">":
			return []bound{never}
		}
		return nil // anything
	}
	switch op {
	case "", "=":
		if p.n == 3 {
			return []bound{{"=", p.v}}
		}
		return []bound{{">=", p.v}, {"<", p.next()}}
	case ">=":
		return []bound{{">=", p.v}}
	case ">":
		if p.n == 3 {
			return []bound{{">", p.v}}
		}
		return []bound{{">=", p.next()}}
	case "<":
		return []bound{{"<", p.v}}
	case "<=":
		if p.n == 3 {
			return []bound{{"<=", p.v}}
		}
		return []bound{{"<", p.next()}}
	case "~":
		upper := partial{v: p.v, n: min(p.n, 2)}
		return []bound{{">=", p.v}, {"<", upper.next()}}
	case "^":
		v := p.v
		var upper semverVersion
		switch {
		case v[0] > 0 || p.n == 1:
			upper = semverVersion{v[0] + 1, 0, 0}
		case v[1] > 0 || p.n == 2:
			upper = semverVersion{0, v[1] + 1, 0}
		default:
			upper = semverVersion{0, 0, v[2] + 1}
		}
		return []bound{{">=", v}, {"<", upper}}
	}
	return []bound{never}
}

// parseRangeSet parses one alternative (no "||") into bounds.
func parseRangeSet(s string) ([]bound, bool) {
	fields := strings.Fields(s)
	// Hyphen range: "a - b".
	if len(fields) == 3 && fields[1] == "-" {
		lo, ok1 := parsePartial(fields[0])
		hi, ok2 := parsePartial(fields[2])
		if !ok1 || !ok2 {
			return nil, false
		}
		var out []bound
		if lo.n > 0 {
			out = append(out, bound{">=", lo.v})
		}
		switch {
		case hi.n == 3:
			out = append(out, bound{"<=", hi.v})
		case hi.n > 0:
			out = append(out, bound{"<", hi.next()})
		}
		return out, true
	}
	var out []bound
	for i := 0; i < len(fields); i++ {
		tok := fields[i]
		op := ""
		for _, cand := range []string{">=", "<=", ">", "<", "=", "~>", "~", "^"} {
			if strings.HasPrefix(tok, cand) {
				op, tok = cand, tok[len(cand):]
				break
			}
		}
		if op == "~>" {
			op = "~"
		}
		if tok == "" && op != "" && i+1 < len(fields) { // ">= 1.2.3"
			i++
			tok = fields[i]
		}
		p, ok := parsePartial(tok)
		if !ok {
			return nil, false
		}
		out = append(out, comparator(op, p)...)
	}
	return out, true
}

// semverSatisfies reports whether version is in the range, like node-semver's
// satisfies for release versions.
func semverSatisfies(version, rng string) bool {
	if strings.TrimSpace(rng) == version { // also versions that are not SemVer ("3.1.2.0")
		return true
	}
	v, ok := parseRuntimeVersion(version)
	if !ok {
		return strings.TrimSpace(rng) == version || strings.TrimSpace(rng) == "*"
	}
	for _, alt := range strings.Split(rng, "||") {
		bounds, ok := parseRangeSet(alt)
		if !ok {
			continue
		}
		all := true
		for _, b := range bounds {
			if !b.ok(v) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}
