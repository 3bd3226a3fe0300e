package judge0

import (
	"net/url"
	"slices"
	"strings"
)

// judge0Fields reads ?fields= like Fields::Base: comma-separated attribute
// names (not trimmed), "*" for all; unknown names are an error; none valid
// means the defaults.
func judge0Fields(q url.Values) ([]string, string) {
	raw := q.Get("fields")
	var names, invalid []string
	for _, f := range rubySplit(raw, ",") {
		if f == "*" {
			return judge0AllFields, ""
		}
		if slices.Contains(judge0AllFields, f) {
			names = append(names, f)
		} else {
			invalid = append(invalid, f)
		}
	}
	if len(invalid) > 0 {
		return nil, "invalid fields: [" + strings.Join(invalid, ", ") + "]"
	}
	if len(names) == 0 {
		return judge0DefaultFields, ""
	}
	// The serializer answers in its own attribute order.
	var ordered []string
	for _, f := range judge0AllFields {
		if slices.Contains(names, f) {
			ordered = append(ordered, f)
		}
	}
	return ordered, ""
}

// rubySplit is Ruby's String#split(sep): trailing empty strings are dropped.
func rubySplit(s, sep string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, sep)
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}
