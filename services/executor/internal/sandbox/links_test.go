package sandbox_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/airlockrun/airlock/services/executor/internal/sandbox"
)

// The published judge escapes (Judge0 CVE-2024-28185, -28189) came from a
// host process following a link the program planted in its sandbox. Airlock's
// host side reads no path of a sandbox: files go in and the build comes out
// as tar streams over the attach connection, packed and unpacked by the init
// inside the container. These tests plant links for both directions.
func TestPlantedLinks(t *testing.T) { forRuntimes(t, testPlantedLinks) }

func testPlantedLinks(t *testing.T, rt string, r *sandbox.Launcher) {
	t.Run("collect skips links and special files", func(t *testing.T) {
		// A compile stage that plants every kind of link it can.
		s := spec("bash", "-c", strings.Join([]string{
			"echo ok > real",
			"mkdir -p sub/deeper && echo inner > sub/deeper/file",
			"ln -s /etc/passwd passwd",
			"ln -s /.airlock/init init",
			"ln -s / root",
			"ln -s ../../../../../../etc sub/up",
			"ln -s /proc/1/environ sub/deeper/environ",
			"ln real hard",                                // a hard link inside /work: a plain copy
			"ln /.airlock/init hardinit 2>/dev/null || :", // across file systems: refused by the kernel
			"ln /etc/passwd hardpasswd 2>/dev/null || :",
			"mkfifo fifo",
			"echo planted",
		}, "; "))
		s.Collect, s.CollectMax = true, 1<<20
		out, err := r.Run(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if out.InitError != "" || out.ExitCode != 0 || string(out.Stdout) != "planted\n" {
			t.Fatalf("exit=%d initErr=%q stdout=%q stderr=%q", out.ExitCode, out.InitError, out.Stdout, out.Stderr)
		}
		entries := map[string]string{}
		tr := tar.NewReader(bytes.NewReader(out.Artifacts))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeDir {
				t.Errorf("entry %q of type %c (link %q) in the build", h.Name, h.Typeflag, h.Linkname)
			}
			body, _ := io.ReadAll(tr)
			entries[h.Name] = string(body)
		}
		want := map[string]string{"real": "ok\n", "hard": "ok\n", "sub/": "", "sub/deeper/": "", "sub/deeper/file": "inner\n"}
		for name, body := range want {
			if got, ok := entries[name]; !ok || got != body {
				t.Errorf("entry %q = %q (present %v), want %q", name, got, ok, body)
			}
		}
		for name, body := range entries {
			if _, ok := want[name]; !ok {
				t.Errorf("unexpected entry %q (%d bytes)", name, len(body))
			}
			if strings.Contains(body, "root:") || strings.Contains(body, "PATH=") {
				t.Errorf("entry %q carries content from outside /work", name)
			}
		}
	})

	t.Run("unpack refuses links, escapes and devices", func(t *testing.T) {
		cases := []struct {
			name string
			hdr  tar.Header
		}{
			{"symlink", tar.Header{Typeflag: tar.TypeSymlink, Name: "main.sh", Linkname: "/etc/passwd"}},
			{"hard link", tar.Header{Typeflag: tar.TypeLink, Name: "main.sh", Linkname: "/.airlock/init"}},
			{"parent escape", tar.Header{Typeflag: tar.TypeReg, Name: "../escape", Size: 1}},
			{"nested escape", tar.Header{Typeflag: tar.TypeReg, Name: "a/../../escape", Size: 1}},
			{"absolute", tar.Header{Typeflag: tar.TypeReg, Name: "/tmp/abs", Size: 1}},
			{"char device", tar.Header{Typeflag: tar.TypeChar, Name: "null", Devmajor: 1, Devminor: 3}},
			{"fifo", tar.Header{Typeflag: tar.TypeFifo, Name: "fifo"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var buf bytes.Buffer
				tw := tar.NewWriter(&buf)
				h := tc.hdr
				h.Mode = 0o644
				if err := tw.WriteHeader(&h); err != nil {
					t.Fatal(err)
				}
				if h.Size > 0 {
					_, _ = tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
				}
				_ = tw.Close()
				s := spec("bash", "-c", "echo ran")
				s.Files = buf.Bytes()
				out, err := r.Run(context.Background(), s)
				if err != nil {
					t.Fatal(err)
				}
				if out.InitError == "" || strings.Contains(string(out.Stdout), "ran") {
					t.Errorf("unpacked and ran: exit=%d initErr=%q stdout=%q", out.ExitCode, out.InitError, out.Stdout)
				}
			})
		}
	})
}
