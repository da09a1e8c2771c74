package machine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The property driver plays a byte string as a sequence of inputs (frames, PINs, cancels, exit
// requests, stale ids, clock jumps, collaborator failures) and checks the machine's invariants
// after every step against a small model kept by the driver. FuzzMachine feeds it fuzzed bytes;
// TestPropertySeeded feeds it 300 pseudo-random sequences in the normal test run.

// pinOwners maps the PINs the driver types to the enabled user owning them ("" = nobody).
var pinOwners = map[string]string{"1111": "alice", "2222": "bob", "4444": "", "9999": ""}

var pins = []string{"1111", "2222", "4444", "9999", "9999"}

// propModel is what the driver knows independently of the machine.
type propModel struct {
	cfg      Config
	votes    map[string][]string // session -> votes of counted usable frames, in order
	faceUser map[string]string   // face+PIN mode: session -> user the face matched
	lockout  Lockout             // expected lockout counter
	known    []string            // every session id seen so far
	tickets  []Ticket            // tickets admitted and not yet used
	dirFail  bool
}

// kOfN returns the user named by at least K of the last N votes, if any.
func (pm *propModel) kOfN(session string) string {
	v := pm.votes[session]
	if len(v) > pm.cfg.N {
		v = v[len(v)-pm.cfg.N:]
	}
	count := map[string]int{}
	for _, u := range v {
		if u != "" {
			count[u]++
			if count[u] >= pm.cfg.K {
				return u
			}
		}
	}
	return ""
}

// byteReader hands out the fuzz input one byte at a time.
type byteReader struct {
	data []byte
	i    int
}

func (b *byteReader) done() bool { return b.i >= len(b.data) }

func (b *byteReader) next() int {
	if b.done() {
		return 0
	}
	b.i++
	return int(b.data[b.i-1])
}

func (b *byteReader) pick(n int) int { return b.next() % n }

// frameFrom builds a FrameResult from the input.
func frameFrom(b *byteReader) FrameResult {
	if b.pick(3) == 0 { // a clear match, so that k-of-n happens often
		return FrameResult{Quality: QualityOK, Match: &Candidate{User: "alice", Distance: 0.25, Margin: 0.2}}
	}
	r := FrameResult{Quality: []string{QualityOK, QualityOK, QualityOK, "blurry", "no_face"}[b.pick(5)]}
	if b.pick(5) != 0 {
		r.Match = &Candidate{
			User:     []string{"alice", "alice", "bob", "dave", "ghost"}[b.pick(5)],
			Distance: []float64{0.2, 0.2, 0.3, 0.5, 0.55, 0.9}[b.pick(6)],
			Margin:   []float64{0.1, 0.1, 0.04, 0.03, 0}[b.pick(5)],
		}
	}
	if b.pick(2) == 0 {
		r.Evidence = []byte(fmt.Sprintf("jpeg-%d", b.i))
	}
	return r
}

// vote is the model's verdict on one counted frame.
func (pm *propModel) vote(r FrameResult, dir *fakeDir) string {
	if r.Quality != QualityOK || r.Match == nil || pm.dirFail {
		return ""
	}
	if r.Match.Distance >= pm.cfg.Threshold || r.Match.Margin < pm.cfg.MinMargin {
		return ""
	}
	if _, ok, _ := dir.Active(r.Match.User, time.Time{}); !ok {
		return ""
	}
	return r.Match.User
}

// observed is what the driver can see of the machine between steps.
type observed struct {
	snap    Snapshot
	calls   int
	lockout Lockout
	open    bool
}

func observe(r *rig) observed {
	return observed{snap: r.m.Snapshot(), calls: r.sink.callCount(), lockout: r.lo.get(), open: r.lock.isOpen()}
}

func runProperty(t *testing.T, data []byte) {
	b := &byteReader{data: data}
	cfg := kOfNConfig()
	cfg.MaxFrames = 5
	cfg.LockoutAfter = 4
	cfg.LockoutMax = 4 * time.Minute    // reached at the third lockout in a row
	cfg.FailureWindow = 5 * time.Minute // reached by a few "advance" steps
	flags := b.next()
	cfg.RequireFaceAndPIN = flags&1 != 0
	cfg.EvidenceOnUnknown = flags&2 != 0
	r := newRigClock(t, cfg, Lockout{}, flags&4 != 0)
	pm := &propModel{cfg: cfg, votes: map[string][]string{}, faceUser: map[string]string{}}

	fail := func(step int, op string, format string, args ...any) {
		t.Helper()
		t.Fatalf("step %d (%s): %s", step, op, fmt.Sprintf(format, args...))
	}
	staleID := func() string {
		if len(pm.known) == 0 || b.pick(3) == 0 {
			return "00112233445566778899aabbccddeeff"
		}
		id := pm.known[b.pick(len(pm.known))]
		if id == r.m.Snapshot().Session {
			return "ffeeddccbbaa99887766554433221100"
		}
		return id
	}

	for step := 0; !b.done(); step++ {
		before := observe(r)
		cur := before.snap.Session
		var (
			op       string
			stale    bool // the input named a session that is not the current one
			err      error
			pinStep  string // the PIN typed, if this step was a PIN for the current session
			submitOn string // the session a counted frame was submitted to
			exit     bool
		)
		opcode := b.pick(20)
		if opcode == 11 && b.pick(4) != 0 {
			opcode = 0 // exit requests are rare: they would dominate the run
		}
		switch opcode {
		case 0, 1, 14:
			op = "admit"
			var tk Ticket
			if tk, err = r.m.Admit(""); err == nil {
				pm.tickets = append(pm.tickets, tk)
			}
		case 2:
			op = "admit current"
			if cur != "" {
				var tk Ticket
				if tk, err = r.m.Admit(cur); err == nil {
					pm.tickets = append(pm.tickets, tk)
				}
			}
		case 3, 4, 5, 15, 16, 17:
			op = "submit"
			if len(pm.tickets) == 0 {
				break
			}
			i := b.pick(len(pm.tickets))
			tk := pm.tickets[i]
			pm.tickets = slices.Delete(pm.tickets, i, i+1)
			res := frameFrom(b)
			stale = tk.Session != cur
			var st Status
			st, err = r.m.Submit(tk, res)
			if err == nil && (before.snap.State == Receiving || before.snap.State == Recognizing) {
				if res.Quality == QualityOK {
					pm.votes[tk.Session] = append(pm.votes[tk.Session], pm.vote(res, r.dir))
				}
				submitOn = tk.Session
				if st.Match != nil && st.Match.User != pm.vote(res, r.dir) {
					fail(step, op, "status names %q for a frame the model does not match", st.Match.User)
				}
			}
		case 6:
			op = "abandon"
			if len(pm.tickets) > 0 {
				i := b.pick(len(pm.tickets))
				r.m.Abandon(pm.tickets[i])
				stale = pm.tickets[i].Session != cur
				pm.tickets = slices.Delete(pm.tickets, i, i+1)
			}
		case 7, 8, 18:
			op = "pin"
			pin := pins[b.pick(len(pins))]
			lockedBefore := before.snap.State == PinFallback && r.clk.Now().Before(pm.lockout.Until)
			var res PinResult
			res, err = r.m.EnterPIN(cur, pin)
			if cur == "" {
				stale = true
				break
			}
			if before.snap.State != PinFallback {
				if !errors.Is(err, ErrNotAwaitingPIN) {
					fail(step, op, "PIN in %s: err %v", before.snap.State, err)
				}
				break
			}
			if pm.dirFail {
				if !errors.Is(err, ErrDirectory) {
					fail(step, op, "directory failing: err %v", err)
				}
				break
			}
			pinStep = pin
			owner := pinOwners[pin]
			right := owner != "" && (!cfg.RequireFaceAndPIN || owner == pm.faceUser[cur])
			switch {
			case lockedBefore:
				if res.Outcome != LockedOut {
					fail(step, op, "locked out until %v, got %+v", pm.lockout.Until, res)
				}
			case right:
				pm.lockout = Lockout{}
			default:
				now := r.clk.Now()
				lo := &pm.lockout
				if lo.Level > 0 && !now.Before(lo.Until.Add(cfg.FailureWindow)) {
					lo.Level = 0 // the last lockout ended a window ago: escalation forgotten
				}
				if lo.Failures > 0 && !now.Before(lo.Since.Add(cfg.FailureWindow)) {
					lo.Failures = 0 // the counted failures are older than the window
				}
				if lo.Failures == 0 {
					lo.Since = now
				}
				lo.Failures++
				if lo.Failures >= cfg.LockoutAfter {
					d := cfg.LockoutBase << lo.Level
					if lo.Level > 20 || d > cfg.LockoutMax {
						d = cfg.LockoutMax
					}
					lo.Until, lo.Level, lo.Failures, lo.Since = now.Add(d), lo.Level+1, 0, time.Time{}
				}
				if res.Outcome == Granted {
					fail(step, op, "wrong PIN granted")
				}
			}
		case 9:
			op = "stale input"
			stale = true
			id := staleID()
			switch b.pick(5) {
			case 0:
				_, err = r.m.Admit(id)
			case 1:
				_, err = r.m.Submit(Ticket{Session: id, Seq: 1}, frameFrom(b))
			case 2:
				_, err = r.m.EnterPIN(id, pins[b.pick(len(pins))])
			case 3:
				err = r.m.KeepEvidence(id)
			case 4:
				err = r.m.Cancel(id)
			}
			if !errors.Is(err, ErrStaleSession) {
				fail(step, op, "stale id %s: err %v", id, err)
			}
		case 10:
			op = "cancel/attach"
			if b.pick(2) == 0 {
				err = r.m.Cancel("")
			} else {
				err = r.m.KeepEvidence(cur)
			}
		case 11:
			op = "exit"
			exit = true
			err = r.m.ExitRequest("test")
		case 12, 19:
			op = "advance"
			r.clk.Advance([]time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
				4 * time.Second, 5 * time.Second, 20 * time.Second, 60 * time.Second, 120 * time.Second}[b.pick(9)])
		case 13:
			op = "failures"
			f := b.next()
			r.sink.set(f&1 != 0 && f&8 != 0, f&2 != 0 && f&8 != 0)
			r.lock.setFailUnlock(f&4 != 0 && f&8 != 0)
			pm.dirFail = f&16 != 0 && f&32 != 0
			r.dir.mu.Lock()
			r.dir.fail = pm.dirFail
			r.dir.mu.Unlock()
		}
		_ = err
		after := observe(r)
		trans := drain(r)

		// No input of a stale session changes anything.
		if stale {
			if after != before || len(trans) > 0 {
				fail(step, op, "stale input changed the machine: %+v -> %+v, %d transitions", before, after, len(trans))
			}
		}
		// The lock is open only in Unlocking (and Unlocking always has it open).
		if after.open != (after.snap.State == Unlocking) {
			fail(step, op, "lock open=%v in %s", after.open, after.snap.State)
		}
		// Idle holds no session; every other state does.
		if (after.snap.State == Idle) != (after.snap.Session == "") {
			fail(step, op, "state %s with session %q", after.snap.State, after.snap.Session)
		}
		// Lockout is respected, persisted, and follows the model.
		if got := r.m.Lockout(); got != pm.lockout || after.lockout != pm.lockout {
			fail(step, op, "lockout machine=%+v store=%+v model=%+v", got, after.lockout, pm.lockout)
		}
		// Every session yields at most one record so far.
		r.sink.mu.Lock()
		for id, n := range r.sink.calls {
			if n > 1 {
				r.sink.mu.Unlock()
				fail(step, op, "session %s recorded %d times", id, n)
			}
		}
		r.sink.mu.Unlock()
		// Unlocking is entered only for a reason of the current session.
		for _, tr := range trans {
			if tr.Session != "" && !slices.Contains(pm.known, tr.Session) {
				pm.known = append(pm.known, tr.Session)
			}
			if tr.From == Recognizing && tr.To == PinFallback && cfg.RequireFaceAndPIN {
				pm.faceUser[tr.Session] = pm.kOfN(tr.Session)
				if pm.faceUser[tr.Session] == "" {
					fail(step, op, "face+PIN step without k-of-n")
				}
			}
			if tr.To != Unlocking {
				continue
			}
			d := tr.Decision
			if d == nil || d.Outcome != Granted {
				fail(step, op, "entered Unlocking without a grant: %+v", tr)
			}
			switch d.Method {
			case MethodFace:
				if cfg.RequireFaceAndPIN || submitOn != tr.Session || tr.Session != cur || pm.kOfN(tr.Session) != d.User {
					fail(step, op, "face grant to %q not justified by votes %v (submitted to %q)", d.User, pm.votes[tr.Session], submitOn)
				}
			case MethodPIN, MethodFacePIN:
				owner := pinOwners[pinStep]
				if pinStep == "" || tr.Session != cur || owner != d.User || (cfg.RequireFaceAndPIN != (d.Method == MethodFacePIN)) {
					fail(step, op, "PIN grant to %q not justified (pin owner %q, session %q, current %q)", d.User, owner, tr.Session, cur)
				}
				if d.Method == MethodFacePIN && pm.faceUser[tr.Session] != d.User {
					fail(step, op, "face+PIN grant to %q but the face matched %q", d.User, pm.faceUser[tr.Session])
				}
				if before.lockout.Until.After(r.clk.Now()) {
					fail(step, op, "PIN grant during lockout")
				}
			case MethodExit:
				if !exit {
					fail(step, op, "exit grant without an exit request")
				}
			default:
				fail(step, op, "grant with method %q", d.Method)
			}
		}
	}

	// Every session yields exactly one attempt record...
	r.m.Shutdown("end of property run")
	if r.lock.isOpen() {
		t.Fatal("lock open after shutdown")
	}
	r.sink.mu.Lock()
	defer r.sink.mu.Unlock()
	// ... or, when no face was seen and no PIN entered, exactly one discarded marker instead.
	discarded := map[string]int{}
	for _, id := range r.sink.discarded {
		discarded[id]++
	}
	for _, id := range r.sink.begun {
		if r.sink.calls[id]+discarded[id] != 1 {
			t.Fatalf("session %s recorded %d times, discarded %d times", id, r.sink.calls[id], discarded[id])
		}
	}
	if len(r.sink.calls)+len(discarded) != len(r.sink.begun) {
		t.Fatalf("%d sessions recorded and %d discarded, %d begun", len(r.sink.calls), len(discarded), len(r.sink.begun))
	}
	if int(r.m.Unrecorded()) != len(r.sink.discarded) {
		t.Fatalf("Unrecorded = %d, discarded %d", r.m.Unrecorded(), len(r.sink.discarded))
	}
	for _, a := range r.sink.records {
		if a.Outcome == Granted && a.Method != MethodExit && a.User == "" {
			t.Fatalf("granted attempt without user: %+v", a)
		}
	}
}

// drain returns the transitions published since the last drain.
func drain(r *rig) []Transition {
	var out []Transition
	for {
		select {
		case tr, ok := <-r.trans:
			if !ok {
				return out
			}
			out = append(out, tr)
		default:
			return out
		}
	}
}

// randomProgram returns n pseudo-random bytes biased towards interesting sequences.
func randomProgram(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(rng.UintN(256))
	}
	return out
}

func TestPropertySeeded(t *testing.T) {
	const sequences = 300
	for seed := uint64(1); seed <= sequences; seed++ {
		data := randomProgram(seed, 600)
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runProperty(t, data) })
	}
}

func FuzzMachine(f *testing.F) {
	for seed := uint64(1); seed <= 8; seed++ {
		f.Add(randomProgram(seed, 300))
	}
	f.Fuzz(runProperty)
}
