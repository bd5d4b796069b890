//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// stateLockName is the file of the state directory whose lock a daemon
// holds; it holds the daemon's pid.
const stateLockName = "mobd.lock"

// lockStateDir takes the exclusive lock of the state directory dir
// (creating it if need be), for one daemon at a time to use it: a second
// daemon on the same state would resume the first one's runs, running
// their turns twice, and write to its journal. The lock is an flock(2) of
// dir/mobd.lock, into which the holder writes its pid; the kernel releases
// it when the holder's process ends, however it ends, and the file is not
// inherited by the runtimes the daemon starts (it is close-on-exec).
//
// When another process holds the lock, lockStateDir fails with an error
// that names dir and, if the lock file gives it, the holder's pid. unlock
// releases the lock; it is idempotent. Call it once the journal is
// closed, and keep it reachable until then: it holds the lock file open.
func lockStateDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(dir, stateLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: open its lock file: %w", dir, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, stateLockHeld(dir, path)
		}
		return nil, fmt.Errorf("state directory %s: lock %s: %w", dir, path, err)
	}
	// The pid is for the error of the next daemon on dir: the lock holds
	// without it.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = f.Truncate(0)
			_ = f.Close() // releases the lock
		})
	}, nil
}

// stateLockHeld is the error of a state directory another process holds
// locked, with the holder's pid when its lock file at path gives it.
func stateLockHeld(dir, path string) error {
	holder := "another mobd"
	if data, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(string(bytes.TrimSpace(data))); err == nil && pid > 0 {
			holder = fmt.Sprintf("another mobd (pid %d)", pid)
		}
	}
	return fmt.Errorf("state directory %s is in use by %s: stop it first, or give this daemon another --state (lock file %s)",
		dir, holder, path)
}
