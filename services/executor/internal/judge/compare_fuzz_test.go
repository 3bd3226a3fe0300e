package judge

import (
	"testing"

	"github.com/airlockrun/airlock/contracts"
)

// FuzzEqual compares arbitrary outputs in every mode: no panic, every mode
// is reflexive and symmetric, and each mode is at least as lenient as the
// one before it: exact ⇒ trim ⇒ tokens ⇒ float.
func FuzzEqual(f *testing.F) {
	f.Add("1 2\n", "1 2", 0.0, 0.0)
	f.Add("3.14159\r\n\n", "3.1416  ", 1e-3, 0.0)
	f.Add("NaN inf -Inf", "nan +Inf -inf", 0.0, 0.0)
	f.Add("1e308 -0", "1e309 0", 0.0, 1e-9)
	f.Add("a\u00a0b\u2028", "a b", 0.5, -1.0)
	f.Add("0x1p-2 1_000", "0.25 1000", 0.0, 0.0)
	modes := []contracts.CompareMode{contracts.CompareExact, contracts.CompareTrim, contracts.CompareTokens, contracts.CompareFloat}
	f.Fuzz(func(t *testing.T, got, want string, absTol, relTol float64) {
		var eq [4]bool
		for i, m := range modes {
			eq[i] = Equal(m, got, want, absTol, relTol)
			if Equal(m, want, got, absTol, relTol) != eq[i] {
				t.Fatalf("%s: not symmetric for %q and %q", m, got, want)
			}
			if !Equal(m, got, got, absTol, relTol) {
				t.Fatalf("%s: %q differs from itself", m, got)
			}
		}
		if Equal("", got, want, absTol, relTol) != eq[1] {
			t.Fatal("the empty mode is not trim")
		}
		for i := 0; i+1 < len(eq); i++ {
			if eq[i] && !eq[i+1] {
				t.Fatalf("%q and %q equal under %s but not under %s", got, want, modes[i], modes[i+1])
			}
		}
	})
}
