package server

import "net/http"

// route is one registered endpoint: the mux pattern is "METHOD path".
type route struct {
	method  string
	path    string
	handler http.HandlerFunc
}

func (r route) pattern() string { return r.method + " " + r.path }

// routeTable lists every endpoint. The OpenAPI document describes exactly
// these (checked by the tests).
func (s *Server) routeTable() []route {
	return []route{
		{"GET", "/healthz", s.handleHealth},
		{"GET", "/readyz", s.handleReady},
		{"GET", "/metrics", s.handleMetrics},
		{"GET", "/v1/openapi.json", s.handleOpenAPI},

		{"POST", "/v1/mobs", s.handleCreateMob},
		{"GET", "/v1/mobs", s.handleListMobs},
		{"GET", "/v1/mobs/{mob}", s.handleGetMob},
		{"DELETE", "/v1/mobs/{mob}", s.handleDestroyMob},
		{"POST", "/v1/mobs/{mob}/lifecycle", s.handleLifecycle},

		{"GET", "/v1/mobs/{mob}/members", s.handleListMembers},
		{"POST", "/v1/mobs/{mob}/members", s.handleSpawn},
		{"GET", "/v1/mobs/{mob}/members/{member}", s.handleGetMember},
		{"DELETE", "/v1/mobs/{mob}/members/{member}", s.handleRetire},
		{"POST", "/v1/mobs/{mob}/members/{member}/respawn", s.handleRespawn},
		{"POST", "/v1/mobs/{mob}/members/{member}/wire", s.handleWire},
		{"POST", "/v1/mobs/{mob}/members/{member}/unwire", s.handleUnwire},
		{"POST", "/v1/mobs/{mob}/members/{member}/send", s.handleSend},

		{"GET", "/v1/mobs/{mob}/flows", s.handleListFlows},
		{"GET", "/v1/mobs/{mob}/flows/{flow}", s.handleGetFlow},
		{"POST", "/v1/mobs/{mob}/flows/{flow}/runs", s.handleStartRun},
		{"GET", "/v1/mobs/{mob}/runs", s.handleListRuns},
		{"GET", "/v1/mobs/{mob}/runs/{run}", s.handleGetRun},
		{"GET", "/v1/mobs/{mob}/runs/{run}/graph", s.handleRunGraph},
		{"POST", "/v1/mobs/{mob}/runs/{run}/cancel", s.handleCancelRun},
		{"POST", "/v1/mobs/{mob}/runs/{run}/steps/{step}/decision", s.handleDecide},

		{"POST", "/v1/sessions", s.handleCreateSession},
		{"GET", "/v1/sessions", s.handleListSessions},
		{"GET", "/v1/sessions/{session}", s.handleGetSession},
		{"POST", "/v1/sessions/{session}/turns", s.handleTurn},
		{"POST", "/v1/sessions/{session}/turns/stream", s.handleStreamTurn},
		{"GET", "/v1/sessions/{session}/history", s.handleHistory},
		{"POST", "/v1/sessions/{session}/archive", s.handleArchive},

		{"GET", "/v1/runtimes", s.handleRuntimes},
		{"GET", "/v1/events", s.handleEvents},
	}
}
