// Package console is mobd's web console: static HTML, CSS and JavaScript
// (ES modules, no build step) embedded in the binary and served by the
// daemon next to its API. The page talks to the API like any client: it
// asks for the bearer token once, keeps it in the tab's sessionStorage and
// sends it on every request, event streams included (they are read with
// fetch, not EventSource, so the token travels in the Authorization
// header and never in a URL).
//
// The assets hold no data and no secret, so Handler serves them without
// authentication; everything the page shows comes from the API, which
// requires the token.
package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed assets
var assets embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// contentTypes maps the extensions of the assets to their media types
// (not left to the platform's MIME table: a JavaScript module served
// with the wrong type does not run).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".ico":  "image/x-icon",
}

// csp allows the page its own scripts, styles and API, and nothing else.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler returns the handler of the console's files, to be mounted with
// its prefix stripped: "/" and "/index.html" serve the page, other paths
// the asset of that name, and a missing asset is a plain 404. Responses
// carry an ETag (a hash of the content) and revalidate on every load, so a
// new mobd binary's console is picked up at once; they forbid framing and
// set a restrictive Content-Security-Policy.
func Handler() http.Handler {
	files := map[string]*asset{}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree always has assets/
	}
	_ = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		ctype := contentTypes[path.Ext(p)]
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		files["/"+p] = &asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		if p == "" || p == "/" {
			p = "/index.html"
		}
		a := files[p]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", csp)
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(a.body)
	})
}
