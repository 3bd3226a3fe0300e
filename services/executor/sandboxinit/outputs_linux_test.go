package sandboxinit

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCollectFiles: only regular files named, reached without following a
// link, within the cap; a FIFO does not block.
func TestCollectFiles(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("out.txt", "hello\n")
	write("sub/deep.txt", "deep")
	write("big.bin", strings.Repeat("x", 3000))
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "link.txt")))
	must(os.Symlink(outside, filepath.Join(dir, "linkdir")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	must(os.Mkdir(filepath.Join(dir, "adir"), 0o755))

	names := []string{"out.txt", "link.txt", "linkdir/secret", "fifo", "adir", "missing", "sub/deep.txt", "big.bin"}
	got := untar(t, collectFiles(dir, names, 0))
	if len(got) != 3 || got["out.txt"] != "hello\n" || got["sub/deep.txt"] != "deep" || len(got["big.bin"]) != 3000 {
		t.Errorf("collected %v", keys(got))
	}
	// Contents capped at 3000 bytes: out.txt and sub/deep.txt fit, and
	// big.bin would take them past it.
	max := OutputFilesTarMax(3000, len(names))
	b := collectFiles(dir, names, max)
	got = untar(t, b)
	if len(got) != 2 || got["out.txt"] != "hello\n" || got["sub/deep.txt"] != "deep" {
		t.Errorf("contents capped at 3000 bytes: %v", keys(got))
	}
	if int64(len(b)) > max {
		t.Errorf("a tar of %d bytes past the bound %d", len(b), max)
	}
	if got := untar(t, collectFiles(dir, []string{"big.bin"}, OutputFilesTarMax(3000, 1))); len(got["big.bin"]) != 3000 {
		t.Errorf("a file of exactly the cap left out: %v", keys(got))
	}
}

func untar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	got := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		got[h.Name] = string(data)
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
