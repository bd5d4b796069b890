package server

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3 document of the routes (routeTable); the tests
// check that the two list the same operations.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the API's OpenAPI 3 document (JSON). The caller must
// not modify it.
func OpenAPI() []byte { return openAPI }

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
