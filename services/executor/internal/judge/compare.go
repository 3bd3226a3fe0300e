// Package judge compares a program's output with the expected output.
package judge

import (
	"math"
	"strconv"
	"strings"

	"github.com/airlockrun/airlock/contracts"
)

// DefaultTolerance is used by the float mode when no tolerance is given.
const DefaultTolerance = 1e-6

// Equal reports whether got matches want under mode (empty mode: trim).
func Equal(mode contracts.CompareMode, got, want string, absTol, relTol float64) bool {
	switch mode {
	case contracts.CompareExact:
		return got == want
	case contracts.CompareTokens:
		return tokensEqual(strings.Fields(got), strings.Fields(want), nil)
	case contracts.CompareFloat:
		if absTol == 0 && relTol == 0 {
			absTol, relTol = DefaultTolerance, DefaultTolerance
		}
		return tokensEqual(strings.Fields(got), strings.Fields(want), func(a, b string) bool {
			return floatEqual(a, b, absTol, relTol)
		})
	default:
		return trim(got) == trim(want)
	}
}

// trim normalises line ends to \n, removes trailing spaces and tabs from
// every line, and removes trailing blank lines.
func trim(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r\f\v")
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

func tokensEqual(a, b []string, eq func(x, y string) bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		if eq == nil || !eq(a[i], b[i]) {
			return false
		}
	}
	return true
}

// floatEqual treats two tokens that both parse as numbers as equal when they
// differ by at most absTol or by at most relTol times the larger magnitude.
// NaN equals only NaN; infinities equal only the same infinity.
func floatEqual(a, b string, absTol, relTol float64) bool {
	x, errX := strconv.ParseFloat(a, 64)
	y, errY := strconv.ParseFloat(b, 64)
	if errX != nil || errY != nil {
		return false
	}
	switch {
	case math.IsNaN(x) || math.IsNaN(y):
		return math.IsNaN(x) && math.IsNaN(y)
	case math.IsInf(x, 0) || math.IsInf(y, 0):
		return x == y
	}
	diff := math.Abs(x - y)
	return diff <= absTol || diff <= relTol*math.Max(math.Abs(x), math.Abs(y))
}
