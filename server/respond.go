package server

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// writeJSON writes v as the JSON body of a response with status.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	if err := enc.Encode(v); err != nil {
		s.log.Debug("write response", zap.Error(err))
	}
}

// writeError writes err as a typed error response.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	if ae.Status >= 500 {
		s.log.Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path),
			zap.String("request_id", requestID(r.Context())), zap.Error(err))
	}
	s.writeJSON(w, ae.Status, errorBody{Error: ae})
}

// readBody reads a request body of at most the server's limit; a larger
// one is a 413.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, apiErr(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "request body larger than %d bytes", mbe.Limit)
	}
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, CodeInvalidRequest, "read request body: %v", err)
	}
	return data, nil
}

// decode decodes a JSON request body into v strictly: one JSON value,
// no unknown fields, at most the size limit. An empty body decodes as {}.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return apiErr(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "content type %q: expected application/json", ct)
		}
	}
	data, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		data = []byte("{}")
	}
	return decodeStrict(data, v)
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown
// fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
			return apiErr(http.StatusBadRequest, CodeInvalidJSON, "invalid JSON: %v", err)
		case errors.As(err, &te):
			return apiErr(http.StatusBadRequest, CodeInvalidRequest, "field %q: expected %s", te.Field, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return apiErr(http.StatusBadRequest, CodeInvalidRequest, "%s", strings.TrimPrefix(err.Error(), "json: "))
		default:
			return apiErr(http.StatusBadRequest, CodeInvalidJSON, "invalid JSON: %v", err)
		}
	}
	// Anything but white space after the value is refused. dec.More
	// would miss a stray ']' or '}', which it takes for the end of an
	// enclosing array or object.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apiErr(http.StatusBadRequest, CodeInvalidJSON, "invalid JSON: data after the value")
	}
	return nil
}

// required reports a missing required field as a 400.
func required(name, value string) error {
	if strings.TrimSpace(value) == "" {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, "field %q is required", name)
	}
	return nil
}
