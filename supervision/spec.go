package supervision

import (
	"math"
	"math/rand/v2"
	"time"
)

// Defaults applied to the zero fields of a [Spec].
const (
	DefaultIntensity         = 5
	DefaultPeriod            = 30 * time.Second
	DefaultBackoffBase       = 100 * time.Millisecond
	DefaultBackoffMax        = 30 * time.Second
	DefaultBackoffMultiplier = 2.0
	DefaultBackoffJitter     = 0.2
	DefaultBackoffResetAfter = 10 * time.Second
	DefaultStartTimeout      = 30 * time.Second
	DefaultStopTimeout       = 5 * time.Second
	DefaultProbeInterval     = 10 * time.Second
	DefaultProbeTimeout      = 5 * time.Second
	DefaultProbeFailures     = 3
)

// Spec configures a [Supervisor]. The zero value is ready to use: every zero
// field takes the documented default. Durations and counts that can be
// switched off are switched off by a negative value.
//
// The per-child fields (Backoff, StartTimeout, StopTimeout, Probe) are
// defaults for the children; a [ChildSpec] overrides them field by field.
type Spec struct {
	// EventHook receives every lifecycle event of this supervisor's
	// children (see [Event]). It is called synchronously from the
	// supervisor's goroutine, so it must be quick, must not block and must
	// not call methods of the Supervisor. A hook shared by nested
	// supervisors is called concurrently and must be safe for that.
	// Default: inherited from the parent supervisor when this supervisor is
	// a child of another; otherwise none.
	EventHook EventHook

	// Intensity is the largest number of restarts, all children together,
	// that the supervisor performs within any Period (OTP's MaxR). The
	// failure that would need one more makes the supervisor give up: it
	// stops its other children and Run returns an [*EscalationError].
	// Default 5; negative means never give up.
	Intensity int
	// Period is the sliding window for Intensity (OTP's MaxT).
	// Default 30 s.
	Period time.Duration

	// Backoff is the delay schedule between a child's failure and its
	// restart. Defaults: see [Backoff].
	Backoff Backoff

	// StartTimeout is how long a child has to call ready after its Run was
	// called. A child that misses it is stopped and the failure
	// ([ErrStartTimeout]) handled like a crash. Default 30 s; negative means
	// no deadline. Nested supervisors get no deadline unless their
	// ChildSpec sets one.
	StartTimeout time.Duration
	// StopTimeout is the grace of the stop ladder: after cancelling a
	// child's context the supervisor waits this long for Run to return,
	// then kills the child if it implements [Killer] and waits as long
	// again, then abandons it (recording [ErrStopTimeout]). Default 5 s;
	// negative means wait forever. Nested supervisors are waited for
	// forever unless their ChildSpec sets a timeout: they bound their own
	// children's shutdown.
	StopTimeout time.Duration

	// Probe schedules health probes of children that implement [Prober].
	// Defaults: see [ProbeSpec].
	Probe ProbeSpec

	// Clock is the time source. Default: inherited from the parent
	// supervisor, otherwise [RealClock].
	Clock Clock
	// Rand returns the random numbers in [0, 1) used for backoff jitter.
	// A supervisor calls it from its own goroutine only, but nested
	// supervisors that inherit it call it from theirs, so a shared Rand must
	// be safe for concurrent use. Default: inherited from the parent
	// supervisor, otherwise math/rand/v2's Float64.
	Rand func() float64
}

// withDefaults returns s with its zero fields filled in.
func (s Spec) withDefaults() Spec {
	if s.Intensity == 0 {
		s.Intensity = DefaultIntensity
	}
	if s.Period <= 0 {
		s.Period = DefaultPeriod
	}
	s.Backoff = s.Backoff.withDefaults()
	if s.StartTimeout == 0 {
		s.StartTimeout = DefaultStartTimeout
	}
	if s.StopTimeout == 0 {
		s.StopTimeout = DefaultStopTimeout
	}
	s.Probe = s.Probe.withDefaults()
	if s.Clock == nil {
		s.Clock = RealClock()
	}
	if s.Rand == nil {
		s.Rand = rand.Float64
	}
	return s
}

