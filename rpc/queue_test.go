package rpc

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestEventQueueOrder pushes through queues small enough to fill, so the
// producer waits for room and chunks are recycled, and checks that the
// consumer sees every event once, in order, and then the end.
func TestEventQueueOrder(t *testing.T) {
	for _, tc := range []struct {
		capacity, events int
	}{{1, 100}, {3, 1000}, {16, 5000}, {300, 20000}, {16384, 20000}} {
		t.Run(strconv.Itoa(tc.capacity), func(t *testing.T) {
			q := newEventQueue(tc.capacity, OverflowBlock)
			stop := make(chan struct{})
			defer close(stop)
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := range tc.events {
					if !q.pushQuiet(&queueItem{frame: []byte(strconv.Itoa(i))}, stop) {
						t.Errorf("push %d refused", i)
						return
					}
					if i%7 == 0 {
						q.publish()
						wake(q.signal)
					}
				}
				q.publish()
				q.end(nil)
			})
			for i := 0; ; i++ {
				it, ok, err := q.pop(context.Background())
				if !ok {
					if err != nil || i != tc.events {
						t.Fatalf("ended after %d events with %v, want %d and nil", i, err, tc.events)
					}
					break
				}
				if got := string(it.frame); got != strconv.Itoa(i) {
					t.Fatalf("event %d is %q", i, got)
				}
			}
			wg.Wait()
			if tc.events > 2*chunkLen && q.chunks > tc.capacity/chunkLen+3 {
				t.Fatalf("%d chunks allocated for a queue of %d", q.chunks, tc.capacity)
			}
		})
	}
}

// TestEventQueueOverflowFail checks that a full OverflowFail queue hands
// out what it holds and then the overflow error, and refuses later events.
func TestEventQueueOverflowFail(t *testing.T) {
	q := newEventQueue(4, OverflowFail)
	for i := range 6 {
		ok := q.pushQuiet(&queueItem{frame: []byte{byte('a' + i)}}, nil)
		if want := i < 4; ok != want {
			t.Fatalf("push %d accepted=%v", i, ok)
		}
	}
	var got []byte
	for {
		it, ok, err := q.pop(context.Background())
		if !ok {
			if !errors.Is(err, ErrStreamOverflow) {
				t.Fatalf("end %v, want overflow", err)
			}
			break
		}
		got = append(got, it.frame...)
	}
	if string(got) != "abcd" {
		t.Fatalf("consumed %q", got)
	}
}

// TestEventQueueDetach checks that detaching releases a producer waiting
// for room and ends the consumer.
func TestEventQueueDetach(t *testing.T) {
	q := newEventQueue(1, OverflowBlock)
	q.push([]byte("a"), nil)
	refused := make(chan bool)
	go func() { refused <- !q.pushQuiet(&queueItem{frame: []byte("b")}, nil) }()
	time.Sleep(10 * time.Millisecond) // let it wait for room (either way the result holds)
	q.detach()
	if !<-refused {
		t.Fatal("push after detach accepted")
	}
	if _, ok, err := q.pop(context.Background()); ok || !errors.Is(err, ErrClientClosed) {
		t.Fatalf("pop after detach: ok=%v err=%v", ok, err)
	}
}

// TestEventQueueContext checks that a consumer waiting on an empty queue
// stops with its context.
func TestEventQueueContext(t *testing.T) {
	q := newEventQueue(8, OverflowBlock)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, ok, err := q.pop(ctx); ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("pop: ok=%v err=%v", ok, err)
	}
}
