package main

import (
	"os"
	"testing"

	"github.com/mobd-dev/mobd/internal/mobdtest"
)

// mobdBin is the mobd executable built for this test binary, with rkat-sim
// next to it (where `--runtime sim` looks first).
var mobdBin string

func TestMain(m *testing.M) {
	os.Exit(mobdtest.Main(m, &mobdBin, true))
}
