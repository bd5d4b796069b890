package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/rpc"
)

// Runtime choices of --runtime.
const (
	runtimeRPC = "rkat-rpc"
	runtimeSim = "sim"
	simName    = "rkat-sim"
)

// ErrRuntimeNotFound is returned when the chosen runtime's executable
// cannot be found; the message names both choices.
var ErrRuntimeNotFound = errors.New("runtime not found")

// resolveRuntime returns the runtime executable of cfg's choice: rkat-rpc
// resolved as the SDK does (MEERKAT_BIN_PATH, --runtime-bin, PATH, a
// verified download), or rkat-sim (--runtime-bin, next to the mobd
// executable, PATH). It never falls back from one to the other.
func resolveRuntime(ctx context.Context, cfg Config, log *zap.Logger) (string, error) {
	switch cfg.Runtime {
	case runtimeSim:
		return resolveSim(cfg.RuntimeBin)
	case runtimeRPC:
		// A downloaded release is used only if its checksum, fetched from
		// the release, matches.
		r := rpc.Resolver{Path: cfg.RuntimeBin, Logger: log, ChecksumURL: true,
			DisableDownload: cfg.RuntimeDownload != nil && !*cfg.RuntimeDownload}
		bin, err := r.Resolve(ctx)
		if err != nil {
			return "", fmt.Errorf("%w: %s could not be resolved (%v); install it on PATH, set MEERKAT_BIN_PATH or --runtime-bin, "+
				"or choose the simulated runtime explicitly with --runtime %s", ErrRuntimeNotFound, runtimeRPC, err, runtimeSim)
		}
		if bin.Legacy {
			return "", fmt.Errorf("%w: only the legacy `rkat rpc` CLI was found at %s; mobd needs %s (or --runtime %s)",
				ErrRuntimeNotFound, bin.Path, runtimeRPC, runtimeSim)
		}
		return bin.Path, nil
	}
	return "", fmt.Errorf("runtime %q: choose --runtime %s or --runtime %s", cfg.Runtime, runtimeRPC, runtimeSim)
}

func resolveSim(explicit string) (string, error) {
	if explicit != "" {
		p, err := exec.LookPath(explicit)
		if err != nil {
			return "", fmt.Errorf("%w: --runtime %s with --runtime-bin %q: %v", ErrRuntimeNotFound, runtimeSim, explicit, err)
		}
		return filepath.Abs(p)
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), simName)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(simName); err == nil {
		return filepath.Abs(p)
	}
	return "", fmt.Errorf("%w: --runtime %s needs the %s executable (build it with `make build`, then put it next to mobd, on PATH, "+
		"or name it with --runtime-bin / MOBD_RUNTIME_BIN), or choose the real runtime with --runtime %s",
		ErrRuntimeNotFound, runtimeSim, simName, runtimeRPC)
}
