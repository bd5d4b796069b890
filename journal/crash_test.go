package journal_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/journal"
)

// crashChildEnv, when set, makes TestCrashRecovery act as the child process
// that gets killed: its value is the database path.
const crashChildEnv = "JOURNAL_TEST_CRASH_CHILD"

const (
	crashSynced  = 300 // records the child makes durable before reporting
	crashPerCall = 3   // records per Append call; a crash keeps whole calls
)

// crashRecord is the deterministic content of the record with seq n, so the
// parent can check every surviving record byte for byte.
func crashRecord(n uint64) journal.Record {
	return journal.Record{
		Mob:  fmt.Sprintf("mob-%d", n%5),
		Run:  fmt.Sprintf("run-%d", n%7),
		Kind: "step_completed",
		At:   time.Unix(1_700_000_000, int64(n)).UTC(),
		Data: json.RawMessage(fmt.Sprintf(`{"n":%d,"pad":%q}`, n, strings.Repeat("x", int(n%97)))),
	}
}

func crashCall(first uint64) []journal.Record {
	recs := make([]journal.Record, crashPerCall)
	for i := range recs {
		recs[i] = crashRecord(first + uint64(i))
	}
	return recs
}

// runCrashChild appends crashSynced records durably, reports the last seq on
// stdout, then appends without syncing until it is killed.
func runCrashChild(path string) {
	ctx := context.Background()
	s, err := journal.Open(ctx, path, journal.Options{})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	var next uint64 = 1
	var last uint64
	for next <= crashSynced {
		if last, err = s.AppendSync(ctx, crashCall(next)...); err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		next += crashPerCall
	}
	fmt.Printf("SYNCED %d\n", last)
	for {
		if _, err := s.Append(crashCall(next)...); err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		next += crashPerCall
		if next%(100*crashPerCall) == 1 {
			// Let the writer commit some, so the kill lands among commits.
			if err := s.Sync(ctx); err != nil {
				fmt.Println("ERROR", err)
				os.Exit(1)
			}
		}
	}
}

func TestCrashRecovery(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		runCrashChild(path) // never returns
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	path := tempPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	killed := false
	defer func() {
		if !killed { // the test failed early: do not leave the child running
			_ = cmd.Process.Kill()
			for range lines {
			}
			_ = cmd.Wait()
		}
	}()
	var synced uint64
	timeout := time.After(30 * time.Second)
	for synced == 0 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("child exited without reporting")
			}
			if v, found := strings.CutPrefix(line, "SYNCED "); found {
				if synced, err = strconv.ParseUint(v, 10, 64); err != nil {
					t.Fatalf("child reported %q: %v", line, err)
				}
			} else if strings.HasPrefix(line, "ERROR") {
				t.Fatalf("child: %s", line)
			}
		case <-timeout:
			t.Fatal("child did not report in time")
		}
	}

	time.Sleep(150 * time.Millisecond) // mid-stream of unsynced appends
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	killed = true
	for range lines { // read to EOF before Wait closes the pipe
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v", err)
	}

	s := open(t, path, journal.Options{})
	recs := mustRead(t, s, journal.Query{})
	if uint64(len(recs)) < synced {
		t.Fatalf("after crash: %d records, but %d were synced", len(recs), synced)
	}
	for i, r := range recs {
		want := crashRecord(uint64(i + 1))
		want.Seq = uint64(i + 1)
		if r.Seq != want.Seq || r.Mob != want.Mob || r.Run != want.Run || r.Kind != want.Kind ||
			!r.At.Equal(want.At) || string(r.Data) != string(want.Data) {
			t.Fatalf("after crash: record %d = %+v, want %+v", i, r, want)
		}
	}
	if len(recs)%crashPerCall != 0 {
		t.Fatalf("after crash: %d records, not whole Append calls of %d", len(recs), crashPerCall)
	}
	if got := s.LastSeq(); got != uint64(len(recs)) {
		t.Fatalf("after crash: LastSeq = %d, want %d", got, len(recs))
	}
	if last := mustAppend(t, s, journal.Record{Mob: "m", Kind: "k"}); last != uint64(len(recs))+1 {
		t.Fatalf("after crash: Append assigned %d, want %d", last, len(recs)+1)
	}
	t.Logf("synced %d, survived %d records", synced, len(recs))
}
