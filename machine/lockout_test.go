package machine

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestLockoutRefusesWithoutChecking: while a PIN lockout runs, every guess (the correct PIN
// included) ends the session as locked_out without reaching the Directory, so guessing during a
// lockout teaches an attacker nothing and costs the store nothing. Once the lockout is over, PINs
// are checked again.
func TestLockoutRefusesWithoutChecking(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lockout Lockout // loaded at New, as after a restart
		setup   func(r *rig)
		retry   time.Duration // the lockout's remaining time at the first refused guess
	}{
		{"lockout reached by guessing across sessions", Lockout{}, func(r *rig) {
			for range 2 {
				r.toPin()
				for r.state() == PinFallback {
					r.pin("0000")
				}
			}
			if lo := r.lo.get(); lo.Level != 1 || !lo.Until.After(r.clk.Now()) {
				r.t.Fatalf("after 5 wrong PINs: lockout %+v", lo)
			}
		}, 60 * time.Second},
		{"lockout loaded at start", Lockout{Level: 2, Until: t0.Add(10 * time.Minute)}, func(*rig) {}, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, kOfNConfig(), tc.lockout)
			defer r.m.Shutdown("end")
			tc.setup(r)
			before := r.dir.lookupCount()
			saved := r.lo.get()
			for i, pin := range []string{"1111", "0000", "2222", "4444", "1111"} {
				r.toPin()
				res := r.pin(pin)
				if res.Outcome != LockedOut || res.State != Idle || r.lock.isOpen() {
					t.Fatalf("guess %d during the lockout: %+v, relay open %v", i, res, r.lock.isOpen())
				}
				if i == 0 && res.RetryAfter != tc.retry {
					t.Errorf("retry after %v, want %v", res.RetryAfter, tc.retry)
				}
				if a := r.sink.last(t); a.Outcome != LockedOut {
					t.Fatalf("guess %d recorded %+v", i, a)
				}
				r.clk.Advance(time.Second)
			}
			if n := r.dir.lookupCount() - before; n != 0 {
				t.Fatalf("LookupPIN called %d times during the lockout, want 0", n)
			}
			if lo := r.lo.get(); lo != saved {
				t.Fatalf("refused guesses changed the lockout: %+v, was %+v", lo, saved)
			}

			// The lockout over: the correct PIN is looked up once and grants.
			r.clk.Advance(saved.Until.Sub(r.clk.Now()))
			r.toPin()
			if res := r.pin("1111"); res.Outcome != Granted {
				t.Fatalf("correct PIN after the lockout: %+v", res)
			}
			if n := r.dir.lookupCount() - before; n != 1 {
				t.Fatalf("LookupPIN called %d times after the lockout, want 1", n)
			}
		})
	}
}

// wrongPINs types n wrong PINs, in as many sessions as MaxPinTries needs, and stops early when a
// lockout ends a session.
func (r *rig) wrongPINs(n int) PinResult {
	r.t.Helper()
	var res PinResult
	for range n {
		if r.state() != PinFallback {
			r.toPin()
		}
		res = r.pin("0000")
		if res.Outcome == LockedOut {
			return res
		}
	}
	return res
}

