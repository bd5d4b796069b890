//go:build unix

package rpc

import "syscall"

// procAttr puts the runtime in a process group of its own: a terminal's
// Ctrl-C (SIGINT to the foreground group) reaches the program, which stops
// its runtimes with the close ladder, instead of killing them under turns
// still in flight.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
