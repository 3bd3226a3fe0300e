package console

import (
	"io/fs"
	"strings"
	"testing"
)

// The pages load nothing from elsewhere: every src and href is local.
func TestConsoleAssetsAreLocal(t *testing.T) {
	err := fs.WalkDir(files, "console", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		text := string(data)
		for _, bad := range []string{"http://", "https://", "//cdn", "@import"} {
			if i := strings.Index(text, bad); i >= 0 && !strings.HasPrefix(text[i:], "http://www.w3.org/2000/svg") {
				t.Errorf("%s refers to %q: %.80s", p, bad, text[i:])
			}
		}
		if strings.HasSuffix(p, ".html") && (strings.Contains(text, "style=") || strings.Contains(text, "<script>")) {
			t.Errorf("%s has inline style or script (the CSP forbids both)", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !Public("/") || !Public("/console/fleet") || !Public("/console/assets/x.js") ||
		Public("/v1/fleet") || Public("/console") || Public("/metrics") {
		t.Error("Public exempts the wrong paths")
	}
}
