package machine

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"
)

const (
	sec = time.Second
	ms  = time.Millisecond
)

// want checks a condition inside a table case.
func want(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

func TestTransitions(t *testing.T) {
	const (
		I = Idle
		R = Receiving
		G = Recognizing
		U = Unlocking
		C = Cooldown
		P = PinFallback
	)
	tests := []struct {
		name    string
		cfg     func(*Config)
		lockout Lockout
		leaky   bool // timers cannot be stopped
		run     func(t *testing.T, r *rig)
		path    []State // targets of the published transitions, in order
		outcome []Outcome
	}{
		{
			name: "frame starts a session",
			run: func(t *testing.T, r *rig) {
				st := r.mustFrame(FrameResult{Quality: "no_face"})
				want(t, st.State == R && st.Session != "" && st.Seq == 1, "status %+v", st)
				want(t, len(st.Session) == 32, "session id %q is not 128 bits hex", st.Session)
			},
			path: []State{R},
		},
		{
			name: "receive timeout after exactly ReceiveTimeout",
			run: func(t *testing.T, r *rig) {
				r.mustFrame(FrameResult{Quality: "blurry", Evidence: []byte("blurry")})
				r.clk.Advance(5*sec - ms)
				r.wantState(R)
				r.clk.Advance(ms)
				r.wantState(I)
				a := r.sink.last(t)
				want(t, a.Frames == 1 && a.BestDistance == -1 && a.BestUser == "" && a.Evidence == nil, "attempt %+v", a)
				want(t, a.Durations[R] == 5*sec, "durations %v", a.Durations)
			},
			path:    []State{R, I},
			outcome: []Outcome{Timeout},
		},
		{
			name: "k of n usable frames unlock, then cooldown, then idle",
			run: func(t *testing.T, r *rig) {
				st := r.mustFrame(good("alice"))
				want(t, st.State == G && st.Match != nil && st.Match.Name == "Alice" && st.Decision == nil, "first %+v", st)
				want(t, !r.lock.isOpen(), "open after one frame")
				st = r.mustFrame(good("alice"))
				want(t, st.State == U && st.Decision != nil && st.Decision.Outcome == Granted, "second %+v", st)
				want(t, r.lock.isOpen() && r.lock.lastD == 3*sec, "lock not opened for 3s")
				a := r.sink.last(t)
				want(t, a.Method == MethodFace && a.User == "alice" && a.Name == "Alice" && a.Frames == 2 && a.Evidence == nil, "attempt %+v", a)
				r.clk.Advance(3 * sec)
				r.wantState(C)
				want(t, !r.lock.isOpen(), "open in cooldown")
				r.clk.Advance(2*sec - ms)
				r.wantState(C)
				r.clk.Advance(ms)
				r.wantState(I)
				want(t, r.m.Snapshot().Session == "", "Idle holds a session")
			},
			path:    []State{R, G, U, C, I},
			outcome: []Outcome{Granted},
		},
		{
			name: "only the last n frames vote",
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				r.mustFrame(FrameResult{Quality: QualityOK})
				r.mustFrame(FrameResult{Quality: QualityOK})
				st := r.mustFrame(good("alice")) // window: none, none, alice
				want(t, st.State == G, "unlocked on votes outside the window: %+v", st)
				st = r.mustFrame(good("alice")) // window: none, alice, alice
				want(t, st.State == U, "state %s", st.State)
			},
			path:    []State{R, G, U},
			outcome: []Outcome{Granted},
		},
		{
			name: "two different users never add up",
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				st := r.mustFrame(good("bob"))
				want(t, st.State == G, "state %s", st.State)
			},
			path: []State{R, G},
		},
		{
			name: "ambiguous margin never unlocks and never names anyone",
			run: func(t *testing.T, r *rig) {
				for i := 0; i < 10; i++ {
					st := r.mustFrame(near("alice", 0.2, 0.01))
					want(t, st.Match == nil, "near-miss leaked: %+v", st.Match)
				}
				r.wantState(P)
				want(t, !r.lock.isOpen(), "open")
			},
			path: []State{R, G, P},
		},
		{
			name: "distance over threshold never unlocks",
			run: func(t *testing.T, r *rig) {
				for i := 0; i < 9; i++ {
					r.mustFrame(near("alice", 0.51, 0.3))
				}
				r.wantState(G)
				r.mustFrame(FrameResult{Quality: "blurry"}) // non-usable frames count towards MaxFrames
				r.wantState(P)
			},
			path: []State{R, G, P},
		},
		{
			name: "a disabled user never unlocks by face",
			run: func(t *testing.T, r *rig) {
				for i := 0; i < 10; i++ {
					st := r.mustFrame(good("dave"))
					want(t, st.Match == nil, "disabled user named")
				}
				r.wantState(P)
			},
			path: []State{R, G, P},
		},
		{
			name: "bad frames keep Receiving",
			run: func(t *testing.T, r *rig) {
				for _, q := range []string{"no_face", "multiple_faces", "too_small", "too_dark", "too_bright", "blurry"} {
					r.mustFrame(FrameResult{Quality: q, Match: &Candidate{User: "alice", Distance: 0.1, Margin: 0.5}})
				}
				r.wantState(R)
			},
			path: []State{R},
		},
		{
			name: "recognize timeout goes to PIN",
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				r.clk.Advance(4*sec - ms)
				r.wantState(G)
				r.clk.Advance(ms)
				r.wantState(P)
			},
			path: []State{R, G, P},
		},
		{
			name: "PIN timeout ends the session",
			run: func(t *testing.T, r *rig) {
				r.toPin()
				r.clk.Advance(20*sec - ms)
				r.wantState(P)
				r.clk.Advance(ms)
				r.wantState(I)
				a := r.sink.last(t)
				want(t, a.Method == MethodPIN && a.Evidence == nil && a.BestUser == "bob" && a.BestDistance == 0.9, "attempt %+v", a)
			},
			path:    []State{R, G, P, I},
			outcome: []Outcome{Timeout},
		},
		{
			name: "EvidenceOnUnknown keeps the best frame of a timed-out session",
			cfg:  func(c *Config) { c.EvidenceOnUnknown = true },
			run: func(t *testing.T, r *rig) {
				r.mustFrame(FrameResult{Quality: "blurry", Evidence: []byte("blurry")})
				r.mustFrame(near("bob", 0.8, 0.2))
				r.mustFrame(FrameResult{Quality: "dark", Evidence: []byte("dark")})
				r.clk.Advance(4 * sec)
				r.clk.Advance(20 * sec)
				a := r.sink.last(t)
				want(t, string(a.Evidence) == "jpeg-near", "evidence %q", a.Evidence)
			},
			path:    []State{R, G, P, I},
			outcome: []Outcome{Timeout},
		},
		{
			name: "correct PIN unlocks",
			run: func(t *testing.T, r *rig) {
				r.toPin()
				res := r.pin("2222")
				want(t, res.Outcome == Granted && res.State == U && res.Decision.User == "bob", "result %+v", res)
				want(t, r.lock.isOpen(), "not open")
				a := r.sink.last(t)
				want(t, a.Method == MethodPIN && a.User == "bob" && a.PinTries == 1 && a.Evidence == nil, "attempt %+v", a)
			},
			path:    []State{R, G, P, U},
			outcome: []Outcome{Granted},
		},
		{
			name: "a disabled user's PIN is wrong",
			run: func(t *testing.T, r *rig) {
				r.toPin()
				res := r.pin("4444")
				want(t, res.Outcome == Denied && res.State == P && res.AttemptsLeft == 2, "result %+v", res)
			},
			path: []State{R, G, P},
		},
		{
			name: "wrong PIN keeps evidence and allows another try",
			run: func(t *testing.T, r *rig) {
				r.toPin()
				res := r.pin("9999")
				want(t, res.Outcome == Denied && res.State == P && res.AttemptsLeft == 2, "result %+v", res)
				want(t, !r.lock.isOpen(), "open")
				res = r.pin("1111")
				want(t, res.Outcome == Granted, "result %+v", res)
				a := r.sink.last(t)
				want(t, a.PinTries == 2 && string(a.Evidence) == "jpeg-near", "attempt %+v", a)
				want(t, r.lo.get() == (Lockout{}), "correct PIN did not reset the lockout: %+v", r.lo.get())
			},
			path:    []State{R, G, P, U},
			outcome: []Outcome{Granted},
		},
		{
			name: "third wrong PIN denies",
			run: func(t *testing.T, r *rig) {
				r.toPin()
				r.pin("0")
				r.pin("0")
				res := r.pin("0")
				want(t, res.Outcome == Denied && res.State == I && res.Decision != nil, "result %+v", res)
				a := r.sink.last(t)
				want(t, a.PinTries == 3 && a.Evidence != nil, "attempt %+v", a)
				want(t, r.lo.get().Failures == 3, "lockout %+v", r.lo.get())
			},
			path:    []State{R, G, P, I},
			outcome: []Outcome{Denied},
		},
		{
			name: "lockout across sessions, refusing even a correct PIN, then reset",
			run: func(t *testing.T, r *rig) {
				r.toPin()
				r.pin("0")
				r.pin("0")
				r.pin("0")
				r.toPin()
				r.pin("0")
				res := r.pin("0") // 5th wrong PIN
				want(t, res.Outcome == LockedOut && res.State == I && res.RetryAfter == 60*sec, "result %+v", res)
				want(t, r.lo.get().Level == 1 && r.lo.get().Until.Equal(r.clk.Now().Add(60*sec)), "saved %+v", r.lo.get())
				r.toPin()
				res = r.pin("1111")
				want(t, res.Outcome == LockedOut && !r.lock.isOpen(), "result %+v", res)
				want(t, r.m.Snapshot().RetryAfter == 0, "Idle has a retry")
				r.clk.Advance(60 * sec)
				r.toPin()
				res = r.pin("1111")
				want(t, res.Outcome == Granted, "result %+v", res)
				want(t, r.lo.get() == (Lockout{}), "lockout not reset %+v", r.lo.get())
			},
			path:    []State{R, G, P, I, R, G, P, I, R, G, P, I, R, G, P, U},
			outcome: []Outcome{Denied, LockedOut, LockedOut, Granted},
		},
		{
			name:    "repeated lockout doubles and survives a restart",
			lockout: Lockout{Failures: 4, Level: 1},
			run: func(t *testing.T, r *rig) {
				r.toPin()
				res := r.pin("0")
				want(t, res.Outcome == LockedOut && res.RetryAfter == 120*sec, "result %+v", res)
			},
			path:    []State{R, G, P, I},
			outcome: []Outcome{LockedOut},
		},
		{
			// Issue 15: a loaded lockout is respected but ends at most LockoutMax (15m) from the
			// start; it used to keep its hour.
			name:    "a lockout loaded at start is respected, for at most LockoutMax",
			lockout: Lockout{Level: 1, Until: t0.Add(time.Hour)},
			run: func(t *testing.T, r *rig) {
				r.toPin()
				want(t, r.m.Snapshot().RetryAfter == DefaultLockoutMax, "snapshot %+v", r.m.Snapshot())
				res := r.pin("1111")
				want(t, res.Outcome == LockedOut && !r.lock.isOpen(), "result %+v", res)
			},
			path:    []State{R, G, P, I},
			outcome: []Outcome{LockedOut},
		},
		{
			name: "face+PIN: face match asks for that user's PIN",
			cfg:  func(c *Config) { c.RequireFaceAndPIN = true },
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				st := r.mustFrame(good("alice"))
				want(t, st.State == P && !r.lock.isOpen(), "status %+v", st)
				res := r.pin("2222") // bob's PIN
				want(t, res.Outcome == Denied && res.State == P, "another user's PIN: %+v", res)
				res = r.pin("1111")
				want(t, res.Outcome == Granted && res.Decision.Method == MethodFacePIN && res.Decision.User == "alice", "result %+v", res)
			},
			path:    []State{R, G, P, U},
			outcome: []Outcome{Granted},
		},
		{
			name: "face+PIN: no face match is denied without PIN",
			cfg:  func(c *Config) { c.RequireFaceAndPIN = true },
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				r.clk.Advance(4 * sec)
				r.wantState(I)
				want(t, r.sink.last(t).Method == MethodFacePIN, "method %s", r.sink.last(t).Method)
			},
			path:    []State{R, G, I},
			outcome: []Outcome{Denied},
		},
		{
			name: "cancel from Receiving, Recognizing and PinFallback",
			run: func(t *testing.T, r *rig) {
				r.mustFrame(FrameResult{Quality: "blurry"})
				want(t, r.m.Cancel("") == nil, "cancel")
				r.mustFrame(good("alice"))
				want(t, r.m.Cancel(r.m.Snapshot().Session) == nil, "cancel")
				r.toPin()
				want(t, r.m.Cancel("") == nil, "cancel")
				want(t, r.m.Cancel("") == nil, "cancel in Idle")
				want(t, errors.Is(r.m.Cancel("feedface"), ErrStaleSession), "stale cancel")
			},
			path:    []State{R, I, R, G, I, R, G, P, I},
			outcome: []Outcome{Cancelled, Cancelled, Cancelled},
		},
		{
			name: "Unlocking and Cooldown answer busy and refuse cancel",
			run: func(t *testing.T, r *rig) {
				tk, _ := r.m.Admit("")
				r.mustFrame(good("alice"))
				r.mustFrame(good("alice"))
				_, err := r.m.Admit("")
				var busy *BusyError
				want(t, errors.As(err, &busy) && busy.State == U && busy.RetryAfter == 5*sec, "admit: %v", err)
				want(t, errors.As(r.m.Cancel(""), &busy), "cancel in Unlocking")
				st, err := r.m.Submit(tk, good("bob")) // in flight when decided: answered, not counted
				want(t, err == nil && st.State == U && st.Decision.User == "alice", "late frame %+v %v", st, err)
				r.clk.Advance(4 * sec)
				_, err = r.m.Admit("")
				want(t, errors.As(err, &busy) && busy.State == C && busy.RetryAfter == sec, "admit: %v", err)
				want(t, r.sink.callCount() == 1, "records %d", r.sink.callCount())
			},
			path:    []State{R, G, U, C},
			outcome: []Outcome{Granted},
		},
		{
			name: "frames in PinFallback are answered, not counted",
			run: func(t *testing.T, r *rig) {
				r.toPin()
				for i := 0; i < 5; i++ {
					st := r.mustFrame(good("alice"))
					want(t, st.State == P && st.Match == nil, "status %+v", st)
				}
				r.pin("0")
				r.m.Cancel("")
				a := r.sink.last(t)
				want(t, a.Frames == 10 && string(a.Evidence) == "jpeg-alice", "attempt frames=%d evidence=%q", a.Frames, a.Evidence)
			},
			path:    []State{R, G, P, I},
			outcome: []Outcome{Cancelled},
		},
		{
			name: "evidence kept on request is the session's own frame",
			run: func(t *testing.T, r *rig) {
				want(t, errors.Is(r.m.KeepEvidence(""), ErrStaleSession), "keep in Idle")
				r.mustFrame(FrameResult{Quality: QualityOK, Evidence: []byte("analysed")})
				want(t, errors.Is(r.m.KeepEvidence(r.m.Snapshot().Session), ErrNotAwaitingPIN), "keep in Recognizing")
				r.toPin()
				want(t, r.m.KeepEvidence(r.m.Snapshot().Session) == nil, "keep")
				r.clk.Advance(20 * sec)
				// The session's best analysed frame (toPin's near match), never a client's bytes.
				want(t, string(r.sink.last(t).Evidence) == "jpeg-near", "evidence %q", r.sink.last(t).Evidence)
			},
			path:    []State{R, G, P, I},
			outcome: []Outcome{Timeout},
		},
		{
			name: "a result of an ended session is discarded",
			run: func(t *testing.T, r *rig) {
				tk, _ := r.m.Admit("")
				r.clk.Advance(5 * sec)
				r.wantState(I)
				_, err := r.m.Submit(tk, good("alice"))
				want(t, errors.Is(err, ErrStaleSession), "submit: %v", err)
				tk2, _ := r.m.Admit("")
				r.mustFrame(good("alice"))
				_, err = r.m.Submit(tk, good("alice"))
				want(t, errors.Is(err, ErrStaleSession), "old ticket in new session: %v", err)
				_, err = r.m.Admit(tk.Session)
				want(t, errors.Is(err, ErrStaleSession), "admit old session: %v", err)
				_, err = r.m.EnterPIN(tk.Session, "1111")
				want(t, errors.Is(err, ErrStaleSession), "PIN for old session: %v", err)
				r.wantState(G)
				r.m.Abandon(tk2)
				_, err = r.m.Submit(tk2, good("alice"))
				want(t, errors.Is(err, ErrUnknownTicket), "abandoned ticket: %v", err)
				r.wantState(G)
			},
			path: []State{R, I, R, G},
			// The first session saw no frame at all: it ends unrecorded (TestBlankSessionsAreCounted).
			outcome: nil,
		},
		{
			name: "PIN outside PinFallback",
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				_, err := r.m.EnterPIN(r.m.Snapshot().Session, "1111")
				want(t, errors.Is(err, ErrNotAwaitingPIN), "err %v", err)
			},
			path: []State{R, G},
		},
		{
			name: "a stale timer never acts",
			run: func(t *testing.T, r *rig) {
				r.mustFrame(FrameResult{Quality: "blurry"}) // receive timeout at t0+5s
				r.clk.Advance(4 * sec)
				r.m.Cancel("")
				r.mustFrame(FrameResult{Quality: "blurry"}) // receive timeout at t0+9s
				r.clk.Advance(4 * sec)
				r.wantState(R)
				r.clk.Advance(sec)
				r.wantState(I)
			},
			path:    []State{R, I, R, I},
			outcome: []Outcome{Cancelled, Timeout},
		},
		{
			name:  "a stale timer that could not be stopped never acts",
			leaky: true,
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice")) // receive timer (t0+5s) and recognize timer (t0+4s) both left armed
				r.mustFrame(good("alice")) // unlock timer at t0+3s
				r.clk.Advance(3 * sec)
				r.wantState(C) // cooldown timer at t0+5s
				r.clk.Advance(sec)
				r.wantState(C) // the recognize timer did nothing
				r.clk.Advance(sec)
				r.wantState(I)
				r.mustFrame(FrameResult{Quality: "blurry"}) // receive timer at t0+10s
				r.clk.Advance(4 * sec)
				r.wantState(R)
			},
			path:    []State{R, G, U, C, I, R},
			outcome: []Outcome{Granted},
		},
		{
			name: "audit failure on grant keeps the door locked",
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				r.sink.set(false, true)
				st := r.mustFrame(good("alice"))
				want(t, st.State == I && st.Decision.Outcome == Denied, "status %+v", st)
				want(t, !r.lock.isOpen() && r.lock.unlocks == 0, "door opened")
				want(t, r.sink.callCount() == 1, "record calls %d", r.sink.callCount())
			},
			path: []State{R, G, I},
		},
		{
			name: "unlock failure relocks and cools down",
			run: func(t *testing.T, r *rig) {
				r.lock.setFailUnlock(true)
				r.mustFrame(good("alice"))
				st := r.mustFrame(good("alice"))
				want(t, st.State == C && !r.lock.isOpen(), "status %+v", st)
				r.clk.Advance(2 * sec)
				r.wantState(I)
			},
			path:    []State{R, G, U, C, I},
			outcome: []Outcome{Granted},
		},
		{
			name: "begin failure refuses the session",
			run: func(t *testing.T, r *rig) {
				r.sink.set(true, false)
				_, err := r.m.Admit("")
				want(t, errors.Is(err, ErrBeginFailed) && errors.Is(err, errInjected), "admit %v", err)
				r.wantState(I)
				want(t, r.clk.Pending() == 0, "timer armed for a refused session")
			},
		},
		{
			name: "exit button from Idle and from an open session",
			run: func(t *testing.T, r *rig) {
				want(t, r.m.ExitRequest("") == nil, "exit")
				want(t, r.lock.isOpen(), "not open")
				want(t, r.m.ExitRequest("") == nil, "exit while open")
				r.clk.Advance(3 * sec)
				want(t, r.m.ExitRequest("again") == nil, "exit in cooldown")
				r.wantState(U)
				r.clk.Advance(5 * sec)
				r.mustFrame(good("alice"))
				want(t, r.m.ExitRequest("") == nil, "exit")
				a := r.sink.last(t)
				want(t, a.Method == MethodExit && a.Outcome == Granted, "attempt %+v", a)
			},
			path:    []State{U, C, U, C, I, R, G, I, U},
			outcome: []Outcome{Granted, Granted, Cancelled, Granted},
		},
		{
			name: "exit fails closed when the audit fails",
			run: func(t *testing.T, r *rig) {
				r.sink.set(false, true)
				err := r.m.ExitRequest("")
				want(t, errors.Is(err, ErrAuditFailed), "err %v", err)
				want(t, !r.lock.isOpen(), "open")
				r.wantState(I)
			},
		},
		{
			name: "shutdown cancels, locks and closes",
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				r.m.Shutdown("test")
				_, err := r.m.Admit("")
				want(t, errors.Is(err, ErrClosed), "admit after shutdown %v", err)
				want(t, errors.Is(r.m.ExitRequest(""), ErrClosed), "exit after shutdown")
				r.m.Shutdown("again")
				want(t, r.clk.Pending() == 0, "timers left after shutdown: %d", r.clk.Pending())
				r.clk.Advance(time.Hour)
				r.wantState(I)
			},
			path:    []State{R, G, I},
			outcome: []Outcome{Cancelled},
		},
		{
			name: "shutdown while unlocked locks the door",
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				r.mustFrame(good("alice"))
				r.m.Shutdown("test")
				want(t, !r.lock.isOpen(), "door left open")
				r.wantState(I)
			},
			path:    []State{R, G, U, I},
			outcome: []Outcome{Granted},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kOfNConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			r := newRigClock(t, cfg, tc.lockout, tc.leaky)
			want(t, !r.lock.isOpen(), "New did not lock the door")
			tc.run(t, r)
			if got := r.path(); !slices.Equal(got, tc.path) {
				t.Errorf("path = %v, want %v", got, tc.path)
			}
			var outcomes []Outcome
			for _, a := range r.sink.all() {
				outcomes = append(outcomes, a.Outcome)
			}
			if !slices.Equal(outcomes, tc.outcome) {
				t.Errorf("recorded outcomes = %v, want %v", outcomes, tc.outcome)
			}
		})
	}
}

