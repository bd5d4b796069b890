package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// noRedirects sends a request without following a redirect, and returns
// the status and body of the first answer.
func (f *fixture) noRedirects(method, path string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequestWithContext(testCtx(f.t), method, f.ts.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	c := *f.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestUncleanPathsAreRefused checks that a path with an empty, "." or
// ".." segment (plain or percent-encoded) is a 400 invalid_request, not
// ServeMux's 307 to the cleaned path, which a client follows with the same
// method: DELETE /v1/mobs/research/members/.. destroyed the mob research.
func TestUncleanPathsAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	f.withMob()
	// What a client that follows redirects (Go's, the CLI's) made of it:
	// the mob is still there.
	for _, p := range []string{"/v1/mobs/research/members/..", "/v1/mobs/research/members/lead/../.."} {
		status, body := f.do("DELETE", p, "", "")
		if code, _ := errCode(t, body); status != 400 || code != CodeInvalidRequest {
			t.Errorf("DELETE %s: %d %s, want 400 %s", p, status, body, CodeInvalidRequest)
		}
		f.must(200, "GET", "/v1/mobs/research", "", "")
	}
	for _, c := range []struct{ method, path string }{
		{"DELETE", "/v1/mobs/research/members/.."},
		{"DELETE", "/v1/mobs/research/members/."},
		{"DELETE", "/v1/mobs/research/members/%2E%2E"},
		{"DELETE", "/v1/mobs/research/members/%2e."},
		{"DELETE", "/v1/mobs/research/members/lead/.."},
		{"DELETE", "/v1/mobs//research"},
		{"DELETE", "/v1/mobs/research/"},
		{"POST", "/v1/mobs/research/runs/r1/../../lifecycle"},
		{"POST", "/v1/mobs/research/./lifecycle"},
		{"GET", "/v1//mobs"},
		{"GET", "/v1/mobs/research/members/./lead"},
		{"GET", "/console/../v1/mobs"},
		{"POST", "/v1/sessions/%2E%2E/archive"},
	} {
		status, body := f.noRedirects(c.method, c.path)
		if c.path == "/v1/mobs/research/" { // a trailing slash is no cleaning: no route
			if status != 404 {
				t.Errorf("%s %s: %d %s, want 404", c.method, c.path, status, body)
			}
			continue
		}
		if status != 400 || !strings.Contains(body, CodeInvalidRequest) || !strings.Contains(body, "segment") {
			t.Errorf("%s %s: %d %s, want 400 %s", c.method, c.path, status, body, CodeInvalidRequest)
		}
	}
	// Nothing was done: the mob runs with its two members.
	var mobs []MobSummary
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs", "", "")), &mobs)
	if len(mobs) != 1 || mobs[0].ID != "research" || mobs[0].Members != 2 || mobs[0].State != "running" {
		t.Fatalf("mobs after unclean paths: %+v", mobs)
	}
	// Dots within a segment, and an encoded '/', are ids like any other.
	for _, p := range []string{"/v1/mobs/research/members/lead.", "/v1/mobs/research/members/...", "/v1/mobs/research/members/a%2F.."} {
		status, body := f.noRedirects("GET", p)
		if code, _ := errCode(t, body); status != 404 || code != CodeMemberNotFound {
			t.Errorf("GET %s: %d %s, want 404 %s", p, status, body, CodeMemberNotFound)
		}
	}
}

// TestCanonicalPathMatchesServeMux checks that canonicalPath refuses every
// path ServeMux would redirect to its cleaned form.
func TestCanonicalPathMatchesServeMux(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(http.ResponseWriter, *http.Request) {})
	for _, p := range []string{
		"/", "/v1", "/v1/", "/v1/mobs", "/v1/mobs/", "//", "///v1", "/v1//mobs", "/v1/mobs//", "/.", "/..", "/./",
		"/../", "/v1/.", "/v1/..", "/v1/./mobs", "/v1/../mobs", "/v1/mobs/..", "/v1/mobs/.../x", "/v1/mobs/.x",
		"/v1/mobs/x.", "/v1/mobs/%2E", "/v1/mobs/a%2F..", "/v1/mobs/%2F", "/v1/mobs/a%20b",
	} {
		req := httptest.NewRequest("DELETE", p, nil)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		redirects := rec.Code == http.StatusTemporaryRedirect || rec.Code == http.StatusMovedPermanently
		if redirects && canonicalPath(req.URL.EscapedPath()) {
			t.Errorf("ServeMux redirects %s (%d), canonicalPath lets it through", p, rec.Code)
		}
		if !redirects && !canonicalPath(req.URL.EscapedPath()) && !strings.Contains(strings.ToUpper(p), "%2E") {
			t.Errorf("canonicalPath refuses %s, which ServeMux serves", p)
		}
	}
}

// TestDotIDsAreRefused checks that no id is "." or "..", nor has such a
// part between its '/'s: an id is a segment of the API's paths, where
// those name the segment's parent.
func TestDotIDsAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	f.withMob()
	var cases []refusal
	for _, id := range []string{".", "..", "../x", "a/./b", "a/.."} {
		if !strings.Contains(id, "/") { // an identity has no '/' anyway
			cases = append(cases, refusal{"agent_identity " + id, "POST", "/v1/mobs/research/members", "",
				`{"profile":"lead","agent_identity":"` + id + `"}`, 400, CodeInvalidRequest, ""})
		}
		cases = append(cases,
			refusal{"run_id " + id, "POST", "/v1/mobs/research/flows/brief/runs", "", `{"run_id":"` + id + `"}`, 400, CodeInvalidRequest, ""},
			refusal{"definition id " + id, "POST", "/v1/mobs", "application/json", strings.Replace(testDef, `"research"`, `"`+id+`"`, 1), 422, CodeInvalidDefinition, "id"})
	}
	f.refusals(t, cases)
	var mobs []MobSummary
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs", "", "")), &mobs)
	if len(mobs) != 1 || mobs[0].ID != "research" || mobs[0].Members != 2 || mobs[0].Runs != 0 {
		t.Fatalf("mobs after refused ids: %+v", mobs)
	}
	// Dots that are not a whole part are fine.
	f.must(201, "POST", "/v1/mobs/research/members", "", `{"profile":"lead","agent_identity":"...lead."}`)
	f.must(201, "POST", "/v1/mobs/research/flows/brief/runs", "", `{"run_id":"a/.../b."}`)
	f.must(200, "GET", "/v1/mobs/research/members/...lead.", "", "")
	f.must(200, "GET", "/v1/mobs/research/runs/a%2F...%2Fb.", "", "")
}
