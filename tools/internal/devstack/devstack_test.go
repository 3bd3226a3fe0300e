package devstack

import (
	"strings"
	"testing"
)

func TestParseModes(t *testing.T) {
	for in, want := range map[string]string{
		"namespace,container": "namespace,container",
		" container , gvisor": "container,gvisor",
		"none":                "",
		"":                    "",
	} {
		got, err := ParseModes(in)
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("ParseModes(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"namespace,namespace", "docker", "namespace,"} {
		if got, err := ParseModes(in); err == nil {
			t.Errorf("ParseModes(%q) = %v, want an error", in, got)
		}
	}
}
