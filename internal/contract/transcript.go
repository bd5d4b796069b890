package contract

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxReported caps how many failing lines ValidateTranscript spells out; the
// rest are counted in Report.Failed and summarised in one more error.
const maxReported = 200

// Report summarises a transcript check.
type Report struct {
	// Lines counts non-blank lines.
	Lines int
	// Skipped counts lines not validated: kind "garbage" and "injected":true.
	Skipped int
	// Failed counts validated lines that failed.
	Failed int
	// ByMethod counts validated lines (passing or not) per method; for a
	// response, the method of the request it answers ("" when unknown).
	ByMethod map[string]int
	// Unvalidated counts, per method, response lines that passed every
	// check that applies but whose result type has no schema anywhere.
	Unvalidated map[string]int
}

// ValidateTranscript validates every line of a transcript file: one JSON
// object per line,
//
//	{"kind":"response"|"notification"|"request"|"garbage","method":"…","msg":{…},"injected":bool,"raw":"…"}
//
// Lines of kind "garbage" and lines with "injected":true are skipped (they
// are deliberate faults). For other lines the message is "msg", or, when
// "msg" is absent, the text in "raw"; "method" is the request method for a
// response. The error joins one error per failing line, each naming the line
// number, kind, method and the schema error; a line whose result has no
// schema is counted in Report.Unvalidated, not failed.
func (c *Contract) ValidateTranscript(path string) (Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return Report{}, fmt.Errorf("contract: %w", err)
	}
	defer f.Close()
	return c.validateTranscript(f, path)
}

func (c *Contract) validateTranscript(r io.Reader, name string) (Report, error) {
	rep := Report{ByMethod: map[string]int{}, Unvalidated: map[string]int{}}
	var errs []error
	fail := func(err error) {
		rep.Failed++
		if len(errs) < maxReported {
			errs = append(errs, err)
		}
	}
	br := bufio.NewReaderSize(r, 1<<20)
	for lineNo := 1; ; lineNo++ {
		line, readErr := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			rep.Lines++
			kind, method, skip, err := c.transcriptLine(line)
			switch {
			case skip:
				rep.Skipped++
			case errors.Is(err, ErrNoSchema):
				rep.ByMethod[method]++
				rep.Unvalidated[method]++
			case err != nil:
				if kind != "" {
					rep.ByMethod[method]++
				}
				fail(fmt.Errorf("%s:%d: %s %s: %w", name, lineNo, kindOr(kind), methodOr(method), err))
			default:
				rep.ByMethod[method]++
			}
		}
		if readErr == io.EOF {
			break
		}
		if readErr != nil {
			return rep, errors.Join(append(errs, fmt.Errorf("%s:%d: %w", name, lineNo, readErr))...)
		}
	}
	if rep.Failed > len(errs) {
		errs = append(errs, fmt.Errorf("%s: %d more failing lines not listed", name, rep.Failed-len(errs)))
	}
	return rep, errors.Join(errs...)
}

// transcriptLine validates one line. kind is empty when the line itself is
// not a usable transcript record.
func (c *Contract) transcriptLine(line []byte) (kind, method string, skip bool, err error) {
	v, err := decode(line)
	if err != nil {
		return "", "", false, fmt.Errorf("transcript line: %w", err)
	}
	rec, ok := v.(map[string]any)
	if !ok {
		return "", "", false, errors.New("transcript line is not a JSON object")
	}
	kind, ok = rec["kind"].(string)
	if !ok {
		return "", "", false, errors.New(`transcript line has no string "kind"`)
	}
	if m, present := rec["method"]; present {
		if method, ok = m.(string); !ok {
			return "", "", false, errors.New(`transcript line "method" is not a string`)
		}
	}
	injected := false
	if inj, present := rec["injected"]; present {
		if injected, ok = inj.(bool); !ok {
			return "", "", false, errors.New(`transcript line "injected" is not a boolean`)
		}
	}
	if kind == KindGarbage || injected {
		return kind, method, true, nil
	}

	msg, present := rec["msg"]
	if !present {
		raw, ok := rec["raw"].(string)
		if !ok {
			return kind, method, false, errors.New(`transcript line has neither "msg" nor a string "raw"`)
		}
		if msg, err = decode([]byte(raw)); err != nil {
			return kind, method, false, fmt.Errorf("raw: %w", err)
		}
	}
	if method == "" && kind != KindResponse {
		if obj, ok := msg.(map[string]any); ok {
			method, _ = obj["method"].(string)
		}
	}
	return kind, method, false, c.outbound(kind, method, msg)
}

func kindOr(k string) string {
	if k == "" {
		return "(no kind)"
	}
	return k
}

func methodOr(m string) string {
	if m == "" {
		return "(no method)"
	}
	return m
}
