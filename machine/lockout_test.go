package machine

import (
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
			r := newRig(t, DefaultConfig(), tc.lockout)
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