func TestStatusNeverCarriesOtherFramesEvidence(t *testing.T) {
	r := newRig(t, kOfNConfig(), Lockout{})
	res := good("alice")
	r.mustFrame(res)
	res.Evidence[0] = 'X' // the caller reuses its buffer
	r.toPin()
	r.pin("0")
	r.m.Cancel("")
	if ev := r.sink.last(t).Evidence; !bytes.Equal(ev, []byte("jpeg-alice")) {
		t.Fatalf("evidence %q was not copied", ev)
	}
}

// TestBlankSessionsAreCounted: a session in which no face was ever seen and no PIN entered (blank
// frames, a camera facing a wall, a client that posts and cancels) ends with no attempt record, so
// it cannot flood the history; it is counted (Unrecorded) and its in-progress marker dropped. A
// session that saw any face, even an unusable one, is recorded as before.
func TestBlankSessionsAreCounted(t *testing.T) {
	tests := []struct {
		name     string
		run      func(r *rig)
		recorded []Outcome
	}{
		{"blank frames time out", func(r *rig) {
			r.mustFrame(FrameResult{Quality: QualityNoFace})
			r.mustFrame(FrameResult{Quality: QualityNoFace})
			r.clk.Advance(5 * sec)
		}, nil},
		{"a blank session cancelled by the client", func(r *rig) {
			st := r.mustFrame(FrameResult{Quality: QualityNoFace})
			if err := r.m.Cancel(st.Session); err != nil {
				r.t.Fatal(err)
			}
		}, nil},
		{"a turned face that never became usable", func(r *rig) {
			r.mustFrame(FrameResult{Quality: "too_small"})
			r.clk.Advance(5 * sec)
		}, []Outcome{Timeout}},
		{"a face that was cancelled", func(r *rig) {
			st := r.mustFrame(good("alice"))
			if err := r.m.Cancel(st.Session); err != nil {
				r.t.Fatal(err)
			}
		}, []Outcome{Cancelled}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, kOfNConfig(), Lockout{})
			tc.run(r)
			r.wantState(Idle)
			var got []Outcome
			for _, a := range r.sink.all() {
				got = append(got, a.Outcome)
			}
			if !slices.Equal(got, tc.recorded) {
				t.Fatalf("recorded %v, want %v", got, tc.recorded)
			}
			r.sink.mu.Lock()
			discarded := len(r.sink.discarded)
			r.sink.mu.Unlock()
			if wantUnrec := int64(1 - len(tc.recorded)); r.m.Unrecorded() != wantUnrec || int64(discarded) != wantUnrec {
				t.Fatalf("Unrecorded = %d, discarded %d, want %d", r.m.Unrecorded(), discarded, wantUnrec)
			}
		})
	}
}
