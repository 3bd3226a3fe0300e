// Package planted holds package-level state used every way: the lines
// marked "want" must be found, the others not.
package planted

import (
	"embed"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
)

// Allowed: read-only tables, sentinel errors, embedded files, sync.Once.
var (
	table    = map[string]int{"a": 1}
	ErrThing = errors.New("thing")
	//go:embed planted.go
	files embed.FS
	once  sync.Once
	limit = 3
)

var stdin io.Reader = os.Stdin

var counter int

var cache = map[string]string{}

type config struct{ name string }

var current config

func read() int {
	once.Do(func() {})
	_, _ = files.ReadFile("planted.go")
	n := table["a"] + limit
	if errors.Is(nil, ErrThing) {
		n++
	}
	var local int
	local++
	stdin := strings.NewReader("shadowed")
	_ = stdin
	return n + local
}

func swap(r io.Reader) {
	stdin = r // want assigned
}

func count() {
	counter++ // want incremented
}

func fill() {
	cache["x"] = "y" // want assigned
}

func rename() {
	current.name = "z" // want assigned
}

func ref() *int {
	return &counter // want address taken
}

func loop(xs []int) {
	for _, counter = range xs { // want assigned
	}
}
