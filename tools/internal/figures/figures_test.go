package figures

import (
	"math"
	"strings"
	"testing"
)

func TestTargetMet(t *testing.T) {
	for _, c := range []struct {
		t    *Target
		v    float64
		want bool
	}{
		{AtLeast(5), 5, true},
		{AtLeast(5), 4.99, false},
		{AtLeast(5), 12, true},
		{AtMost(0.1), 0.1, true},
		{AtMost(0.1), 0.1001, false},
		{AtMost(0.1), 0.05, true},
		{AtMost(2), math.NaN(), false},
		{AtLeast(5), math.Inf(1), false},
	} {
		if got := c.t.Met(c.v); got != c.want {
			t.Errorf("%s met by %v = %v, want %v", c.t, c.v, got, c.want)
		}
	}
}

func TestRatio(t *testing.T) {
	r := Ratio{Name: "x", Num: 30, Den: 6, Target: AtLeast(5)}
	if r.Value() != 5 || r.Mark() != "met" {
		t.Errorf("30/6 against at least 5: %v %q", r.Value(), r.Mark())
	}
	r = Ratio{Name: "x", Num: 45, Den: 226, Target: AtMost(0.1)}
	if r.Mark() != "NOT MET" || Value(r.Value()) != "0.20" {
		t.Errorf("45/226 against at most 0.1: %s %q", Value(r.Value()), r.Mark())
	}
	r = Ratio{Name: "x", Num: 3, Den: 0, Target: AtMost(2)}
	if !math.IsNaN(r.Value()) || r.Mark() != "NOT MET" || Value(r.Value()) != "n/a" {
		t.Errorf("division by zero: %v %q", r.Value(), r.Mark())
	}
	if s := AtMost(0.1).String(); s != "at most 0.1" {
		t.Errorf("AtMost(0.1) reads %q", s)
	}
	if m := (Ratio{Num: 1, Den: 2}).Mark(); m != "" {
		t.Errorf("no target marked %q", m)
	}
}

func TestValue(t *testing.T) {
	for v, want := range map[float64]string{0.104: "0.10", 0.0734: "0.073", 5.004: "5.00", 12.345: "12.35", 0: "0.000"} {
		if got := Value(v); got != want {
			t.Errorf("Value(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestTables(t *testing.T) {
	rs := []Ratio{
		{Name: "c=8 throughput, namespace / docker run", Num: 40, Den: 7, Target: AtLeast(5), Detail: "40.0/s / 7.0/s"},
		{Name: "p50", Num: 1, Den: 4},
	}
	text := Text(rs)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("text table has %d lines:\n%s", len(lines), text)
	}
	// The value column starts at the same place on every line.
	col := strings.Index(lines[0], "value")
	if !strings.HasPrefix(lines[1][col:], "5.71") || !strings.HasPrefix(lines[2][col:], "0.25") {
		t.Errorf("values not aligned under the header:\n%s", text)
	}
	if !strings.Contains(lines[1], "at least 5  met       40.0/s / 7.0/s") {
		t.Errorf("target, mark and detail missing: %q", lines[1])
	}
	for _, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing space: %q", l)
		}
	}
	md := Markdown(rs)
	if !strings.Contains(md, "| c=8 throughput, namespace / docker run | 5.71 | at least 5 | **met** | 40.0/s / 7.0/s |\n") ||
		!strings.Contains(md, "| p50 | 0.25 |  |  |  |\n") {
		t.Errorf("markdown:\n%s", md)
	}
}
