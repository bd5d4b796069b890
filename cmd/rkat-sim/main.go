// Command rkat-sim is a simulated Meerkat runtime. It accepts rkat-rpc's
// command line, speaks the rkat-rpc JSON-RPC protocol on stdin/stdout and
// logs to stderr. See package github.com/mobd-dev/mobd/sim for the
// simulated behaviour, the [[sim:...]] directives and the script format.
//
// Environment: RKAT_SIM_TOKEN_DELAY (Go duration per text_delta),
// RKAT_SIM_SCRIPT (script file), RKAT_SIM_TRANSCRIPT_DIR (each process
// appends to its own <dir>/sim-<pid>-<random>.jsonl), RKAT_SIM_CONTRACT_VERSION
// and RKAT_SIM_LOG_LEVEL (debug, info, warn, error).
//
// Exit status: 0 on stdin EOF and on SIGTERM/SIGINT, 3 after a simulated
// crash, 2 for a bad command line, 1 for other failures.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mobd-dev/mobd/sim"
)

func main() { os.Exit(run()) }

func run() int {
	opts, err := sim.ParseArgs(os.Args[1:])
	if errors.Is(err, sim.ErrHelp) {
		fmt.Fprint(os.Stderr, sim.Usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "rkat-sim: %v\n\n%s", err, sim.Usage)
		return 2
	}
	if err := opts.ApplyEnv(os.LookupEnv); err != nil {
		fmt.Fprintf(os.Stderr, "rkat-sim: %v\n", err)
		return 2
	}
	logger, err := newLogger(os.Getenv("RKAT_SIM_LOG_LEVEL"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "rkat-sim: %v\n", err)
		return 2
	}
	defer func() { _ = logger.Sync() }()
	opts.Logger = logger
	if dir := strings.TrimSpace(os.Getenv("RKAT_SIM_TRANSCRIPT_DIR")); dir != "" {
		path, err := transcriptPath(dir)
		if err != nil {
			logger.Error("transcript", zap.Error(err))
			return 1
		}
		opts.TranscriptPath = path
	}

	// A vanished client should surface as a write error, not a SIGPIPE kill.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	logger.Info("rkat-sim started", zap.Int("pid", os.Getpid()), zap.Strings("args", opts.Args),
		zap.String("realm", opts.RealmID), zap.String("transcript", opts.TranscriptPath))
	err = sim.Serve(ctx, os.Stdin, os.Stdout, opts)
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return 0
	case errors.Is(err, sim.ErrSimulatedCrash):
		logger.Warn("simulated crash")
		return 3
	default:
		logger.Error("serve failed", zap.Error(err))
		return 1
	}
}

// newLogger builds a console logger on stderr.
func newLogger(level string) (*zap.Logger, error) {
	lvl := zapcore.InfoLevel
	if strings.TrimSpace(level) != "" {
		if err := lvl.UnmarshalText([]byte(strings.TrimSpace(level))); err != nil {
			return nil, fmt.Errorf("invalid RKAT_SIM_LOG_LEVEL %q: %w", level, err)
		}
	}
	enc := zap.NewDevelopmentEncoderConfig()
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(os.Stderr), lvl)
	return zap.New(core).Named("rkat-sim"), nil
}

// transcriptPath returns this process's own transcript file in dir.
func transcriptPath(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create transcript dir: %w", err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random transcript suffix: %w", err)
	}
	return filepath.Join(dir, fmt.Sprintf("sim-%d-%s.jsonl", os.Getpid(), hex.EncodeToString(b[:]))), nil
}