// Backoff is a capped exponential backoff with jitter. The delay before the
// n-th consecutive restart of a child (n = 1, 2, ...) is
//
//	min(Max, Base × Multiplier^(n−1))
//
// spread uniformly by ±Jitter of itself and capped at Max again. A child
// that stayed up (ready) for ResetAfter before failing starts the sequence
// over at Base.
type Backoff struct {
	// Base is the first delay. Default 100 ms.
	Base time.Duration
	// Max caps every delay. Default 30 s.
	Max time.Duration
	// Multiplier is the growth factor between consecutive delays; values
	// below 1 are taken as 1. Default 2.
	Multiplier float64
	// Jitter is the fraction in [0, 1] by which a delay is randomly
	// lengthened or shortened, so that children failing together do not
	// restart in lockstep. Default 0.2; negative means no jitter.
	Jitter float64
	// ResetAfter is the uptime after which a failure is no longer
	// "consecutive": the next delay is Base again. Default 10 s; negative
	// means never reset.
	ResetAfter time.Duration
}

// inherit returns b with its zero fields taken from def.
func (b Backoff) inherit(def Backoff) Backoff {
	if b.Base == 0 {
		b.Base = def.Base
	}
	if b.Max == 0 {
		b.Max = def.Max
	}
	if b.Multiplier == 0 {
		b.Multiplier = def.Multiplier
	}
	if b.Jitter == 0 {
		b.Jitter = def.Jitter
	}
	if b.ResetAfter == 0 {
		b.ResetAfter = def.ResetAfter
	}
	return b
}

func (b Backoff) withDefaults() Backoff {
	return b.inherit(Backoff{
		Base:       DefaultBackoffBase,
		Max:        DefaultBackoffMax,
		Multiplier: DefaultBackoffMultiplier,
		Jitter:     DefaultBackoffJitter,
		ResetAfter: DefaultBackoffResetAfter,
	})
}

// Delay returns the delay before restart attempt n (1 for the first restart
// after a failure) given r, a random number in [0, 1). Zero fields of b take
// their defaults. r = 0.5 yields the un-jittered delay.
func (b Backoff) Delay(n int, r float64) time.Duration {
	b = b.withDefaults()
	n = max(n, 1)
	mult := max(b.Multiplier, 1)
	limit := float64(max(b.Max, 0))
	d := float64(max(b.Base, 0)) * math.Pow(mult, float64(n-1))
	if math.IsInf(d, 0) || math.IsNaN(d) || d > limit {
		d = limit
	}
	if j := min(b.Jitter, 1); j > 0 {
		d *= 1 + j*(2*r-1)
	}
	d = min(max(d, 0), limit)
	return time.Duration(d)
}

// ProbeSpec schedules the health probes of a child implementing [Prober].
// The first probe starts Interval after the child became ready, each next
// one Interval after the previous one started, or as soon as it ended if it
// took longer than that. Only one probe of a child runs at a time.
type ProbeSpec struct {
	// Interval between probes. Default 10 s; negative disables probing.
	Interval time.Duration
	// Timeout bounds one probe: its context is cancelled and the probe
	// counts as failed ([ErrProbeTimeout]) when it runs longer. Default 5 s.
	Timeout time.Duration
	// Failures is the number of consecutive failed probes after which the
	// child is deemed hung: it is killed and handled like a crashed child.
	// Default 3.
	Failures int
}

func (p ProbeSpec) inherit(def ProbeSpec) ProbeSpec {
	if p.Interval == 0 {
		p.Interval = def.Interval
	}
	if p.Timeout <= 0 {
		p.Timeout = def.Timeout
	}
	if p.Failures <= 0 {
		p.Failures = def.Failures
	}
	return p
}

func (p ProbeSpec) withDefaults() ProbeSpec {
	return p.inherit(ProbeSpec{
		Interval: DefaultProbeInterval,
		Timeout:  DefaultProbeTimeout,
		Failures: DefaultProbeFailures,
	})
}
