package supervision

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Defaults applied to the zero fields of [ExecOptions] and [ProcessConfig].
//
// The stop ladder's defaults (1 s + 3 s) fit within the supervisor's default
// StopTimeout (5 s), so a supervised process normally finishes its own
// ladder before the supervisor resorts to Kill.
const (
	DefaultStderrLines  = 50
	DefaultCloseGrace   = time.Second
	DefaultStopGrace    = 3 * time.Second
	DefaultDrainTimeout = time.Second
)

// maxStderrLine bounds one captured stderr line; the rest of a longer line
// is dropped.
const maxStderrLine = 4096

// ExecOptions configures [Exec]. The zero value is ready to use.
type ExecOptions struct {
	// Logger receives every stderr line of the process at Info level (as
	// the message, with a pid field). Default: none.
	Logger *zap.Logger
	// StderrLines is how many of the last stderr lines are kept for the
	// [ExitReport]. Default 50.
	StderrLines int
	// CloseGrace is how long [Incarnation.Stop] waits after closing stdin
	// (the polite request to exit, for processes that serve their stdin)
	// before sending SIGTERM. Default 1 s; negative: SIGTERM at once.
	CloseGrace time.Duration
	// StopGrace is how long [Incarnation.Stop] waits after SIGTERM before
	// SIGKILL. Default 3 s.
	StopGrace time.Duration
	// DrainTimeout bounds how long, after the process exited, the
	// incarnation waits for its stderr to be drained and for a consumer
	// that has been reading Stdout to read it to EOF, before closing both
	// pipes (a grandchild that inherited them would otherwise keep them
	// open forever). It also becomes the Cmd's WaitDelay if that is unset.
	// Default 1 s.
	DrainTimeout time.Duration
}

