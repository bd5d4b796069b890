package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Record is one journal event.
type Record struct {
	// Seq is assigned by Append: store-wide, strictly increasing, and
	// continuing after a reopen (a committed Seq is never assigned again).
	// A caller-set value is ignored.
	Seq uint64 `json:"seq"`
	// Mob is the id of the mob the event belongs to. Required.
	Mob string `json:"mob"`
	// Run is the flow run id, "" for mob-level events.
	Run string `json:"run,omitempty"`
	// Kind is the event kind, e.g. "step_completed". Required.
	Kind string `json:"kind"`
	// At is when the event happened. Append sets a zero At to Options.Now().
	// It is stored with nanosecond precision (so it must lie within the
	// years 1678..2262) and read back in UTC, without monotonic reading.
	At time.Time `json:"at"`
	// Data is the event payload: any valid JSON, or nil for none. It is
	// stored and returned byte for byte as given.
	Data json.RawMessage `json:"data,omitempty"`
	// DataValid promises that Data is valid JSON, so that Append does not
	// check it again. Set it only for Data the caller encoded itself with
	// an encoder that cannot produce invalid JSON: Append stores Data as
	// given, and readers that decode an invalid Data fail. Read never sets
	// it.
	DataValid bool `json:"-"`
}

// Query selects records for [Store.Read]. Zero fields do not filter; the
// filters that are set must all match.
type Query struct {
	// Mob selects the records of one mob.
	Mob string
	// Run selects the records of one flow run.
	Run string
	// After selects records with Seq > After: a subscriber's cursor.
	After uint64
	// Kinds selects records whose Kind is one of these.
	Kinds []string
	// Limit caps the number of records returned (the first ones in Seq
	// order); 0 means no limit. Negative is invalid.
	Limit int
}

// Sentinel errors. Errors returned by this package wrap them with detail;
// test with errors.Is.
var (
	// ErrClosed is returned after Close by every method of a Store that
	// returns an error.
	ErrClosed = errors.New("journal: store closed")
	// ErrInvalidRecord is returned by Append for a record that cannot be
	// stored; the wrapping error says which record and why. Nothing of that
	// Append call is accepted.
	ErrInvalidRecord = errors.New("journal: invalid record")
	// ErrInvalidQuery is returned for invalid arguments to the read and
	// delete methods (a negative Query.Limit, an empty mob id).
	ErrInvalidQuery = errors.New("journal: invalid query")
	// ErrFaulted is wrapped by the errors a Store returns after a write
	// failed; the error is a *FaultError that also wraps the cause.
	ErrFaulted = errors.New("journal: store faulted by a write error")
	// ErrForeignWrite is the cause of the fault of a Store that found
	// records it did not write in its database, with seqs it was about to
	// assign: another Store has the same file open, which is not supported.
	ErrForeignWrite = errors.New("journal: records written by another store")
	// ErrCorrupt is wrapped by the error Read returns for a row of the
	// database it cannot decode.
	ErrCorrupt = errors.New("journal: corrupt record row")
)

// FaultError is the sticky error of a faulted Store: a write transaction
// failed, the writer stopped, and every later Append, Sync, Read, Mobs and
// DeleteMob returns this error (possibly wrapped), as does Close. It matches both ErrFaulted and Cause under errors.Is/As.
//
// Records accepted by Append but never committed are lost; they are the
// seqs FirstLost..LastLost (Lost of them, all of those appended from the
// failed transaction on). Records with smaller seqs are committed.
type FaultError struct {
	// Cause is the error the failed write returned.
	Cause error
	// Lost counts the accepted records that were not committed.
	Lost uint64
	// FirstLost and LastLost are the seq range of the lost records; both
	// are 0 when Lost is 0.
	FirstLost, LastLost uint64
}

// Error describes the fault, its cause and the lost seqs.
func (e *FaultError) Error() string {
	if e.Lost == 0 {
		return fmt.Sprintf("%v: %v", ErrFaulted, e.Cause)
	}
	return fmt.Sprintf("%v: %v (%d accepted records not committed: seq %d..%d)",
		ErrFaulted, e.Cause, e.Lost, e.FirstLost, e.LastLost)
}

// Unwrap returns ErrFaulted and the cause, so errors.Is matches either.
func (e *FaultError) Unwrap() []error { return []error{ErrFaulted, e.Cause} }

// minAt and maxAt bound the times representable as int64 Unix nanoseconds.
var (
	minAt = time.Unix(0, -1<<63)
	maxAt = time.Unix(0, 1<<63-1)
)

// validate checks r (the i-th record of an Append call) and returns an error
// wrapping ErrInvalidRecord if it cannot be stored. A zero r.At is accepted:
// Append fills it in.
func validate(i int, r *Record) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: record %d (mob %q, kind %q): %s", ErrInvalidRecord, i, r.Mob, r.Kind, fmt.Sprintf(format, args...))
	}
	switch {
	case r.Mob == "":
		return bad("empty mob id")
	case r.Kind == "":
		return bad("empty kind")
	case strings.IndexByte(r.Mob, 0) >= 0, strings.IndexByte(r.Run, 0) >= 0, strings.IndexByte(r.Kind, 0) >= 0:
		return bad("NUL byte in mob, run or kind")
	case r.Data != nil && (len(r.Data) == 0 || !r.DataValid && !json.Valid(r.Data)):
		return bad("data is not valid JSON")
	case !r.At.IsZero() && (r.At.Before(minAt) || r.At.After(maxAt)):
		return bad("time %v out of the representable range (years 1678..2262)", r.At)
	}
	return nil
}
