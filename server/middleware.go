package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

type ctxKey int

const requestIDKey ctxKey = iota

// requestID returns the request's id ("" outside a request).
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter records a response's status; it passes Flush through so
// that event streams work behind it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader implements http.ResponseWriter, recording the status.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// buildHandler assembles the mux and its middleware.
func (s *Server) buildHandler() http.Handler {
	mux := http.NewServeMux()
	api := http.NewServeMux() // the routes alone, to find a path's methods
	for _, rt := range s.routes {
		mux.HandleFunc(rt.pattern(), rt.handler)
		api.HandleFunc(rt.pattern(), rt.handler)
	}
	s.mountConsole(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := s.allowed(api, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, apiErr(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s %s: the route takes %s",
				r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		s.writeError(w, r, apiErr(http.StatusNotFound, CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
	})
	return s.observe(s.canonicalPaths(s.authenticate(mux)))
}

// canonicalPaths refuses, with a 400 invalid_request, a request whose
// path is not canonical: one with an empty segment ("//"), or a "." or
// ".." segment, plain or percent-encoded ("%2E%2E": RFC 3986 makes it the
// same segment, and a proxy may decode it). ServeMux would answer such a
// path with a 307 to its cleaned form, which a client follows with the
// same method: DELETE /v1/mobs/victim/members/.. would destroy the mob
// victim. No id is "." or ".." (mob refuses them), so such a path never
// names anything. A trailing slash, which ServeMux keeps, is not refused.
func (s *Server) canonicalPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.EscapedPath(); !canonicalPath(p) {
			s.writeError(w, r, apiErr(http.StatusBadRequest, CodeInvalidRequest,
				`path %q has an empty, "." or ".." segment: the API does not resolve such paths `+
					`(percent-encode every id in a path; no id is "." or "..")`, p))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// canonicalPath reports whether the escaped path p is one ServeMux does
// not clean (see cleanPath in net/http), and has no percent-encoded "."
// or ".." segment either.
func canonicalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		if seg == "" {
			if i == len(segs)-1 { // "/", or a trailing slash
				continue
			}
			return false
		}
		if u, err := url.PathUnescape(seg); seg == "." || seg == ".." || (err == nil && (u == "." || u == "..")) {
			return false
		}
	}
	return true
}

// allowed returns the methods the routes in api take for r's path (HEAD
// with GET), in the order the route table first names them, or none if no
// route has that path.
func (s *Server) allowed(api *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, rt := range s.routes {
		if slices.Contains(allow, rt.method) {
			continue
		}
		probe := &http.Request{Method: rt.method, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := api.Handler(probe); pattern != "" {
			allow = append(allow, rt.method)
			if rt.method == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	return allow
}

// observe gives each request an id, logs it and counts it by route and
// status.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		s.log.Debug("request", zap.String("request_id", id), zap.String("method", r.Method),
			zap.String("path", r.URL.Path), zap.String("route", route), zap.Int("status", sw.status),
			zap.Duration("took", time.Since(start)))
	})
}

// unauthenticated lists the paths served without a token: probes must work
// for orchestrators that hold no secret.
var unauthenticated = map[string]bool{"/healthz": true, "/readyz": true}

// authenticate requires the bearer token when one is configured, as
// "Authorization: Bearer <token>" with the scheme in any case (RFC 9110
// §11.1). The comparison is on SHA-256 digests in constant time, so
// neither the token's bytes nor its length leak through timing.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	want := sha256.Sum256([]byte(s.cfg.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unauthenticated[r.URL.Path] || consoleAsset(r) {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := bearerToken(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mobd"`)
			s.writeError(w, r, apiErr(http.StatusUnauthorized, CodeUnauthorized, "missing or invalid bearer token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of an Authorization header value of the
// Bearer scheme, whose name is case-insensitive (RFC 9110 §11.1), with the
// spaces around the token trimmed; ok is false for another scheme or none.
func bearerToken(header string) (token string, ok bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}
