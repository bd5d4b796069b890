package supervision_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/supervision"
)

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	b := supervision.Backoff{Base: 100 * ms, Max: time.Second, Multiplier: 2, Jitter: 0.2}
	tests := []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{1, 0.5, 100 * ms}, // r = 0.5: no jitter
		{2, 0.5, 200 * ms},
		{4, 0.5, 800 * ms},
		{5, 0.5, time.Second}, // capped
		{60, 0.5, time.Second},
		{5000, 0.5, time.Second}, // no overflow
		{0, 0.5, 100 * ms},       // n < 1 is the first attempt
		{1, 0, 80 * ms},          // -20 %
		{2, 0.75, 220 * ms},      // +10 %
		{5, 0, 800 * ms},         // jitter applies below the cap...
		{5, 0.999, time.Second},  // ...and never exceeds it
	}
	for _, tt := range tests {
		if got := b.Delay(tt.n, tt.r); got != tt.want {
			t.Errorf("Delay(%d, %v) = %v, want %v", tt.n, tt.r, got, tt.want)
		}
	}

	if got := (supervision.Backoff{}).Delay(3, 0.5); got != 4*supervision.DefaultBackoffBase {
		t.Errorf("zero Backoff: Delay(3) = %v, want defaults (%v)", got, 4*supervision.DefaultBackoffBase)
	}
	noJitter := supervision.Backoff{Base: 10 * ms, Jitter: -1}
	if got := noJitter.Delay(1, 0); got != 10*ms {
		t.Errorf("negative jitter: Delay(1, 0) = %v, want 10ms", got)
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(1, 2))
	b := supervision.Backoff{Base: 100 * time.Millisecond, Max: 3 * time.Second, Multiplier: 3, Jitter: 0.5}
	for n := 1; n <= 8; n++ {
		nominal := min(time.Duration(float64(b.Base)*pow(3, n-1)), b.Max)
		lo, hi := nominal/2, min(nominal*3/2, b.Max)
		seen := map[time.Duration]bool{}
		for range 200 {
			d := b.Delay(n, rnd.Float64())
			if d < lo || d > hi {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", n, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("attempt %d: only %d distinct delays: jitter not applied", n, len(seen))
		}
	}
}

func pow(x float64, n int) float64 {
	r := 1.0
	for range n {
		r *= x
	}
	return r
}
