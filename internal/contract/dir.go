package contract

import (
	"fmt"
	"os"
	"path/filepath"
)

// EnvDir names the environment variable that overrides where [Dir] looks
// for the contract.
const EnvDir = "MOBD_CONTRACT_DIR"

// relDir is where the contract sits relative to the directory that holds the
// repository (in CI: ../shared/contracts/meerkat-0.8.26 from the repo root).
const relDir = "shared/contracts/meerkat-0.8.26"

// markerFile must exist in a directory for it to count as the contract.
const markerFile = "rpc-methods.json"

// Dir locates the contract directory: $MOBD_CONTRACT_DIR if set, else the
// first of <ancestor>/shared/contracts/meerkat-0.8.26 and
// <ancestor>/../shared/contracts/meerkat-0.8.26 that exists, walking up from
// the working directory. It returns an error, never a guess, when the
// contract cannot be found, so tests that need it fail rather than skip.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			return "", fmt.Errorf("contract: %s=%q: %w", EnvDir, d, err)
		}
		if !isContractDir(abs) {
			return "", fmt.Errorf("contract: %s=%q has no %s", EnvDir, d, markerFile)
		}
		return abs, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("contract: working directory: %w", err)
	}
	for dir := wd; ; {
		for _, cand := range []string{
			filepath.Join(dir, relDir),
			filepath.Join(filepath.Dir(dir), relDir),
		} {
			if isContractDir(cand) {
				return cand, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("contract: %s not found beside any ancestor of %s (set %s)", relDir, wd, EnvDir)
}

func isContractDir(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, markerFile))
	return err == nil && fi.Mode().IsRegular()
}
