package machine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// recordingLock is a fakeLock that notes, at each Unlock, how many attempts the sink held: a
// grant must be recorded before the relay opens.
type recordingLock struct {
	*fakeLock
	sink          *fakeSink
	recordsAtOpen []int
}

func (l *recordingLock) Unlock(d time.Duration) error {
	l.recordsAtOpen = append(l.recordsAtOpen, len(l.sink.all()))
	return l.fakeLock.Unlock(d)
}

func TestRemoteUnlock(t *testing.T) {
	for _, tc := range []struct {
		name       string
		setup      func(r *rig)
		failRecord bool
		wantErr    error
		wantState  State
		wantOpen   bool
		wantRecs   int // records after the call
	}{
		{name: "idle", wantState: Unlocking, wantOpen: true, wantRecs: 1},
		{name: "open session is cancelled first", setup: func(r *rig) { r.mustFrame(near("bob", 0.9, 0.2)) },
			wantState: Unlocking, wantOpen: true, wantRecs: 2},
		{name: "audit fails: door stays locked", failRecord: true, wantErr: ErrAuditFailed, wantState: Idle, wantRecs: 0},
		{name: "lockdown refuses", setup: func(r *rig) {
			if ch, err := r.m.SetLockdown(true, "test"); !ch || err != nil {
				t.Fatalf("SetLockdown = %v %v", ch, err)
			}
		}, wantErr: ErrLockdown, wantState: Idle, wantRecs: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, kOfNConfig(), Lockout{})
			defer r.m.Shutdown("end")
			rl := &recordingLock{fakeLock: r.lock, sink: r.sink}
			r.m.lock = rl // same relay, observed
			if tc.setup != nil {
				tc.setup(r)
			}
			r.sink.set(false, tc.failRecord)
			err := r.m.RemoteUnlock("alice via mqtt")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("RemoteUnlock = %v, want %v", err, tc.wantErr)
			}
			r.wantState(tc.wantState)
			if r.lock.isOpen() != tc.wantOpen {
				t.Fatalf("relay open = %v, want %v", r.lock.isOpen(), tc.wantOpen)
			}
			recs := r.sink.all()
			if len(recs) != tc.wantRecs {
				t.Fatalf("records %+v, want %d", recs, tc.wantRecs)
			}
			if !tc.wantOpen {
				return
			}
			last := recs[len(recs)-1]
			if last.Outcome != Granted || last.Method != MethodRemote || !strings.Contains(last.Reason, "alice via mqtt") {
				t.Fatalf("record = %+v, want granted, remote, naming who asked", last)
			}
			if len(rl.recordsAtOpen) != 1 || rl.recordsAtOpen[0] != tc.wantRecs {
				t.Fatalf("records when the relay opened = %v, want %d (the grant written first)", rl.recordsAtOpen, tc.wantRecs)
			}
		})
	}
}

func TestLockdown(t *testing.T) {
	r := newRig(t, kOfNConfig(), Lockout{})
	defer r.m.Shutdown("end")
	r.dir.users["u1"] = fakeUser{name: "Alice", pin: "1234", enabled: true}
	r.toPin()
	sess := r.m.Snapshot().Session

	changed, err := r.m.SetLockdown(true, "ops")
	if !changed || err != nil {
		t.Fatalf("SetLockdown(true) = %v %v", changed, err)
	}
	if again, _ := r.m.SetLockdown(true, "ops"); again {
		t.Fatal("second SetLockdown(true) reported a change")
	}
	if last := r.sink.last(t); last.ID != sess || last.Outcome != Cancelled || !strings.Contains(last.Reason, "lockdown") {
		t.Fatalf("open session's record = %+v, want cancelled by the lockdown", last)
	}
	if s := r.m.Snapshot(); s.State != Idle || !s.Lockdown {
		t.Fatalf("snapshot = %+v, want Idle in lockdown", s)
	}
	if _, err := r.m.Admit(""); !errors.Is(err, ErrLockdown) {
		t.Fatalf("Admit in lockdown = %v, want ErrLockdown", err)
	}
	if _, err := r.m.EnterPIN(sess, "1234"); err == nil {
		t.Fatal("EnterPIN in lockdown accepted")
	}
	if err := r.m.RemoteUnlock("x"); !errors.Is(err, ErrLockdown) {
		t.Fatalf("RemoteUnlock in lockdown = %v", err)
	}
	if r.lock.isOpen() {
		t.Fatal("relay opened in lockdown")
	}
	// The exit button still opens the door.
	if err := r.m.ExitRequest(""); err != nil {
		t.Fatalf("ExitRequest in lockdown: %v", err)
	}
	r.wantState(Unlocking)
	if !r.lock.isOpen() || r.sink.last(t).Method != MethodExit {
		t.Fatalf("exit in lockdown: open=%v record=%+v", r.lock.isOpen(), r.sink.last(t))
	}
	// Released: frames are admitted again.
	r.clk.Advance(r.m.cfg.UnlockDuration + r.m.cfg.Cooldown)
	r.wantState(Idle)
	if changed, err := r.m.SetLockdown(false, "ops"); !changed || err != nil {
		t.Fatalf("release = %v %v", changed, err)
	}
	if _, err := r.m.Admit(""); err != nil {
		t.Fatalf("Admit after release: %v", err)
	}
}

func TestLockdownRelocksAnOpenDoor(t *testing.T) {
	r := newRig(t, kOfNConfig(), Lockout{})
	defer r.m.Shutdown("end")
	if err := r.m.ExitRequest(""); err != nil {
		t.Fatal(err)
	}
	if !r.lock.isOpen() {
		t.Fatal("exit did not open")
	}
	if _, err := r.m.SetLockdown(true, "ops"); err != nil {
		t.Fatal(err)
	}
	if r.lock.isOpen() {
		t.Fatal("lockdown left the door open")
	}
	r.wantState(Cooldown)
}
