package compat

import (
	"bytes"
	"testing"
)

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
		if got := DecodeBase64Lenient(in); !bytes.Equal(got, []byte(want)) {
			t.Errorf("decode(%q) = %q, want %q", in, got, want)
		}
	}
	long := bytes.Repeat([]byte("x"), 50)
	want := "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4\neHh4eHg=\n"
	if got := EncodeBase64Lines(long); got != want {
		t.Errorf("encode 50 bytes = %q, want %q", got, want)
	}
	if got := EncodeBase64Lines(nil); got != "" {
		t.Errorf("encode nothing = %q", got)
	}
}
