package server

import (
	"net/http"
	"strings"

	"github.com/mobd-dev/mobd/console"
)

// consolePrefix is where the web console is served; "/" redirects there.
const consolePrefix = "/console/"

// mountConsole serves the web console (package console) under
// consolePrefix and redirects the root to it. These routes are not part
// of the /v1 API (nor of its OpenAPI document).
func (s *Server) mountConsole(mux *http.ServeMux) {
	mux.Handle("GET "+consolePrefix, http.StripPrefix(strings.TrimSuffix(consolePrefix, "/"), console.Handler()))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, consolePrefix, http.StatusFound)
	})
}

// consoleAsset reports whether a request is for the console's static
// files, which are served without a token: they hold no data, and the page
// must load before it can ask for the token. Everything the page shows
// comes from the API, which still requires the token.
func consoleAsset(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	return p == "/" || p == strings.TrimSuffix(consolePrefix, "/") || strings.HasPrefix(p, consolePrefix)
}
