package main

import (
	"strings"
	"testing"
)

func TestParseExamples(t *testing.T) {
	readme := "# SDK\n\n```sh\npip install .\n```\n\n```python\nprint(1)\n```\n\nprints\n\n```text\n1\n```\n\n```python\nprint('a')\nprint('b')\n```\n```text\na\nb\n```\n"
	exs, err := parseExamples([]byte(readme))
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 2 {
		t.Fatalf("got %d examples, want 2: %+v", len(exs), exs)
	}
	if exs[0].code != "print(1)\n" || exs[0].want != "1\n" || exs[0].line != 7 {
		t.Errorf("first example: %+v", exs[0])
	}
	if exs[1].code != "print('a')\nprint('b')\n" || exs[1].want != "a\nb\n" {
		t.Errorf("second example: %+v", exs[1])
	}
}

func TestParseExamplesNeedsOutput(t *testing.T) {
	for _, readme := range []string{
		"```python\nprint(1)\n```\n",
		"```python\nprint(1)\n```\n```sh\necho\n```\n```text\n1\n```\n",
		"no examples\n",
	} {
		if _, err := parseExamples([]byte(readme)); err == nil {
			t.Errorf("no error for %q", readme)
		} else if !strings.Contains(err.Error(), "python") {
			t.Errorf("error %q does not say what is missing", err)
		}
	}
}
