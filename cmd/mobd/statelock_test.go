//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockStateDir checks that one lock at a time holds a state
// directory: a second fails naming the directory and the holder's pid,
// and once the first is released the directory can be locked again.
func TestLockStateDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state") // not there yet: created
	unlock, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, stateLockName)); err != nil || strings.TrimSpace(string(data)) != fmt.Sprint(os.Getpid()) {
		t.Fatalf("lock file holds %q (%v), want the pid %d", data, err, os.Getpid())
	}
	for range 2 {
		again, err := lockStateDir(dir)
		if err == nil {
			again()
			t.Fatal("a second lock of a locked state directory succeeded")
		}
		for _, want := range []string{dir, fmt.Sprintf("pid %d", os.Getpid()), "in use"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	}
	unlock()
	unlock() // idempotent
	relock, err := lockStateDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	defer relock()
	if _, err := lockStateDir(dir); err == nil {
		t.Fatal("the relocked state directory was locked again")
	}
	// Another directory is another lock.
	other, err := lockStateDir(t.TempDir())
	if err != nil {
		t.Fatalf("lock of another directory: %v", err)
	}
	other()
}

// TestLockStateDirWithoutPid checks the error when the holder's pid is
// not readable: it still names the directory.
func TestLockStateDirWithoutPid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	unlock, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if err := os.WriteFile(filepath.Join(dir, stateLockName), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = lockStateDir(dir)
	if err == nil || !strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), "(pid") {
		t.Fatalf("err = %v, want one naming %s without a pid", err, dir)
	}
}
