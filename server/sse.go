package server

import (
	"bytes"
	"fmt"
	"net/http"
)

// sseWriter writes Server-Sent Events and flushes each one.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE sends the headers of an event stream.
func startSSE(w http.ResponseWriter) (*sseWriter, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: http.NewResponseController(w)}
	if err := s.rc.Flush(); err != nil {
		return nil, fmt.Errorf("server: event stream: %w", err)
	}
	return s, nil
}

// event writes one event and flushes it; id and name are left out when
// empty. data is written as one data line per line.
func (s *sseWriter) event(id, name string, data []byte) error {
	if err := s.write(id, name, data); err != nil {
		return err
	}
	return s.flush()
}

// flush sends what was written.
func (s *sseWriter) flush() error { return s.rc.Flush() }

// write writes one event without flushing it (see event).
func (s *sseWriter) write(id, name string, data []byte) error {
	var b bytes.Buffer
	if id != "" {
		fmt.Fprintf(&b, "id: %s\n", id)
	}
	if name != "" {
		fmt.Fprintf(&b, "event: %s\n", name)
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := s.w.Write(b.Bytes())
	return err
}

// comment writes a comment line (a heartbeat).
func (s *sseWriter) comment(text string) error {
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	return s.rc.Flush()
}
