package api

import (
	"bytes"
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

func TestBase64Helpers(t *testing.T) {
	for in, want := range map[string]string{
		"aGVsbG8=":         "hello",
		"aGVsbG8":          "hello",
		"aGVs\nbG8=\n":     "hello",
		"aGVsbG8=garbage":  "hello",
		"_-8=":             "\xff\xef",
		"":                 "",
		"a":                "",
		"SnVkZ2Uw":         "Judge0",
		"SGVsbG8sIFdvcmxk": "Hello, World",
	} {
		if got := decodeBase64Lenient(in); !bytes.Equal(got, []byte(want)) {
			t.Errorf("decode(%q) = %q, want %q", in, got, want)
		}
	}
	long := bytes.Repeat([]byte("x"), 50)
	want := "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4\neHh4eHg=\n"
	if got := encodeBase64Lines(long); got != want {
		t.Errorf("encode 50 bytes = %q, want %q", got, want)
	}
	if got := encodeBase64Lines(nil); got != "" {
		t.Errorf("encode nothing = %q", got)
	}
}
