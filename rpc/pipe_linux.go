package rpc

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// runtimePipeSize is the capacity asked for the pipe carrying the
// runtime's output (Linux's default is 64 KiB). A bigger pipe lets a
// runtime streaming a burst of events run ahead of the reader instead of
// trading turns with it every 64 KiB. The kernel caps it at
// /proc/sys/fs/pipe-max-size (1 MiB by default).
const runtimePipeSize = 1 << 20

// growPipe enlarges the pipe r reads from, when r is one. It is best
// effort: the default capacity works, only slower.
func growPipe(r io.Reader) {
	f, ok := r.(*os.File)
	if !ok {
		return
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		if _, err := unix.FcntlInt(fd, unix.F_SETPIPE_SZ, runtimePipeSize); err != nil {
			_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 256<<10)
		}
	})
}
