package server

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes checks that every registered route is in the
// OpenAPI document and every operation of the document is registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, rt := range (&Server{}).routeTable() {
		if registered[rt.pattern()] {
			t.Errorf("route %s registered twice", rt.pattern())
		}
		registered[rt.pattern()] = true
		if !documented[rt.pattern()] {
			t.Errorf("route %s is not in the OpenAPI document", rt.pattern())
		}
	}
	for _, op := range slices.Sorted(maps.Keys(documented)) {
		if !registered[op] {
			t.Errorf("OpenAPI operation %s has no route", op)
		}
	}
}