func (o ExecOptions) withDefaults() ExecOptions {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.StderrLines <= 0 {
		o.StderrLines = DefaultStderrLines
	}
	if o.CloseGrace == 0 {
		o.CloseGrace = DefaultCloseGrace
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	return o
}

// Incarnation is one started OS process: the building block for children
// that own a process, such as [Process], or a higher-level child that talks
// to the process over its stdio (start it with [Exec] in its Run, attach a
// client to Stdin and Stdout, call ready, and Stop it when ctx is done).
//
// Its methods are safe for concurrent use.
type Incarnation struct {
	cmd    *exec.Cmd
	opts   ExecOptions
	pid    int
	stdin  io.WriteCloser
	stdout *pipeReader
	stderr *ring
	done   chan struct{}
	err    error // the result of Wait, set before done is closed
}

// Exec starts cmd and returns its [Incarnation]. Exec wires the process's
// stdio:
//   - stdin: a pipe, returned by [Incarnation.Stdin], if cmd.Stdin is nil;
//   - stdout: a pipe, returned by [Incarnation.Stdout], if cmd.Stdout is nil;
//   - stderr: always captured (cmd.Stderr must be nil): each line goes to
//     the logger and the last ones to the [ExitReport].
//
// A cmd cannot be started twice: build a fresh one for each incarnation.
func Exec(cmd *exec.Cmd, opts ExecOptions) (*Incarnation, error) {
	switch {
	case cmd == nil:
		return nil, errors.New("supervision: nil command")
	case cmd.Process != nil:
		return nil, errors.New("supervision: command already started")
	case cmd.Stderr != nil:
		return nil, errors.New("supervision: command stderr is set; Exec captures it")
	}
	opts = opts.withDefaults()
	p := &Incarnation{cmd: cmd, opts: opts, stderr: newRing(opts.StderrLines), done: make(chan struct{})}

	var closeOnFail []io.Closer
	fail := func(err error) (*Incarnation, error) {
		for _, c := range closeOnFail {
			c.Close()
		}
		return nil, fmt.Errorf("supervision: start %s: %w", cmd.Path, err)
	}
	if cmd.Stdin == nil {
		w, err := cmd.StdinPipe() // closed by exec itself on a failed Start
		if err != nil {
			return fail(err)
		}
		p.stdin = w
	}
	var outW *os.File
	if cmd.Stdout == nil {
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		closeOnFail = append(closeOnFail, r, w)
		p.stdout = &pipeReader{f: r, eof: make(chan struct{})}
		cmd.Stdout, outW = w, w
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	closeOnFail = append(closeOnFail, errR, errW)
	cmd.Stderr = errW
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = opts.DrainTimeout
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	// The child has its copies of the write ends.
	errW.Close()
	if outW != nil {
		outW.Close()
	}
	p.pid = cmd.Process.Pid

	drained := make(chan struct{})
	go p.drainStderr(errR, drained)
	go p.wait(errR, drained)
	return p, nil
}

// drainStderr copies the process's stderr lines into the ring and the log.
func (p *Incarnation) drainStderr(r io.Reader, done chan<- struct{}) {
	defer close(done)
	log := p.opts.Logger.With(zap.Int("pid", p.pid))
	br := bufio.NewReader(r)
	for {
		line, err := readLine(br)
		if line != "" {
			p.stderr.add(line)
			log.Info(line)
		}
		if err != nil {
			return
		}
	}
}

// readLine reads one line, without its line ending, truncated to
// maxStderrLine bytes.
func readLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		if room := maxStderrLine - len(buf); room > 0 {
			buf = append(buf, frag[:min(len(frag), room)]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return strings.TrimRight(string(buf), "\r\n"), err
	}
}

// wait reaps the process, drains its pipes and publishes the result.
func (p *Incarnation) wait(errR *os.File, drained <-chan struct{}) {
	werr := p.cmd.Wait()

	// Give the stderr reader and the stdout consumer a moment to reach EOF,
	// then close the read ends in case a grandchild keeps them open.
	deadline := time.NewTimer(p.opts.DrainTimeout)
	stderrEOF := drained
	var stdoutEOF <-chan struct{}
	if p.stdout != nil && p.stdout.used.Load() {
		stdoutEOF = p.stdout.eof
	}
	for stderrEOF != nil || stdoutEOF != nil {
		select {
		case <-stderrEOF:
			stderrEOF = nil
		case <-stdoutEOF:
			stdoutEOF = nil
		case <-deadline.C:
			stderrEOF, stdoutEOF = nil, nil
		}
	}
	deadline.Stop()
	errR.Close()
	if p.stdout != nil {
		p.stdout.f.Close()
	}
	<-drained

	if werr != nil {
		rep := &ExitReport{PID: p.pid, ExitCode: -1, Stderr: p.stderr.lines(), Err: werr}
		if st := p.cmd.ProcessState; st != nil {
			rep.ExitCode = st.ExitCode()
			if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				rep.Signal = ws.Signal()
			}
		}
		p.err = rep
	}
	close(p.done)
}

// PID returns the process id.
func (p *Incarnation) PID() int { return p.pid }

// Stdin returns the write end of the process's stdin, or nil if the Cmd
// came with its own Stdin. Closing it is the first rung of the stop ladder.
func (p *Incarnation) Stdin() io.WriteCloser { return p.stdin }

// Stdout returns the read end of the process's stdout, or nil if the Cmd
// came with its own Stdout. Its consumer should read it until it fails
// (io.EOF once the process exited): once the process exited, the
// incarnation closes it as soon as the consumer reached EOF, or at once if
// it never read, or after DrainTimeout; data not read by then is lost.
func (p *Incarnation) Stdout() io.Reader {
	if p.stdout == nil {
		return nil
	}
	return p.stdout
}

// Stderr returns the last stderr lines captured so far, oldest first.
func (p *Incarnation) Stderr() []string { return p.stderr.lines() }

// Done returns a channel closed once the process has exited and its result
// is available from Wait.
func (p *Incarnation) Done() <-chan struct{} { return p.done }

// Wait blocks until the process has exited. It returns nil after a clean
// exit (status 0) and an [*ExitReport] otherwise. It may be called any
// number of times, concurrently.
func (p *Incarnation) Wait() error {
	<-p.done
	return p.err
}

// Signal sends sig to the process. It returns nil if the process has
// already exited.
func (p *Incarnation) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// Kill sends SIGKILL to the process. It does not wait for the exit (see
// Wait) and returns nil if the process has already exited.
func (p *Incarnation) Kill() error { return p.Signal(os.Kill) }

// Stop runs the stop ladder: it closes stdin and waits up to CloseGrace
// for the process to exit, sends SIGTERM and waits up to StopGrace, then
// kills it. It blocks until the process has exited and returns the result
// of Wait. It is safe to call more than once, concurrently, and after the
// process exited.
func (p *Incarnation) Stop() error {
	if p.stdin != nil {
		p.stdin.Close()
		if p.exitsWithin(p.opts.CloseGrace) {
			return p.err
		}
	}
	_ = p.Signal(syscall.SIGTERM) // not supported everywhere; the kill follows
	if p.exitsWithin(p.opts.StopGrace) {
		return p.err
	}
	_ = p.Kill()
	return p.Wait()
}

// exitsWithin waits up to d for the process to exit and reports whether it
// did.
func (p *Incarnation) exitsWithin(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// pipeReader is the stdout read end handed to the consumer; it notes when
// the consumer saw the end of the stream.
type pipeReader struct {
	f    *os.File
	used atomic.Bool // Read was called
	once sync.Once
	eof  chan struct{}
}

func (r *pipeReader) Read(b []byte) (int, error) {
	r.used.Store(true)
	n, err := r.f.Read(b)
	if err != nil {
		r.once.Do(func() { close(r.eof) })
	}
	return n, err
}

// ring keeps the last lines written to it.
type ring struct {
	mu    sync.Mutex
	buf   []string
	next  int
	count int
}

func newRing(n int) *ring { return &ring{buf: make([]string, n)} }

func (r *ring) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = line
	r.next = (r.next + 1) % len(r.buf)
	r.count = min(r.count+1, len(r.buf))
}

func (r *ring) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, r.count)
	for i := range r.count {
		out = append(out, r.buf[(r.next-r.count+i+len(r.buf))%len(r.buf)])
	}
	return out
}

