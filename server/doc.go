// Package server is the daemon's HTTP API: mobs, members, flow runs,
// sessions and runtimes under /v1, live events over Server-Sent Events
// resumable from the journal, health and readiness probes, Prometheus
// metrics and the OpenAPI document of all of it.
//
// # Shape
//
// Every route is versioned under /v1 and speaks JSON. Request bodies are
// decoded strictly (unknown fields are refused) and bounded in size;
// failures are typed errors of the form
//
//	{"error": {"code": "mob_not_found", "message": "…"}}
//
// with the 4xx status that fits (see [APIError]). A request is validated
// completely before anything is changed, so a refused request has no
// effect.
//
// # Events
//
// GET /v1/events streams the journal: every event's SSE id is its journal
// cursor, so a client that reconnects with Last-Event-ID (or ?after=)
// resumes exactly after the last event it saw, with nothing missed and
// nothing repeated. Each subscriber is one goroutine, the request's own,
// ended by the request's context or by [Server.Drain].
//
// # Concurrency
//
// A [Server] is safe for concurrent use. It owns the mobs it serves: Close
// closes them (their runs stay resumable in the journal).
package server
