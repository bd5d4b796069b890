package supervisiontest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mobd-dev/mobd/supervision"
	"github.com/mobd-dev/mobd/supervision/supervisiontest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFakeClock(t *testing.T) {
	t.Parallel()
	c := supervisiontest.NewFakeClock(time.Time{})
	t0 := c.Now()
	late, early := c.NewTimer(2*time.Second), c.NewTimer(time.Second)
	stopped := c.NewTimer(time.Second)
	if c.Timers() != 3 {
		t.Fatalf("Timers = %d", c.Timers())
	}
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop of an armed timer must report true once")
	}
	c.BlockUntil(2)

	c.Advance(time.Second - time.Nanosecond)
	select {
	case <-early.C():
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Nanosecond)
	if at := <-early.C(); !at.Equal(t0.Add(time.Second)) {
		t.Errorf("fired at %v", at)
	}
	if c.Timers() != 1 || early.Stop() {
		t.Error("a fired timer is no longer armed")
	}
	c.Advance(time.Hour)
	<-late.C()
	select {
	case <-stopped.C():
		t.Error("a stopped timer fired")
	default:
	}
	if now := c.Now(); !now.Equal(t0.Add(time.Hour+time.Second)) || c.Since(t0) != time.Hour+time.Second {
		t.Errorf("Now = %v", now)
	}
	<-c.NewTimer(0).C() // fires at once

	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := c.BlockUntilContext(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("BlockUntilContext = %v", err)
	}
	go func() { c.NewTimer(time.Second) }()
	c.BlockUntil(1)
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := supervisiontest.NewRecorder()
	hook := r.Hook()
	hook(supervision.EventStarted{EventInfo: supervision.EventInfo{Child: "a"}})
	hook(supervision.EventStopped{EventInfo: supervision.EventInfo{Child: "a"}})
	go hook(supervision.EventStarted{EventInfo: supervision.EventInfo{Child: "b"}})

	if e, err := r.Next(ctx); err != nil || e.Type() != supervision.EventTypeStarted {
		t.Fatalf("Next = %v, %v", e, err)
	}
	b, err := supervisiontest.WaitFor(ctx, r, func(e supervision.EventStarted) bool { return e.Child == "b" })
	if err != nil || b.Child != "b" {
		t.Fatalf("WaitFor = %v, %v", b, err)
	}
	// Await sees consumed events too and does not move the cursor.
	if s, err := supervisiontest.Await[supervision.EventStopped](ctx, r, nil); err != nil || s.Child != "a" {
		t.Fatalf("Await = %v, %v", s, err)
	}
	short, cancelShort := context.WithTimeout(ctx, time.Millisecond)
	defer cancelShort()
	if _, err := r.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next with no event = %v", err)
	}
	if n := len(r.Events()); n != 3 {
		t.Errorf("%d events", n)
	}
}

// Testing a supervisor without sleeping: wait for each backoff event and
// advance the fake clock by its delay.
func ExampleFakeClock() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := supervisiontest.NewFakeClock(time.Time{})
	rec := supervisiontest.NewRecorder()
	sup := supervision.New("root", supervision.Spec{
		Clock:     clk,
		EventHook: rec.Hook(),
		Intensity: 4,
		Backoff:   supervision.Backoff{Base: time.Second, Jitter: -1},
	})
	_ = sup.Add("flaky", supervision.ChildFunc(func(context.Context, func()) error {
		return errors.New("boom")
	}), supervision.ChildSpec{})
	errc := sup.ServeBackground(ctx)

	for range 4 {
		b, _ := supervisiontest.WaitFor[supervision.EventBackoff](ctx, rec, nil)
		fmt.Println("backoff", b.Delay)
		clk.Advance(b.Delay)
	}
	err := <-errc
	fmt.Println(errors.Is(err, supervision.ErrIntensityExceeded))
	// Output:
	// backoff 1s
	// backoff 2s
	// backoff 4s
	// backoff 8s
	// true
}
