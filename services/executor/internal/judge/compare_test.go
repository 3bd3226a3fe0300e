package judge

import (
	"strings"
	"testing"

	"github.com/airlockrun/airlock/contracts"
)

func TestEqual(t *testing.T) {
	long := strings.Repeat("abc ", 500000) // a 2 MB line
	cases := []struct {
		mode      contracts.CompareMode
		got, want string
		equal     bool
	}{
		// exact
		{contracts.CompareExact, "1 2\n", "1 2\n", true},
		{contracts.CompareExact, "1 2", "1 2\n", false},
		{contracts.CompareExact, "1 2 \n", "1 2\n", false},
		{contracts.CompareExact, "", "", true},
		{contracts.CompareExact, "a\r\n", "a\n", false},
		{contracts.CompareExact, long, long, true},
		{contracts.CompareExact, long + "x", long, false},
		// trim (also the default)
		{contracts.CompareTrim, "1 2\n", "1 2\n", true},
		{contracts.CompareTrim, "1 2", "1 2\n", true},
		{contracts.CompareTrim, "1 2  \t\n\n\n", "1 2", true},
		{contracts.CompareTrim, "a\r\nb\r\n", "a\nb\n", true},
		{contracts.CompareTrim, " 1 2", "1 2", false},
		{contracts.CompareTrim, "1  2", "1 2", false},
		{contracts.CompareTrim, "A", "a", false},
		{contracts.CompareTrim, "a\n\nb", "a\nb", false},
		{contracts.CompareTrim, "", "", true},
		{contracts.CompareTrim, "\n\n", "", true},
		{contracts.CompareTrim, "", "0", false},
		{contracts.CompareTrim, long + "  \n", long, true},
		{"", "x \n", "x", true},
		// tokens
		{contracts.CompareTokens, "1   2\n3", "1 2 3", true},
		{contracts.CompareTokens, " 1\t2 ", "1 2", true},
		{contracts.CompareTokens, "1 2", "1 2 3", false},
		{contracts.CompareTokens, "", "", true},
		{contracts.CompareTokens, "", "\n", true},
		{contracts.CompareTokens, "1.0", "1", false},
		{contracts.CompareTokens, long, strings.ReplaceAll(long, " ", "\n"), true},
		// float
		{contracts.CompareFloat, "0.3333333", "0.333333333", true},
		{contracts.CompareFloat, "0.33", "0.333333333", false},
		{contracts.CompareFloat, "1e9 yes", "1000000000.0000001 yes", true},
		{contracts.CompareFloat, "1000000.5", "1000000.0", true}, // within the relative tolerance
		{contracts.CompareFloat, "1000.5", "1000.0", false},
		{contracts.CompareFloat, "nan", "NaN", true},
		{contracts.CompareFloat, "nan", "1", false},
		{contracts.CompareFloat, "inf", "+Inf", true},
		{contracts.CompareFloat, "inf", "-inf", false},
		{contracts.CompareFloat, "abc", "abd", false},
		{contracts.CompareFloat, "1 2", "1", false},
		{contracts.CompareFloat, "", "", true},
	}
	for _, tc := range cases {
		name := string(tc.mode) + ":" + tc.got + "|" + tc.want
		if len(name) > 60 {
			name = name[:60]
		}
		if got := Equal(tc.mode, tc.got, tc.want, 0, 0); got != tc.equal {
			t.Errorf("%q: Equal = %v, want %v", name, got, tc.equal)
		}
	}
}

func TestFloatTolerances(t *testing.T) {
	if !Equal(contracts.CompareFloat, "1.05", "1", 0.1, 0) {
		t.Error("absolute tolerance 0.1 should accept 1.05 for 1")
	}
	if Equal(contracts.CompareFloat, "1.05", "1", 0.01, 0) {
		t.Error("absolute tolerance 0.01 should reject 1.05 for 1")
	}
	if !Equal(contracts.CompareFloat, "1010", "1000", 0, 0.01) {
		t.Error("relative tolerance 1% should accept 1010 for 1000")
	}
	if Equal(contracts.CompareFloat, "1011", "1000", 0, 0.01) {
		t.Error("relative tolerance 1% should reject 1011 for 1000")
	}
}
