package sim

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"

	"go.uber.org/zap"
)

// msgKind classifies an outgoing message for the transcript.
type msgKind uint8

const (
	kindResponse msgKind = iota
	kindNotification
	kindRequest
)

func (k msgKind) String() string {
	switch k {
	case kindResponse:
		return "response"
	case kindNotification:
		return "notification"
	default:
		return "request"
	}
}

// outWriter serialises every message written to the client. Each message is
// one compact JSON object followed by "\n". Writes are buffered; callers ask
// for a flush after each logical batch and always before blocking.
type outWriter struct {
	mu      sync.Mutex
	w       *bufio.Writer
	tw      *bufio.Writer
	tf      *os.File
	dead    bool
	failed  bool
	onFail  func(error)
	log     *zap.Logger
	scratch []byte
}

func newOutWriter(w io.Writer, transcriptPath string, log *zap.Logger, onFail func(error)) (*outWriter, error) {
	o := &outWriter{w: bufio.NewWriterSize(w, 64<<10), log: log, onFail: onFail}
	if transcriptPath != "" {
		f, err := os.OpenFile(transcriptPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open transcript: %w", err)
		}
		o.tf = f
		o.tw = bufio.NewWriterSize(f, 64<<10)
	}
	return o, nil
}

// write sends one message. kind and method describe it for the transcript;
// injected marks deliberately malformed events.
func (o *outWriter) write(kind msgKind, method string, msg []byte, injected, flush bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dead {
		return
	}
	o.writeLocked(msg)
	if o.tw != nil {
		t := o.scratch[:0]
		t = append(t, `{"kind":"`...)
		t = append(t, kind.String()...)
		t = append(t, `","method":`...)
		t = appendJSONString(t, method)
		t = append(t, `,"msg":`...)
		t = append(t, msg...)
		if injected {
			t = append(t, `,"injected":true`...)
		}
		t = append(t, "}\n"...)
		o.scratch = t[:0]
		_, _ = o.tw.Write(t)
	}
	if flush {
		o.flushLocked()
	}
}

// writeGarbage writes a deliberately malformed line.
func (o *outWriter) writeGarbage(raw string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dead {
		return
	}
	o.writeLocked([]byte(raw))
	if o.tw != nil {
		t := append([]byte(`{"kind":"garbage","raw":`), jsonString(raw)...)
		_, _ = o.tw.Write(append(t, "}\n"...))
	}
	o.flushLocked()
}

func (o *outWriter) writeLocked(msg []byte) {
	if o.failed {
		return
	}
	if _, err := o.w.Write(msg); err == nil {
		err = o.w.WriteByte('\n')
		if err != nil {
			o.fail(err)
		}
	} else {
		o.fail(err)
	}
}

func (o *outWriter) fail(err error) {
	if o.failed {
		return
	}
	o.failed = true
	o.log.Warn("output write failed", zap.Error(err))
	if o.onFail != nil {
		o.onFail(fmt.Errorf("write output: %w", err)) // must not block or call back
	}
}

// flush pushes buffered output to the client.
func (o *outWriter) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.flushLocked()
}

func (o *outWriter) flushLocked() {
	if !o.failed {
		if err := o.w.Flush(); err != nil {
			o.fail(err)
		}
	}
	if o.tw != nil {
		_ = o.tw.Flush()
	}
}

// kill flushes and then silently drops every later write (used by the hang
// and crash directives).
func (o *outWriter) kill() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.flushLocked()
	o.dead = true
}

// close flushes and closes the transcript file.
func (o *outWriter) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.flushLocked()
	if o.tf != nil {
		err := o.tf.Close()
		o.tf, o.tw = nil, nil
		if err != nil {
			return fmt.Errorf("close transcript: %w", err)
		}
	}
	return nil
}
