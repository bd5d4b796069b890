package main

import (
	"net/url"
	"os"
	"testing"
	"time"
)

// TestCompareWithJournal checks the verdict on a subscriber's events: exact
// when they are the journal's, and every kind of difference counted.
func TestCompareWithJournal(t *testing.T) {
	ref := []uint64{3, 5, 8, 13, 21}
	for _, c := range []struct {
		name                         string
		got                          []uint64
		exact                        bool
		lost, dup, disordered, extra int
	}{
		{"exact", []uint64{3, 5, 8, 13, 21}, true, 0, 0, 0, 0},
		{"lost", []uint64{3, 8, 13, 21}, false, 1, 0, 0, 0},
		{"duplicated", []uint64{3, 5, 5, 8, 13, 21}, false, 0, 1, 1, 0},
		{"out of order", []uint64{3, 8, 5, 13, 21}, false, 0, 0, 1, 0},
		{"unknown", []uint64{3, 4, 5, 8, 13, 21}, false, 0, 0, 0, 1},
		{"nothing", nil, false, 5, 0, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r report
			r.addSubscriber(&subscriber{query: url.Values{}, ids: c.got}, ref)
			if exact := r.subsExact == 1; exact != c.exact || r.lost != c.lost || r.dup != c.dup || r.disordered != c.disordered || r.extra != c.extra {
				t.Fatalf("exact %v lost %d dup %d disordered %d extra %d", exact, r.lost, r.dup, r.disordered, r.extra)
			}
			r.stats = statsSummary{started: 1, completed: 1}
			if r.ok() != c.exact {
				t.Fatalf("ok() = %v", r.ok())
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := percentiles(ds)
	if l.n != 100 || l.p50 != 50*time.Millisecond || l.p90 != 90*time.Millisecond || l.p99 != 99*time.Millisecond ||
		l.max != 100*time.Millisecond || l.avg != 50500*time.Microsecond {
		t.Fatalf("%+v", l)
	}
	if (percentiles(nil) != latency{}) {
		t.Fatal("no samples")
	}
}

func TestProcStatus(t *testing.T) {
	st, err := procStatus(os.Getpid())
	if err != nil {
		t.Skip("no /proc:", err)
	}
	if st["VmRSS"] <= 0 || st["VmHWM"] < st["VmRSS"] {
		t.Fatalf("VmRSS %d kB, VmHWM %d kB", st["VmRSS"], st["VmHWM"])
	}
	if procCPU(os.Getpid()) < 0 {
		t.Fatal("negative CPU time")
	}
}
