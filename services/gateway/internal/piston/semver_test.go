package piston

import (
	"testing"
)

func TestSemverSatisfies(t *testing.T) {
	tests := []struct {
		version, rng string
		want         bool
	}{
		{"3.12.3", "*", true},
		{"3.12.3", "", true},
		{"3.12.3", "x", true},
		{"3.12.3", "3.12.3", true},
		{"3.12.3", "=3.12.3", true},
		{"3.12.3", "v3.12.3", true},
		{"3.12.3", "3.12.2", false},
		{"3.12.3", "3", true},
		{"3.12.3", "3.x", true},
		{"3.12.3", "3.12", true},
		{"3.12.3", "3.12.x", true},
		{"3.12.3", "3.12.*", true},
		{"3.12.3", "3.11", false},
		{"3.12.3", "2.x", false},
		{"3.12.3", "^3.10", true},
		{"3.12.3", "^3.13", false},
		{"3.12.3", "^4", false},
		{"0.4.2", "^0.4.0", true},
		{"0.5.0", "^0.4.0", false},
		{"0.0.4", "^0.0.3", false},
		{"3.12.3", "~3.12.0", true},
		{"3.12.3", "~3.11", false},
		{"3.12.3", "~3", true},
		{"3.12.3", ">=3.8 <4", true},
		{"3.12.3", ">= 3.8 < 3.12", false},
		{"3.12.3", ">3.12", false},
		{"3.13.0", ">3.12", true},
		{"3.12.3", "<=3.12", true},
		{"3.13.0", "<=3.12", false},
		{"3.12.3", "3.8 - 3.12", true},
		{"3.13.0", "3.8 - 3.12", false},
		{"3.12.3", "3.8.0 - 3.12.2", false},
		{"3.12.3", "2.x || 3.x", true},
		{"3.12.3", "2.x || 4.x", false},
		{"3.12.3", "latest", false},
		{"3.12.3", "3.1x", false},
		{"17", "17.0.0", true},
		{"17", "17", true},
		{"21.0.2+13", "21", true},
		{"1.22.2", "1.22", true},
		{"3.1.2.0", "3.1.2.0", true},
		{"3.1.2.0", "3.1.2", true},
		{"3.1.2.0", "3.x", true},
		{"3.1.2.0", "3.1.2.1", false},
	}
	for _, tc := range tests {
		if got := semverSatisfies(tc.version, tc.rng); got != tc.want {
			t.Errorf("satisfies(%q, %q) = %v, want %v", tc.version, tc.rng, got, tc.want)
		}
	}
}
