// Command catalog writes docs/languages.md from the built-in language catalog.
//
//	go run ./services/executor/cmd/catalog doc [-o docs/languages.md] [-keep-versions]
//
// The versions column is read from the images: for every language the
// generator runs its catalog `version` argv in its image (docker run, as uid
// 65534, read-only, no network: the executor's sandbox conditions) and keeps
// the first version number, exactly as the executor does for GET
// /v1/runtimes. With -keep-versions it takes them from the existing file
// instead (no Docker needed; for catalog edits that touch no toolchain).
//
// Two tests keep the file honest: TestDocUpToDate (this package, no Docker)
// regenerates it with the versions it lists and fails on any difference, and
// the end-to-end TestLanguages (cmd/airlock) fails when a version it lists
// is not what the live executor reads from the image.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/airlockrun/airlock/services/executor/internal/catalog"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "doc" {
		fmt.Fprintln(os.Stderr, "usage: catalog doc [-o docs/languages.md] [-keep-versions]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("doc", flag.ExitOnError)
	out := fs.String("o", "docs/languages.md", "file to write")
	keep := fs.Bool("keep-versions", false, "take the versions from the existing file instead of the images")
	_ = fs.Parse(os.Args[2:])
	if err := run(*out, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "catalog doc:", err)
		os.Exit(1)
	}
}

func run(out string, keep bool) error {
	cat, err := catalog.Load("")
	if err != nil {
		return err
	}
	var versions map[string]string
	if keep {
		old, err := os.ReadFile(out)
		if err != nil {
			return err
		}
		versions = ParseVersions(old)
	} else {
		versions, err = imageVersions(cat)
		if err != nil {
			return err
		}
	}
	doc, err := Render(cat, versions)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, doc, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d languages)\n", out, len(cat.Languages))
	return nil
}

// imageVersions runs every language's version command in its image.
func imageVersions(cat *catalog.Catalog) (map[string]string, error) {
	versions := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	sem := make(chan struct{}, 4)
	for _, l := range cat.Languages {
		wg.Add(1)
		go func(l *catalog.Language) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			v, err := imageVersion(l)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", l.Name, err))
				return
			}
			versions[l.Name] = v
		}(l)
	}
	wg.Wait()
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	if len(errs) > 0 {
		errs = append(errs, errors.New("build the images first: go tool task images (or use -keep-versions)"))
	}
	return versions, errors.Join(errs...)
}

func imageVersion(l *catalog.Language) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"run", "--rm", "--network", "none", "--user", "65534:65534", "--read-only",
		"--tmpfs", "/tmp:rw,exec,size=64m", "--tmpfs", "/work:rw,exec,size=64m,uid=65534,gid=65534,mode=0700",
		"-w", "/work", "--memory", "512m", "--memory-swap", "512m", "--pids-limit", "65", "--cpus", "1"}
	for _, e := range l.FullEnv {
		args = append(args, "-e", e)
	}
	args = append(append(args, l.Image), l.Version...)
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v: %s", strings.Join(l.Version, " "), err, strings.TrimSpace(buf.String()))
	}
	v := catalog.ParseVersion(buf.String())
	if v == "" {
		return "", fmt.Errorf("no version in the output of %s: %q", strings.Join(l.Version, " "), buf.String())
	}
	return v, nil
}
