// Package console serves the web console: a playground at / and a live
// fleet view at /console/fleet, plain HTML, CSS and JavaScript embedded in
// the binary (no build step, no request leaves the gateway). The pages and
// their assets are served without an API key (Public); the API calls the
// pages make send the key the user typed, kept in the browser's
// localStorage.
package console

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/airlockrun/airlock/contracts"
	"github.com/airlockrun/airlock/services/gateway/internal/web"
)

// The pages and their assets are embedded in the binary.
//
//go:embed console
var files embed.FS

// assetsPrefix is where the console's scripts, styles and icon live.
const assetsPrefix = "/console/assets/"

// Public reports whether path is a console page or asset, which answer
// without an API key.
func Public(path string) bool {
	return path == "/" || path == "/console/fleet" || strings.HasPrefix(path, assetsPrefix)
}

// csp keeps the pages to their own origin: no inline script, no
// third-party anything, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Console serves the console's pages and assets.
type Console struct {
	// start is the modification time of the embedded files (embed.FS has
	// none): when the console was built, so a new binary invalidates
	// caches.
	start time.Time
}

// New builds the console.
func New() *Console { return &Console{start: time.Now()} }

// Register adds the console's pages and assets to mux.
func (c *Console) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", c.handlePage("index.html"))
	mux.HandleFunc("/{$}", web.MethodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /console/fleet", c.handlePage("fleet.html"))
	mux.HandleFunc("/console/fleet", web.MethodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET "+assetsPrefix, c.handleAsset)
}

// handlePage serves one of the console's HTML pages.
func (c *Console) handlePage(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.serve(w, r, path.Join("console", name))
	}
}

// handleConsoleAsset serves /console/assets/<file>; anything that is not a
// file there (a directory, a missing file, a path with ..) is the API's JSON
// 404.
func (c *Console) handleAsset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, assetsPrefix)
	if name == "" || !fs.ValidPath(name) {
		notFound(w, r)
		return
	}
	c.serve(w, r, path.Join("console/assets", name))
}

func (c *Console) serve(w http.ResponseWriter, r *http.Request, name string) {
	data, err := files.ReadFile(name)
	if err != nil { // missing, or a directory
		notFound(w, r)
		return
	}
	h := w.Header()
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// Revalidate every time: cheap (Last-Modified), and a new gateway version
	// is picked up at once.
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, c.start, bytes.NewReader(data))
}

func notFound(w http.ResponseWriter, r *http.Request) {
	web.WriteError(w, http.StatusNotFound, contracts.CodeNotFound, "", fmt.Sprintf("no such endpoint: %s", r.URL.Path))
}