// ProcessConfig configures a [Process].
type ProcessConfig struct {
	// Command builds the command for each incarnation: an [exec.Cmd] cannot
	// be started twice, so it must return a fresh one on every call. Its
	// Stderr must be nil; see [Exec] for how stdio is wired. Required.
	Command func() *exec.Cmd
	// OnStart, if set, is called after each (re)start of the process,
	// before the child reports ready, with the Run's ctx and the new
	// incarnation: the place to attach a client to its Stdin and Stdout and
	// to wait for a handshake. An error kills the process and fails the
	// Run. OnStart should return early if the incarnation's Done channel is
	// closed. If OnStart is nil, the process is ready as soon as it started
	// and its stdout (unless set by Command) is discarded.
	OnStart func(ctx context.Context, inc *Incarnation) error
	// Logger, StderrLines, CloseGrace, StopGrace and DrainTimeout are
	// passed to [Exec] in [ExecOptions].
	Logger       *zap.Logger
	StderrLines  int
	CloseGrace   time.Duration
	StopGrace    time.Duration
	DrainTimeout time.Duration
}

// Process is a [Child] that runs an OS command: each Run starts a fresh
// process (see [ProcessConfig.Command]), reports ready once it started (and
// OnStart returned), and returns when it exits: nil on a clean exit, an
// [*ExitReport] with the exit status and the last stderr lines otherwise.
// Cancelling Run's ctx stops the process with the ladder of
// [Incarnation.Stop]: close stdin, wait CloseGrace, SIGTERM, wait
// StopGrace, SIGKILL.
//
// Process implements [Killer] and reports its PID, so a supervisor can kill
// a hung process and show its pid. A higher layer that needs more than
// OnStart can implement Child itself around [Exec].
type Process struct {
	cfg ProcessConfig

	mu  sync.Mutex
	run bool
	cur *Incarnation
}

// NewProcess returns a Process configured by cfg.
func NewProcess(cfg ProcessConfig) *Process { return &Process{cfg: cfg} }

// Run implements [Child]. It returns [ErrAlreadyRunning] if called while a
// previous Run has not returned.
func (p *Process) Run(ctx context.Context, ready func()) error {
	p.mu.Lock()
	if p.run {
		p.mu.Unlock()
		return ErrAlreadyRunning
	}
	p.run = true
	p.mu.Unlock()
	defer p.setCurrent(nil)

	if p.cfg.Command == nil {
		return errors.New("supervision: ProcessConfig.Command is nil")
	}
	cmd := p.cfg.Command()
	if cmd == nil {
		return errors.New("supervision: ProcessConfig.Command returned nil")
	}
	if p.cfg.OnStart == nil && cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	inc, err := Exec(cmd, ExecOptions{
		Logger:       p.cfg.Logger,
		StderrLines:  p.cfg.StderrLines,
		CloseGrace:   p.cfg.CloseGrace,
		StopGrace:    p.cfg.StopGrace,
		DrainTimeout: p.cfg.DrainTimeout,
	})
	if err != nil {
		return err
	}
	p.setCurrent(inc)

	if p.cfg.OnStart != nil {
		if err := p.cfg.OnStart(ctx, inc); err != nil {
			if ctx.Err() == nil {
				_ = inc.Kill()
			}
			return errors.Join(fmt.Errorf("supervision: start hook: %w", err), inc.Stop())
		}
	}
	if ready != nil {
		ready()
	}
	select {
	case <-inc.Done():
		return inc.Wait()
	case <-ctx.Done():
		return inc.Stop()
	}
}

func (p *Process) setCurrent(inc *Incarnation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = inc
	if inc == nil {
		p.run = false
	}
}

// Current returns the running incarnation, or nil between runs.
func (p *Process) Current() *Incarnation {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// Kill implements [Killer]: it sends SIGKILL to the running process, if any,
// without waiting.
func (p *Process) Kill() error {
	if inc := p.Current(); inc != nil {
		return inc.Kill()
	}
	return nil
}

// PID returns the running process's id, or 0.
func (p *Process) PID() int {
	if inc := p.Current(); inc != nil {
		return inc.PID()
	}
	return 0
}
