package api

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
)

// The web console: a playground at / and a live fleet view at
// /console/fleet, plain HTML, CSS and JavaScript embedded in the binary (no
// build step, no request leaves the gateway). The pages and their assets are
// served without an API key (see exempt); the API calls the pages make send
// the key the user typed, kept in the browser's localStorage.
//
//go:embed console
var consoleFiles embed.FS

// consoleAssetsPrefix is where the console's scripts, styles and icon live.
const consoleAssetsPrefix = "/console/assets/"

// consolePath reports whether path is a console page or asset, which answer
// without an API key.
func consolePath(path string) bool {
	return path == "/" || path == "/console/fleet" || strings.HasPrefix(path, consoleAssetsPrefix)
}

// consoleCSP keeps the pages to their own origin: no inline script, no
// third-party anything, no framing.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleStart is the modification time of the embedded files (embed.FS has
// none): the start of the process, so a new binary invalidates caches.
var consoleStart = time.Now()

// handleConsolePage serves one of the console's HTML pages.
func handleConsolePage(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		serveConsoleFile(w, r, path.Join("console", name))
	}
}

// handleConsoleAsset serves /console/assets/<file>; anything that is not a
// file there (a directory, a missing file, a path with ..) is the API's JSON
// 404.
func handleConsoleAsset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, consoleAssetsPrefix)
	if name == "" || !fs.ValidPath(name) {
		consoleNotFound(w, r)
		return
	}
	serveConsoleFile(w, r, path.Join("console/assets", name))
}

func serveConsoleFile(w http.ResponseWriter, r *http.Request, name string) {
	data, err := consoleFiles.ReadFile(name)
	if err != nil { // missing, or a directory
		consoleNotFound(w, r)
		return
	}
	h := w.Header()
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// Revalidate every time: cheap (Last-Modified), and a new gateway version
	// is picked up at once.
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, consoleStart, bytes.NewReader(data))
}

func consoleNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, contracts.CodeNotFound, "", fmt.Sprintf("no such endpoint: %s", r.URL.Path))
}
