package console_test

import (
	"os"
	"testing"

	"github.com/mobd-dev/mobd/internal/mobdtest"
)

// mobdBin is the mobd executable built for this test binary, with rkat-sim
// next to it (where `--runtime sim` looks first).
var mobdBin string

func TestMain(m *testing.M) {
	// The browser's driver keeps goroutines of its own: no leak check.
	os.Exit(mobdtest.Main(m, &mobdBin, false))
}
