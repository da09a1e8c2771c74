package machine

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestConcurrentClients runs several clients, a clock, readers and a subscriber that never reads
// against one machine (meant for -race), then checks the records and the lock.
func TestConcurrentClients(t *testing.T) {
	r := newRig(t, kOfNConfig(), Lockout{})
	stuck, _ := r.m.Subscribe(1) // never read: must not block the machine
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				tk, err := r.m.Admit("")
				var busy *BusyError
				switch {
				case errors.As(err, &busy):
					continue
				case err != nil:
					t.Errorf("admit: %v", err)
					return
				}
				frame := good("alice")
				if (i+c)%3 == 0 {
					frame = near("bob", 0.9, 0.1)
				}
				if _, err := r.m.Submit(tk, frame); err != nil && !errors.Is(err, ErrStaleSession) {
					t.Errorf("submit: %v", err)
				}
				switch i % 7 {
				case 3:
					_, _ = r.m.EnterPIN(tk.Session, "9999")
				case 5:
					_ = r.m.Cancel(tk.Session)
				}
			}
		}()
	}
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				r.clk.Advance(700 * time.Millisecond)
			}
		}
	}()
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				s := r.m.Snapshot()
				if (s.State == Idle) != (s.Session == "") {
					t.Errorf("snapshot %+v", s)
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()
	r.m.Shutdown("test over")
	if r.lock.isOpen() {
		t.Fatal("door open after shutdown")
	}
	if r.m.Dropped() == 0 {
		t.Fatal("the stuck subscriber dropped nothing")
	}
	if _, ok := <-stuck; !ok {
		t.Fatal("stuck subscriber's buffered transition lost")
	}
	r.sink.mu.Lock()
	defer r.sink.mu.Unlock()
	if len(r.sink.begun) == 0 {
		t.Fatal("no session ran")
	}
	// Each session has exactly one record, or (no face seen in it: admitted, then timed out
	// before its frame arrived) exactly one discarded marker.
	discarded := map[string]int{}
	for _, id := range r.sink.discarded {
		discarded[id]++
	}
	for _, id := range r.sink.begun {
		if r.sink.calls[id]+discarded[id] != 1 {
			t.Fatalf("session %s recorded %d times, discarded %d times", id, r.sink.calls[id], discarded[id])
		}
	}
}

func TestSubscribe(t *testing.T) {
	r := newRig(t, kOfNConfig(), Lockout{})
	ch, unsubscribe := r.m.Subscribe(0)
	r.mustFrame(good("alice"))
	tr := <-ch
	if tr.From != Idle || tr.To != Receiving || tr.Session == "" || !tr.At.Equal(t0) || tr.Reason == "" {
		t.Fatalf("transition %+v", tr)
	}
	r.mustFrame(good("alice")) // Recognizing, then Unlocking: the buffer of 1 holds one of them
	if got := r.m.Dropped(); got != 1 {
		t.Fatalf("dropped %d, want 1", got)
	}
	unsubscribe()
	unsubscribe()
	if _, ok := <-ch; !ok {
		t.Fatal("buffered transition lost on unsubscribe")
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel not closed by unsubscribe")
	}
	late, _ := r.m.Subscribe(4)
	r.m.Shutdown("test")
	var last Transition
	for tr := range late {
		last = tr
	}
	if last.To != Idle || last.Reason != "shutdown: test" {
		t.Fatalf("last transition %+v", last)
	}
	closed, _ := r.m.Subscribe(1)
	if _, ok := <-closed; ok {
		t.Fatal("subscription after shutdown is open")
	}
}

func TestDecisionIsPublishedOnceAndCarriesNoNearMiss(t *testing.T) {
	r := newRig(t, kOfNConfig(), Lockout{})
	r.toPin()
	r.pin("0")
	r.pin("0")
	r.pin("0")
	var decisions []*Decision
	for _, tr := range drain(r) {
		if tr.Decision != nil {
			decisions = append(decisions, tr.Decision)
		}
	}
	if len(decisions) != 1 || decisions[0].Outcome != Denied || decisions[0].User != "" || decisions[0].Name != "" {
		t.Fatalf("decisions %+v", decisions)
	}
}
