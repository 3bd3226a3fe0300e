// Package figures holds what the benchmarks in tools/ share to print their
// results: ratios between two measured figures, each with an optional
// target and a met / not met mark, as plain text and as Markdown.
package figures

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Target is a bound a ratio should respect; both bounds are inclusive.
type Target struct {
	AtMost bool // the ratio must be <= Limit (else >= Limit)
	Limit  float64
}

// AtLeast is the target ratio >= v.
func AtLeast(v float64) *Target { return &Target{Limit: v} }

// AtMost is the target ratio <= v.
func AtMost(v float64) *Target { return &Target{AtMost: true, Limit: v} }

// Met reports whether v respects the target; a value that is not a finite
// number (a division by zero, a missing figure) never does.
func (t Target) Met(v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	if t.AtMost {
		return v <= t.Limit
	}
	return v >= t.Limit
}

func (t Target) String() string {
	if t.AtMost {
		return "at most " + strconv.FormatFloat(t.Limit, 'g', -1, 64)
	}
	return "at least " + strconv.FormatFloat(t.Limit, 'g', -1, 64)
}

// Ratio is Num / Den, named, with an optional target and an optional detail
// (the two figures it divides, as a reader should see them).
type Ratio struct {
	Name     string
	Num, Den float64
	Target   *Target
	Detail   string
}

// Value is Num / Den, NaN when Den is zero or a figure is missing.
func (r Ratio) Value() float64 {
	if r.Den == 0 || math.IsNaN(r.Num) || math.IsNaN(r.Den) {
		return math.NaN()
	}
	return r.Num / r.Den
}

// Mark is "met" or "NOT MET" against the target, empty without one.
func (r Ratio) Mark() string {
	switch {
	case r.Target == nil:
		return ""
	case r.Target.Met(r.Value()):
		return "met"
	default:
		return "NOT MET"
	}
}

// TargetText is the target in words, empty without one.
func (r Ratio) TargetText() string {
	if r.Target == nil {
		return ""
	}
	return r.Target.String()
}

// Value formats a ratio: two decimals, three below 0.1 (a target of 0.1
// must not read 0.10 for 0.104), "n/a" when it is not a finite number.
func Value(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "n/a"
	case math.Abs(v) < 0.1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// Text lays the ratios out as an aligned plain-text table.
func Text(rs []Ratio) string {
	if len(rs) == 0 {
		return "   no ratios: fewer than two systems measured\n"
	}
	rows := [][]string{{"ratio", "value", "target", "this run", "from"}}
	for _, r := range rs {
		rows = append(rows, []string{r.Name, Value(r.Value()), r.TargetText(), r.Mark(), r.Detail})
	}
	return Columns(rows)
}

// Markdown lays the ratios out as a Markdown table.
func Markdown(rs []Ratio) string {
	var b strings.Builder
	b.WriteString("| ratio | value | target | this run | from |\n|---|---:|---|---|---|\n")
	for _, r := range rs {
		mark := r.Mark()
		if mark != "" {
			mark = "**" + mark + "**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Name, Value(r.Value()), r.TargetText(), mark, r.Detail)
	}
	return b.String()
}

// Columns aligns rows of cells in columns two spaces apart, each line
// indented by three spaces and without trailing spaces.
func Columns(rows [][]string) string {
	var width []int
	for _, row := range rows {
		for i, c := range row {
			if i == len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		var line strings.Builder
		line.WriteString("   ")
		for i, c := range row {
			line.WriteString(c)
			if i < len(row)-1 {
				line.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))+2))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteString("\n")
	}
	return b.String()
}
