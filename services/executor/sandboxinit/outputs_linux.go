package sandboxinit

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// collectFiles returns a tar of the named files of dir, each a plain
// relative path (the contracts checked them). Every component is opened
// with O_NOFOLLOW, directories with O_DIRECTORY, the file with O_NONBLOCK
// (a FIFO cannot block the init) and is kept only if fstat says it is a
// regular file: no link is ever followed, and nothing outside dir is read.
// A file that is missing, not regular, or whose contents would take the
// contents kept past max less the tar's overhead (OutputFilesTarMax) is
// left out; the others are kept. The program's processes are all gone
// by now (the init killed them), so nothing changes under it.
func collectFiles(dir string, names []string, max int64) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	contentMax, kept := max-outputFilesOverhead(len(names)), int64(0)
	for _, name := range names {
		f := openBeneath(dir, name)
		if f == nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(int(f.Fd()), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			f.Close()
			continue
		}
		size := st.Size
		if max > 0 && kept+size > contentMax {
			f.Close()
			continue
		}
		data, err := io.ReadAll(io.LimitReader(f, size))
		f.Close()
		if err != nil || int64(len(data)) != size {
			continue
		}
		if tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size}) != nil {
			break
		}
		if _, err := tw.Write(data); err != nil {
			break
		}
		kept += size
		if tw.Flush() != nil {
			break
		}
	}
	if tw.Close() != nil {
		return nil
	}
	return buf.Bytes()
}

// openBeneath opens dir/name one component at a time without following a
// link; nil when any component is missing, a link, or of the wrong kind.
func openBeneath(dir, name string) *os.File {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	parts := strings.Split(name, "/")
	for i, p := range parts {
		flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i < len(parts)-1 {
			flags |= unix.O_DIRECTORY
		} else {
			flags |= unix.O_NONBLOCK
		}
		if p == "" || p == "." || p == ".." {
			unix.Close(fd)
			return nil
		}
		next, err := unix.Openat(fd, p, flags, 0)
		unix.Close(fd)
		if err != nil {
			return nil
		}
		fd = next
	}
	return os.NewFile(uintptr(fd), name)
}
