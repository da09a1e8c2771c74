package machine

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/doorface/doorface/clock"
)

// The fakes below stand in for the machine's collaborators (relay, audit store, user directory,
// lockout store). Each is guarded by a mutex and can be told to fail.

var errInjected = errors.New("injected failure")

// fakeLock is the relay. open tells whether the door is currently commanded open.
type fakeLock struct {
	mu         sync.Mutex
	open       bool
	unlocks    int
	locks      int
	lastD      time.Duration
	failUnlock bool
	// failLock makes Lock fail with the door left open, as a relay whose lock write failed.
	failLock bool
}

func (l *fakeLock) Unlock(d time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failUnlock {
		return errInjected
	}
	l.open, l.lastD = true, d
	l.unlocks++
	return nil
}

func (l *fakeLock) Lock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.locks++
	if l.failLock {
		return errInjected
	}
	l.open = false
	return nil
}

// setFailLock makes Lock fail (true) or work again (false).
func (l *fakeLock) setFailLock(v bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failLock = v
}

// retryLocked is the relay's own retry finally writing the locked level.
func (l *fakeLock) retryLocked() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failLock, l.open = false, false
}

func (l *fakeLock) isOpen() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

func (l *fakeLock) setFailUnlock(v bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failUnlock = v
}

// fakeSink is the audit store. calls counts RecordAttempt calls per session id, failed or not.
type fakeSink struct {
	mu         sync.Mutex
	begun      []string
	calls      map[string]int
	records    []Attempt
	discarded  []string
	failBegin  bool
	failRecord bool
}

func newFakeSink() *fakeSink { return &fakeSink{calls: map[string]int{}} }

func (s *fakeSink) BeginAttempt(id string, start time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failBegin {
		return errInjected
	}
	s.begun = append(s.begun, id)
	return nil
}

// DiscardAttempt records a session that ended with no record.
func (s *fakeSink) DiscardAttempt(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discarded = append(s.discarded, id)
	return nil
}

// EndUnlock accepts every marker; unlockSink records them.
func (s *fakeSink) EndUnlock(string) error { return nil }

func (s *fakeSink) RecordAttempt(a Attempt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[a.ID]++
	if s.failRecord {
		return errInjected
	}
	s.records = append(s.records, a)
	return nil
}

func (s *fakeSink) set(failBegin, failRecord bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failBegin, s.failRecord = failBegin, failRecord
}

func (s *fakeSink) all() []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attempt(nil), s.records...)
}

func (s *fakeSink) last(t *testing.T) Attempt {
	t.Helper()
	recs := s.all()
	if len(recs) == 0 {
		t.Fatal("no attempt recorded")
	}
	return recs[len(recs)-1]
}

func (s *fakeSink) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// fakeUser is one enrolled user of fakeDir. policy, when set, replaces the enabled flag.
type fakeUser struct {
	name    string
	pin     string
	duress  string
	enabled bool
	policy  *Policy
}

// fakeDir is the user directory.
type fakeDir struct {
	mu    sync.Mutex
	users map[string]fakeUser
	fail  bool
	// lookups counts LookupPIN calls: a PIN the machine refuses without checking never reaches it.
	lookups int
}

func newFakeDir() *fakeDir {
	return &fakeDir{users: map[string]fakeUser{
		"alice": {name: "Alice", pin: "1111", enabled: true},
		"bob":   {name: "Bob", pin: "2222", enabled: true},
		"dave":  {name: "Dave", pin: "4444", enabled: false},
	}}
}

// identityLocked is user id as the directory answers it.
func (d *fakeDir) identityLocked(id string) Identity {
	u := d.users[id]
	p := Policy{Enabled: u.enabled}
	if u.policy != nil {
		p = *u.policy
	}
	return Identity{ID: id, Name: u.name, Policy: p}
}

// setPolicy gives user id policy p.
func (d *fakeDir) setPolicy(id string, p Policy) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u := d.users[id]
	u.policy = &p
	d.users[id] = u
}

func (d *fakeDir) LookupPIN(pin string) (PINOwner, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups++
	if d.fail {
		return PINOwner{}, false, errInjected
	}
	for id, u := range d.users {
		if u.pin == pin || (u.duress != "" && u.duress == pin) {
			return PINOwner{Identity: d.identityLocked(id), Duress: u.pin != pin}, true, nil
		}
	}
	return PINOwner{}, false, nil
}

// lookupCount is the number of LookupPIN calls so far.
func (d *fakeDir) lookupCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lookups
}

func (d *fakeDir) User(userID string) (Identity, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail {
		return Identity{}, false, errInjected
	}
	if _, ok := d.users[userID]; !ok {
		return Identity{}, false, nil
	}
	return d.identityLocked(userID), true, nil
}

// Active reports whether userID exists and is enabled: the property model's notion of a user
// whose face may vote.
func (d *fakeDir) Active(userID string, _ time.Time) (Identity, bool, error) {
	id, ok, err := d.User(userID)
	if err != nil || !ok || !id.Policy.Enabled {
		return Identity{}, false, err
	}
	return id, true, nil
}

