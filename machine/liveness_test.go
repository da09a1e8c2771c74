package machine

import (
	"strings"
	"testing"
)

// live is a usable frame matching user at distance d (margin 0.2) with liveness score p and a
// Print unique to n (a distinct capture).
func live(user string, d, p float64, n int) FrameResult {
	return FrameResult{Quality: QualityOK, Match: &Candidate{User: user, Distance: d, Margin: 0.2},
		Evidence: []byte("jpeg-live"), Liveness: p, Scored: true, Print: printOf(n)}
}

// printOf is a 16-byte Print whose level is 10*n: prints of different n differ by 10 levels.
func printOf(n int) []byte {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(10 * n)
	}
	return b
}

// lastReason is the reason of the last published transition.
func (r *rig) lastReason() string {
	reason := ""
	for {
		select {
		case tr := <-r.trans:
			reason = tr.Reason
		default:
			return reason
		}
	}
}

func TestLivenessEnforce(t *testing.T) {
	cfg := DefaultConfig() // liveness enforce, 0.9 over 5 frames
	tests := []struct {
		name       string
		scores     []float64
		want       State
		reason     string
		result     string
		wantFrames int // frames the rig sends before checking
	}{
		{"live session granted after 5 frames", []float64{0.99, 0.97, 0.95, 0.98, 0.96}, Unlocking, "", LivenessPassed, 5},
		{"print session refused at 5 frames", []float64{0.999, 0.02, 0.9, 0.01, 0.3}, PinFallback, ReasonLivenessFailed, LivenessFailed, 5},
		{"mean just under threshold refused", []float64{0.9, 0.9, 0.9, 0.9, 0.89}, PinFallback, ReasonLivenessFailed, LivenessFailed, 5},
		{"fewer than 5 frames: still waiting", []float64{0.99, 0.99, 0.99, 0.99}, Recognizing, "", "", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, cfg, Lockout{})
			for i, p := range tc.scores {
				r.mustFrame(live("alice", 0.35, p, i))
			}
			r.wantState(tc.want)
			if tc.reason != "" {
				if got := r.lastReason(); got != tc.reason {
					t.Fatalf("reason = %q, want %q", got, tc.reason)
				}
			}
			if tc.want == Recognizing {
				if r.lock.isOpen() {
					t.Fatal("door open while liveness undecided")
				}
				return
			}
			if tc.want == PinFallback {
				if r.lock.isOpen() {
					t.Fatal("door open after failed liveness")
				}
				if res := r.pin("1111"); res.Outcome != Granted {
					t.Fatalf("PIN after failed liveness: %+v, want granted", res)
				}
			}
			recs := r.sink.all()
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			lv := recs[0].Liveness
			if lv.Mode != LivenessEnforce || lv.Result != tc.result || len(lv.Scores) != len(tc.scores) {
				t.Fatalf("liveness evidence %+v, want mode enforce, result %s, %d scores", lv, tc.result, len(tc.scores))
			}
			if tc.want == PinFallback && len(recs[0].Evidence) == 0 {
				t.Fatal("the evidence frame of a failed liveness session was not kept")
			}
		})
	}
}

// A session's liveness that never reaches LivenessFrames before the frame limit (frames without
// scores, e.g. from a vision without the liveness models) falls back to the PIN as undecided.
func TestLivenessUndecided(t *testing.T) {
	t.Run("frame limit", func(t *testing.T) {
		r := newRig(t, DefaultConfig(), Lockout{})
		for i := 0; i < DefaultConfig().MaxFrames && r.state() != PinFallback; i++ {
			f := live("alice", 0.35, 0, i)
			f.Scored = i < 2 // only two frames scored
			r.mustFrame(f)
		}
		r.wantState(PinFallback)
		if got := r.lastReason(); got != ReasonLivenessUndecided {
			t.Fatalf("reason = %q, want %q", got, ReasonLivenessUndecided)
		}
		r.pin("1111")
		if a := r.sink.all()[0]; a.Liveness.Result != LivenessUndecided || a.Method != MethodPIN {
			t.Fatalf("record %+v, want a PIN grant with liveness undecided", a)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		r := newRig(t, DefaultConfig(), Lockout{})
		r.mustFrame(live("alice", 0.35, 0.99, 1))
		r.mustFrame(live("alice", 0.35, 0.99, 2))
		r.wantState(Recognizing)
		r.clk.Advance(DefaultConfig().RecognizeTimeout)
		r.wantState(PinFallback)
		if got := r.lastReason(); got != ReasonLivenessUndecided {
			t.Fatalf("reason = %q, want %q", got, ReasonLivenessUndecided)
		}
	})
}

// Repeated frames (the same Print) add nothing in enforce mode: a still photo injected ten
// times never opens the door by face, even with high scores; the PIN still works.
func TestRepeatedFrames(t *testing.T) {
	for _, mode := range []string{LivenessEnforce, LivenessLog, LivenessOff} {
		t.Run(mode, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Liveness = mode
			r := newRig(t, cfg, Lockout{})
			for i := 0; i < cfg.MaxFrames && r.state() != PinFallback && r.state() != Unlocking; i++ {
				f := live("alice", 0.35, 0.99, 3)
				f.Print[0] += byte(i % 2) // re-encoding noise: one level in one of 16 pixels
				r.mustFrame(f)
			}
			switch mode {
			case LivenessEnforce:
				r.wantState(PinFallback)
				if res := r.pin("1111"); res.Outcome != Granted {
					t.Fatalf("PIN: %+v", res)
				}
				a := r.sink.all()[0]
				if a.Liveness.Repeats != cfg.MaxFrames-1 || len(a.Liveness.Scores) != 1 || a.Method != MethodPIN {
					t.Fatalf("record %+v: want %d repeats, 1 score, method pin", a, cfg.MaxFrames-1)
				}
			default: // log and off: the repeats decide as before (2 of 3)
				r.wantState(Unlocking)
				a := r.sink.all()[0]
				wantRepeats := 1
				if mode == LivenessOff {
					wantRepeats = 0
				}
				if a.Liveness.Repeats != wantRepeats {
					t.Fatalf("repeats = %d, want %d", a.Liveness.Repeats, wantRepeats)
				}
				if mode == LivenessLog && a.Liveness.Result != LivenessUndecided {
					t.Fatalf("log mode result %q, want %q (what enforce would have said)", a.Liveness.Result, LivenessUndecided)
				}
			}
		})
	}
}

