//go:build !unix

package rpc

import "syscall"

// procAttr leaves the runtime's process attributes at their defaults.
func procAttr() *syscall.SysProcAttr { return nil }