// fakeLockouts is the lockout store.
type fakeLockouts struct {
	mu     sync.Mutex
	lo     Lockout
	saves  int
	resets []string // "by level at" of each audited reset
}

// ResetLockout clears the lockout and records who reset it, as the bbolt store audits it.
func (f *fakeLockouts) ResetLockout(was Lockout, by string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lo = Lockout{}
	f.resets = append(f.resets, fmt.Sprintf("%s %d %s", by, was.Level, at.Format(time.RFC3339)))
	return nil
}

func (f *fakeLockouts) resetsSoFar() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.resets...)
}

func (f *fakeLockouts) LoadLockout() (Lockout, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lo, nil
}

func (f *fakeLockouts) SaveLockout(lo Lockout) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lo = lo
	f.saves++
	return nil
}

func (f *fakeLockouts) get() Lockout {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lo
}

// t0 is the fake clock's start.
var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// rig is a machine wired to fakes and a fake clock, with a subscriber recording transitions.
type rig struct {
	t     testing.TB
	m     *Machine
	clk   *clock.Fake
	lock  *fakeLock
	sink  *fakeSink
	dir   *fakeDir
	lo    *fakeLockouts
	trans <-chan Transition
}

// leakyClock is a fake clock whose timers cannot be stopped, as when a real timer has already
// fired and its function is waiting for the machine's mutex: only the generation check can keep
// such a stale timer from acting.
type leakyClock struct{ *clock.Fake }

type unstoppable struct{}

func (unstoppable) Stop() bool { return false }

func (c leakyClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.Fake.AfterFunc(d, f)
	return unstoppable{}
}

func newRig(t testing.TB, cfg Config, lo Lockout) *rig {
	return newRigClock(t, cfg, lo, false)
}

// newRigClock is newRig, with timers that cannot be stopped if leaky.
func newRigClock(t testing.TB, cfg Config, lo Lockout, leaky bool) *rig {
	t.Helper()
	r := &rig{
		t:    t,
		clk:  clock.NewFake(t0),
		lock: &fakeLock{open: true}, // New must lock it
		sink: newFakeSink(),
		dir:  newFakeDir(),
		lo:   &fakeLockouts{lo: lo},
	}
	var clk clock.Clock = r.clk
	if leaky {
		clk = leakyClock{r.clk}
	}
	m, err := New(cfg, Deps{Clock: clk, Lock: r.lock, Sink: r.sink, Directory: r.dir, Lockouts: r.lo})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.m = m
	r.trans, _ = m.Subscribe(10000)
	return r
}

// frame admits and submits one frame into the current (or a new) session.
func (r *rig) frame(res FrameResult) (Status, error) {
	tk, err := r.m.Admit("")
	if err != nil {
		return Status{}, err
	}
	return r.m.Submit(tk, res)
}

// good is a usable frame clearly matching user.
func good(user string) FrameResult {
	return FrameResult{Quality: QualityOK, Match: &Candidate{User: user, Name: "?", Distance: 0.3, Margin: 0.2}, Evidence: []byte("jpeg-" + user)}
}

// near is a usable frame whose candidate is user at distance d and margin mg.
func near(user string, d, mg float64) FrameResult {
	return FrameResult{Quality: QualityOK, Match: &Candidate{User: user, Distance: d, Margin: mg}, Evidence: []byte("jpeg-near")}
}

func (r *rig) mustFrame(res FrameResult) Status {
	r.t.Helper()
	st, err := r.frame(res)
	if err != nil {
		r.t.Fatalf("frame: %v", err)
	}
	return st
}

func (r *rig) pin(p string) PinResult {
	r.t.Helper()
	res, err := r.m.EnterPIN(r.m.Snapshot().Session, p)
	if err != nil {
		r.t.Fatalf("EnterPIN: %v", err)
	}
	return res
}

func (r *rig) state() State { return r.m.Snapshot().State }

func (r *rig) wantState(want State) {
	r.t.Helper()
	if got := r.state(); got != want {
		r.t.Fatalf("state = %s, want %s", got, want)
	}
}

// toPin drives a new session into PinFallback by frames that match nobody.
func (r *rig) toPin() {
	r.t.Helper()
	for r.state() != PinFallback {
		r.mustFrame(near("bob", 0.9, 0.2))
	}
}

// path drains the transitions published so far and returns their target states.
func (r *rig) path() []State {
	var out []State
	for {
		select {
		case tr, ok := <-r.trans:
			if !ok {
				return out
			}
			out = append(out, tr.To)
		default:
			return out
		}
	}
}

// kOfNConfig is DefaultConfig with liveness off and the one-frame rule off: the configuration of
// the tests of the state machine's K-of-N, PIN, policy and door paths, whose frames carry no
// liveness scores. The liveness and sequential rules are tested with their defaults in
// liveness_test.go.
func kOfNConfig() Config {
	c := DefaultConfig()
	c.Liveness = LivenessOff
	c.ClearDistance = 0
	return c
}
