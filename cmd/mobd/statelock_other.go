//go:build !unix

package main

import (
	"fmt"
	"os"
)

// lockStateDir creates the state directory dir. On this system it takes
// no lock (see the unix build's lockStateDir): nothing stops a second
// daemon on the same state directory.
func lockStateDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	return func() {}, nil
}
