//go:build !unix

package sim

// fileLock is a no-op on platforms without flock; writes stay atomic through
// rename, only cross-process compare-and-set is weaker.
type fileLock struct{}

func lockFile(string) (*fileLock, error) { return &fileLock{}, nil }

func (l *fileLock) unlock() {}