// TestLockoutIsBounded (issue 15, finding 7): a stranger typing wrong PINs cannot keep every
// user's PIN fallback locked for hours. Failures older than FailureWindow stop counting, the
// escalation is forgotten a window after the last lockout ended, and one lockout lasts at most
// LockoutMax. Each case fails on the unbounded, never-decaying lockout.
func TestLockoutIsBounded(t *testing.T) {
	cfg := kOfNConfig() // 5 failures, 60s doubling, capped at 15m, window 1h
	t.Run("failures older than the window stop counting", func(t *testing.T) {
		r := newRig(t, cfg, Lockout{})
		defer r.m.Shutdown("end")
		r.wrongPINs(4)
		r.clk.Advance(cfg.FailureWindow)
		if res := r.wrongPINs(1); res.Outcome == LockedOut {
			t.Fatalf("a 5th failure a window after the first 4 locked out: %+v", res)
		}
		if lo := r.lo.get(); lo.Failures != 1 || lo.Level != 0 || !lo.Since.Equal(r.clk.Now()) {
			t.Fatalf("saved lockout %+v, want 1 failure counted from now", lo)
		}
		// Within the window they count: 4 more make the 5th.
		if res := r.wrongPINs(4); res.Outcome != LockedOut || res.RetryAfter != cfg.LockoutBase {
			t.Fatalf("5 failures within the window: %+v", res)
		}
	})
	t.Run("one lockout lasts at most LockoutMax", func(t *testing.T) {
		r := newRig(t, cfg, Lockout{})
		defer r.m.Shutdown("end")
		var got []time.Duration
		for range 7 {
			res := r.wrongPINs(cfg.LockoutAfter)
			if res.Outcome != LockedOut {
				t.Fatalf("no lockout after %d failures: %+v", cfg.LockoutAfter, res)
			}
			got = append(got, res.RetryAfter)
			r.clk.Advance(res.RetryAfter)
		}
		want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
			15 * time.Minute, 15 * time.Minute, 15 * time.Minute}
		if !slices.Equal(got, want) {
			t.Fatalf("lockouts %v, want %v", got, want)
		}
	})
	t.Run("the escalation is forgotten a window after the last lockout", func(t *testing.T) {
		r := newRig(t, cfg, Lockout{})
		defer r.m.Shutdown("end")
		for range 3 {
			res := r.wrongPINs(cfg.LockoutAfter)
			r.clk.Advance(res.RetryAfter)
		}
		r.clk.Advance(cfg.FailureWindow)
		if res := r.wrongPINs(cfg.LockoutAfter); res.RetryAfter != cfg.LockoutBase {
			t.Fatalf("lockout a window after the last one: %+v, want the base %v", res, cfg.LockoutBase)
		}
	})
	t.Run("a lockout of hours loaded at start is cut to LockoutMax", func(t *testing.T) {
		r := newRig(t, cfg, Lockout{Level: 12, Until: t0.Add(68 * time.Hour)})
		defer r.m.Shutdown("end")
		r.toPin()
		if res := r.pin("1111"); res.Outcome != LockedOut || res.RetryAfter != DefaultLockoutMax {
			t.Fatalf("loaded lockout: %+v", res)
		}
		r.clk.Advance(DefaultLockoutMax)
		r.toPin()
		if res := r.pin("1111"); res.Outcome != Granted {
			t.Fatalf("correct PIN after LockoutMax: %+v", res)
		}
	})
}

// TestResetLockout: an administrator's reset ends a running lockout at once, so the correct PIN
// grants again; the store audits who reset it, and a reset after Shutdown is refused.
func TestResetLockout(t *testing.T) {
	for _, name := range []string{"lockout reset by an administrator"} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, kOfNConfig(), Lockout{})
			rl := r.lo
			if res := r.wrongPINs(5); res.Outcome != LockedOut {
				t.Fatalf("no lockout: %+v", res)
			}
			r.toPin()
			if res := r.pin("1111"); res.Outcome != LockedOut {
				t.Fatalf("correct PIN during the lockout: %+v", res)
			}
			was, err := r.m.ResetLockout("admin-token-1")
			if err != nil || was.Level != 1 || !was.Until.After(r.clk.Now()) {
				t.Fatalf("ResetLockout = %+v, %v", was, err)
			}
			if lo := r.lo.get(); lo != (Lockout{}) || r.m.Lockout() != (Lockout{}) {
				t.Fatalf("after reset: saved %+v, machine %+v", lo, r.m.Lockout())
			}
			if resets := rl.resetsSoFar(); len(resets) != 1 || resets[0] != "admin-token-1 1 "+r.clk.Now().Format(time.RFC3339) {
				t.Fatalf("audited resets %q", resets)
			}
			r.toPin()
			if res := r.pin("1111"); res.Outcome != Granted {
				t.Fatalf("correct PIN after the reset: %+v", res)
			}
			r.m.Shutdown("end")
			if _, err := r.m.ResetLockout("late"); !errors.Is(err, ErrClosed) {
				t.Fatalf("ResetLockout after Shutdown: %v", err)
			}
		})
	}
}
