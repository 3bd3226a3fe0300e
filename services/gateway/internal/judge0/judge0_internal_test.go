package judge0

import "testing"

func TestJudge0Args(t *testing.T) {
	tests := map[string][]string{
		"":                   nil,
		"  a  b ":            {"a", "b"},
		`"a b" 'c d' e\ f`:   {"a b", "c d", "e f"},
		`x; rm -rf / | cat`:  {"x", "rm", "-rf", "/", "cat"},
		`$(id) "q\"uote" ''`: {"(id)", `q"uote`, ""},
		"tab\tand\nnewline":  {"tab", "and", "newline"},
		`it's`:               {"its"},
	}
	for in, want := range tests {
		got := judge0Args(in)
		if len(got) != len(want) {
			t.Errorf("args(%q) = %q, want %q", in, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("args(%q) = %q, want %q", in, got, want)
				break
			}
		}
	}
}