// Log mode decides exactly like off (2 of 3) and records the scores and what enforce would have
// decided.
func TestLivenessLog(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Liveness = LivenessLog
	r := newRig(t, cfg, Lockout{})
	r.mustFrame(live("alice", 0.35, 0.05, 1))
	r.mustFrame(live("alice", 0.35, 0.02, 2))
	r.wantState(Unlocking)
	a := r.sink.all()[0]
	if a.Liveness.Mode != LivenessLog || len(a.Liveness.Scores) != 2 || a.Liveness.Mean > 0.05 {
		t.Fatalf("liveness %+v", a.Liveness)
	}
}

// In face+PIN mode (global), a face whose liveness fails is no face factor: the session is
// denied with the reason.
func TestLivenessFaceAndPIN(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RequireFaceAndPIN = true
	r := newRig(t, cfg, Lockout{})
	for i := 0; i < 5; i++ {
		r.mustFrame(live("alice", 0.35, 0.1, i))
	}
	r.wantState(Idle)
	a := r.sink.all()[0]
	if a.Outcome != Denied || a.Reason != ReasonLivenessFailed || r.lock.isOpen() {
		t.Fatalf("record %+v, want denied %s", a, ReasonLivenessFailed)
	}
}

// The sequential rule: one clear frame decides the face (here with liveness off), a borderline
// one waits for K of N; with liveness enforced even a clear match waits for the liveness frames.
func TestSequentialDecision(t *testing.T) {
	clear := DefaultConfig().ClearDistance - 0.05
	border := DefaultConfig().Threshold - 0.02
	tests := []struct {
		name     string
		liveness string
		frames   []float64 // distances of alice's frames
		decideAt int       // frames sent when the door opens
	}{
		{"clear match, liveness off: one frame", LivenessOff, []float64{clear}, 1},
		{"borderline, liveness off: two frames", LivenessOff, []float64{border, border}, 2},
		{"borderline then clear: the clear frame decides", LivenessOff, []float64{border, clear}, 2},
		{"clear match, liveness enforced: five frames", LivenessEnforce, []float64{clear, clear, clear, clear, clear}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Liveness = tc.liveness
			r := newRig(t, cfg, Lockout{})
			for i, d := range tc.frames {
				if r.state() == Unlocking {
					t.Fatalf("door opened after %d frames, want %d", i, tc.decideAt)
				}
				r.mustFrame(live("alice", d, 0.98, i))
			}
			r.wantState(Unlocking)
			a := r.sink.all()[0]
			if a.Frames != tc.decideAt || !strings.Contains(a.Reason, "match") {
				t.Fatalf("record %+v, want granted after %d frames", a, tc.decideAt)
			}
		})
	}
	t.Run("clear distance but narrow margin waits", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Liveness = LivenessOff
		r := newRig(t, cfg, Lockout{})
		f := live("alice", clear, 0.98, 1)
		f.Match.Margin = cfg.ClearMargin - 0.01
		r.mustFrame(f)
		r.wantState(Recognizing)
	})
}

// SamePicture is the margin rule.
func TestSamePicture(t *testing.T) {
	a := printOf(5)
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"identical", printOf(5), true},
		{"one level in one of 16 pixels", func() []byte { b := printOf(5); b[0]++; return b }(), true},
		{"one level in 8 of 16 pixels", func() []byte {
			b := printOf(5)
			for i := 0; i < 8; i++ {
				b[i]++
			}
			return b
		}(), false},
		{"other length", make([]byte, 8), false},
		{"empty", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SamePicture(a, tc.b); got != tc.want {
				t.Fatalf("SamePicture = %v, want %v", got, tc.want)
			}
		})
	}
}
