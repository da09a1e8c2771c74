package machine

import (
	"sync"
	"testing"

	"github.com/doorface/doorface/clock"
)

// unlockSink is a fakeSink that is also an UnlockEnder; it records, for each EndUnlock, the
// session and whether the relay was still open at that moment.
type unlockSink struct {
	*fakeSink
	lock  *fakeLock
	mu    sync.Mutex
	ended []string
	open  []bool
}

func (s *unlockSink) EndUnlock(id string) error {
	open := s.lock.isOpen()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = append(s.ended, id)
	s.open = append(s.open, open)
	return nil
}

func (s *unlockSink) get() ([]string, []bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ended...), append([]bool(nil), s.open...)
}

func TestEndUnlockAfterRelock(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failUnlock bool
		run        func(r *rig)
		wantEnded  int
	}{
		{"unlock time over", false, func(r *rig) { r.clk.Advance(r.m.cfg.UnlockDuration) }, 1},
		{"shutdown while unlocking", false, func(r *rig) { r.m.Shutdown("test") }, 1},
		{"still unlocking", false, func(r *rig) { r.clk.Advance(r.m.cfg.UnlockDuration / 2) }, 0},
		{"shutdown in cooldown ends nothing twice", false, func(r *rig) {
			r.clk.Advance(r.m.cfg.UnlockDuration)
			r.m.Shutdown("test")
		}, 1},
		{"failed unlock", true, func(*rig) {}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &rig{t: t, clk: clock.NewFake(t0), lock: &fakeLock{}, sink: newFakeSink(), dir: newFakeDir(), lo: &fakeLockouts{}}
			us := &unlockSink{fakeSink: r.sink, lock: r.lock}
			m, err := New(DefaultConfig(), Deps{Clock: r.clk, Lock: r.lock, Sink: us, Directory: r.dir, Lockouts: r.lo})
			if err != nil {
				t.Fatal(err)
			}
			r.m = m
			defer m.Shutdown("end")
			r.lock.setFailUnlock(tc.failUnlock)
			r.mustFrame(good("alice"))
			st, _ := r.frame(good("alice"))
			if st.Decision == nil || st.Decision.Outcome != Granted {
				t.Fatalf("no grant: %+v", st)
			}
			tc.run(r)
			ended, open := us.get()
			if len(ended) != tc.wantEnded {
				t.Fatalf("EndUnlock calls %v, want %d", ended, tc.wantEnded)
			}
			for i, id := range ended {
				if id != st.Session || open[i] {
					t.Errorf("EndUnlock(%s) with relay open=%v; want %s with the relay locked", id, open[i], st.Session)
				}
			}
		})
	}
}

// TestEndUnlockAfterFailedRelock: when the relock after Unlocking fails, the session's "door
// unlocked" marker stays while the door may be open, and is cleared once a later lock succeeds:
// the relay's own retry (RelayRelocked) or the lock at shutdown. After Shutdown a retry keeps the
// marker (the store may be closed; the next start records the unlocking as interrupted).
func TestEndUnlockAfterFailedRelock(t *testing.T) {
	for _, tc := range []struct {
		name      string
		then      func(r *rig)
		wantEnded int
	}{
		{"the relay's retry locks", func(r *rig) { r.lock.retryLocked(); r.m.RelayRelocked() }, 1},
		{"a second report ends nothing twice", func(r *rig) {
			r.lock.retryLocked()
			r.m.RelayRelocked()
			r.m.RelayRelocked()
		}, 1},
		{"the lock at shutdown fails too", func(r *rig) { r.m.Shutdown("test") }, 0},
		{"the lock at shutdown works", func(r *rig) { r.lock.setFailLock(false); r.m.Shutdown("test") }, 1},
		{"the retry after shutdown keeps the marker", func(r *rig) {
			r.m.Shutdown("test")
			r.lock.retryLocked()
			r.m.RelayRelocked()
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &rig{t: t, clk: clock.NewFake(t0), lock: &fakeLock{}, sink: newFakeSink(), dir: newFakeDir(), lo: &fakeLockouts{}}
			us := &unlockSink{fakeSink: r.sink, lock: r.lock}
			m, err := New(DefaultConfig(), Deps{Clock: r.clk, Lock: r.lock, Sink: us, Directory: r.dir, Lockouts: r.lo})
			if err != nil {
				t.Fatal(err)
			}
			r.m = m
			defer m.Shutdown("end")
			r.mustFrame(good("alice"))
			st, _ := r.frame(good("alice"))
			if st.Decision == nil || st.Decision.Outcome != Granted {
				t.Fatalf("no grant: %+v", st)
			}
			r.lock.setFailLock(true)
			r.clk.Advance(r.m.cfg.UnlockDuration)
			if ended, _ := us.get(); len(ended) != 0 {
				t.Fatalf("EndUnlock %v after a failed relock, want none while the door may be open", ended)
			}
			tc.then(r)
			ended, open := us.get()
			if len(ended) != tc.wantEnded {
				t.Fatalf("EndUnlock calls %v, want %d", ended, tc.wantEnded)
			}
			for i, id := range ended {
				if id != st.Session || open[i] {
					t.Errorf("EndUnlock(%s) with relay open=%v; want %s with the relay locked", id, open[i], st.Session)
				}
			}
		})
	}
}
