package runner

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/airlockrun/airlock/contracts"
)

// outputFiles reads the tar the sandbox's init made of the request's output
// files. Only regular entries with a name the request asked for are kept,
// in the request's order; anything else in the tar is an error (the init
// writes nothing else). A file the program did not leave (or left as a
// link, a directory, or too big) is absent.
func outputFiles(archive []byte, names []string) ([]contracts.OutputFile, error) {
	if len(archive) == 0 {
		return nil, nil
	}
	found := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read output files: %w", err)
		}
		if h.Typeflag != tar.TypeReg || !slices.Contains(names, h.Name) || found[h.Name] != nil {
			return nil, fmt.Errorf("output files: unexpected entry %q (type %c)", h.Name, h.Typeflag)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read output file %s: %w", h.Name, err)
		}
		found[h.Name] = data
	}
	var files []contracts.OutputFile
	for _, name := range names {
		data, ok := found[name]
		if !ok {
			continue
		}
		f := contracts.OutputFile{Name: name, Content: string(data), Encoding: "utf8"}
		if !utf8.Valid(data) {
			f.Content, f.Encoding = base64.StdEncoding.EncodeToString(data), "base64"
		}
		files = append(files, f)
	}
	return files, nil
}
