package rpc

import "unsafe"

// arena copies the bytes the reader hands out (lines, payloads, strings)
// into shared blocks, so that the reader makes one allocation per block
// instead of one per event. Bytes written to a block are never written
// again: a copy never aliases another, and a string made from a block is
// immutable. A retained copy keeps its whole block alive, so blocks are
// small, and anything bigger than a quarter of one gets its own allocation.
type arena struct{ block []byte }

const arenaBlock = 32 << 10

// alloc returns n fresh bytes whose capacity ends at their length, so an
// append by their user cannot reach a neighbour.
func (a *arena) alloc(n int) []byte {
	if n > arenaBlock/4 {
		return make([]byte, n)
	}
	if len(a.block)+n > cap(a.block) {
		a.block = make([]byte, 0, arenaBlock)
	}
	start := len(a.block)
	a.block = a.block[:start+n]
	return a.block[start : start+n : start+n]
}

// bytes returns a copy of b.
func (a *arena) bytes(b []byte) []byte {
	r := a.alloc(len(b))
	copy(r, b)
	return r
}

// string returns a string with the bytes of b.
func (a *arena) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	r := a.bytes(b)
	// r's bytes are never written again (see arena).
	return unsafe.String(unsafe.SliceData(r), len(r))
}
