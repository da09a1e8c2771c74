package machine

import (
	"sync"
	"testing"

	"github.com/doorface/doorface/clock"
)

// unlockSink is a fakeSink that records, for each EndUnlock, the
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

// check fails the test unless EndUnlock was called want times, each for session and with the
// relay locked.
func (s *unlockSink) check(t *testing.T, session string, want int) {
	t.Helper()
	ended, open := s.get()
	if len(ended) != want {
		t.Fatalf("EndUnlock calls %v, want %d", ended, want)
	}
	for i, id := range ended {
		if id != session || open[i] {
			t.Errorf("EndUnlock(%s) with relay open=%v; want %s with the relay locked", id, open[i], session)
		}
	}
}

// grantedRig is a machine whose sink keeps unlock markers, just after a face grant (with the
// relay's Unlock failing if failUnlock); it returns the granted session. The test's cleanup
// shuts the machine down.
func grantedRig(t *testing.T, failUnlock bool) (*rig, *unlockSink, string) {
	t.Helper()
	r := &rig{t: t, clk: clock.NewFake(t0), lock: &fakeLock{}, sink: newFakeSink(), dir: newFakeDir(), lo: &fakeLockouts{}}
	us := &unlockSink{fakeSink: r.sink, lock: r.lock}
	m, err := New(kOfNConfig(), Deps{Clock: r.clk, Lock: r.lock, Sink: us, Directory: r.dir, Lockouts: r.lo})
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	t.Cleanup(func() { m.Shutdown("end") })
	r.lock.setFailUnlock(failUnlock)
	r.mustFrame(good("alice"))
	st, _ := r.frame(good("alice"))
	if st.Decision == nil || st.Decision.Outcome != Granted {
		t.Fatalf("no grant: %+v", st)
	}
	return r, us, st.Session
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
			r, us, session := grantedRig(t, tc.failUnlock)
			tc.run(r)
			us.check(t, session, tc.wantEnded)
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
			r, us, session := grantedRig(t, false)
			r.lock.setFailLock(true)
			r.clk.Advance(r.m.cfg.UnlockDuration)
			us.check(t, session, 0) // none while the door may be open
			tc.then(r)
			us.check(t, session, tc.wantEnded)
		})
	}
}
