package machine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/looplab/fsm"

	"github.com/doorface/doorface/clock"
)

// Machine is the door session state machine. Create it with New; all methods are safe for
// concurrent use.
type Machine struct {
	cfg      Config
	clk      clock.Clock
	lock     Lock
	sink     AttemptSink
	dir      Directory
	lockouts LockoutStore
	log      *slog.Logger
	loc      *time.Location // the site's time zone, in which schedules are read

	// unrecorded counts sessions that ended with no record: no face seen, no PIN entered.
	unrecorded atomic.Int64

	// mu guards everything that follows. Collaborators (Lock, AttemptSink, Directory,
	// LockoutStore) are called with mu held, which serialises the door.
	mu      sync.Mutex
	fsm     *fsm.FSM    // the authority on legal transitions, built from Rules
	sess    *session    // nil exactly in Idle
	since   time.Time   // when the current state was entered
	idleAt  time.Time   // Unlocking/Cooldown: when the machine will be back in Idle
	gen     uint64      // bumped on every transition; a timer armed under an older gen does nothing
	timer   clock.Timer // the current state's timeout, nil if none
	lockout Lockout
	subs    map[int]chan Transition
	nextSub int
	// alarmSubs receive alarms (SubscribeAlarms); never the door's transition stream.
	alarmSubs map[int]chan Alarm
	// failures are the end times of the failed sessions counted towards AlarmFailures.
	failures []time.Time
	// doorOpenedAt is when the door contact last opened (zero while closed); doorAlarm the
	// first alarm (forced_open, held_open) of that opening, "" if none.
	doorOpenedAt time.Time
	doorAlarm    string
	dropped      uint64
	closed       bool
	// lockdown refuses every way in but the exit button (SetLockdown).
	lockdown bool
	// relockPending is the session whose relock after Unlocking failed: its "door unlocked"
	// marker stays until RelayRelocked reports that the relay's own retry locked it.
	relockPending string
}

// Unrecorded is how many sessions ended without an attempt record since New: sessions in which no
// face was ever seen and no PIN entered, that timed out or were cancelled.
func (m *Machine) Unrecorded() int64 { return m.unrecorded.Load() }

// New validates cfg, commands the lock closed, loads the lockout counter and returns a machine in
// Idle. A nil Logger means slog.Default(); every other dependency is required.
func New(cfg Config, d Deps) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withLockoutDefaults()
	for _, dep := range []struct {
		name    string
		missing bool
	}{
		{"Clock", d.Clock == nil},
		{"Lock", d.Lock == nil},
		{"Sink", d.Sink == nil},
		{"Directory", d.Directory == nil},
		{"Lockouts", d.Lockouts == nil},
	} {
		if dep.missing {
			return nil, fmt.Errorf("%w: Deps.%s", ErrMissingDependency, dep.name)
		}
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if err := d.Lock.Lock(); err != nil {
		return nil, fmt.Errorf("machine: lock the door at start: %w", err)
	}
	loc, err := LoadZone(cfg.TimeZone)
	if err != nil { // Validate loaded it already
		return nil, fmt.Errorf("%w: time_zone=%s: %w", ErrInvalidConfig, cfg.TimeZone, err)
	}
	lo, err := d.Lockouts.LoadLockout()
	if err != nil {
		return nil, fmt.Errorf("machine: load lockout: %w", err)
	}
	return &Machine{
		cfg:      cfg,
		clk:      d.Clock,
		lock:     d.Lock,
		sink:     d.Sink,
		dir:      d.Directory,
		lockouts: d.Lockouts,
		log:      logger.With("component", "machine"),
		loc:      loc,
		fsm:      newFSM(),
		since:    d.Clock.Now(),
		lockout:  loadedLockout(lo, d.Clock.Now(), cfg),
		subs:     make(map[int]chan Transition),

		alarmSubs: make(map[int]chan Alarm),
	}, nil
}

// stateLocked is the current state.
func (m *Machine) stateLocked() State { return State(m.fsm.Current()) }

// sessionIDLocked is the current session's id, "" in Idle.
func (m *Machine) sessionIDLocked() string {
	if m.sess == nil {
		return ""
	}
	return m.sess.id
}

// fireLocked performs the transition named ev (refused unless Rules allows it from the current
// state), then does the bookkeeping every transition needs: per-state durations, a new timer
// generation and the new state's timeout, one log line and one published Transition. Entering
// Idle drops the session.
func (m *Machine) fireLocked(ev event, reason string, dec *Decision) error {
	from := m.stateLocked()
	sid := m.sessionIDLocked()
	if err := m.fsm.Event(context.Background(), string(ev)); err != nil {
		m.log.Error("transition refused by the table", "session", sid, "event", string(ev), "from", string(from), "err", err)
		return fmt.Errorf("%w: event %s from %s: %v", ErrInternal, ev, from, err)
	}
	to := m.stateLocked()
	now := m.clk.Now()
	if m.sess != nil {
		m.sess.durations[from] += now.Sub(m.since)
	}
	m.since = now
	m.gen++
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	switch to {
	case Idle:
		m.sess = nil
	case Receiving:
		m.armLocked(m.cfg.ReceiveTimeout, m.receiveTimeoutLocked)
	case Recognizing:
		m.armLocked(m.cfg.RecognizeTimeout, func() { m.noFaceDecisionLocked("no face decision in time") })
	case PinFallback:
		m.armLocked(m.cfg.PinTimeout, m.pinTimeoutLocked)
	case Unlocking:
		m.idleAt = now.Add(m.cfg.UnlockDuration + m.cfg.Cooldown)
		m.armLocked(m.cfg.UnlockDuration, m.unlockDoneLocked)
	case Cooldown:
		m.idleAt = now.Add(m.cfg.Cooldown)
		m.armLocked(m.cfg.Cooldown, m.cooldownDoneLocked)
	}
	m.log.Info("transition", "session", sid, "from", string(from), "to", string(to), "event", string(ev), "reason", reason)
	var d *Decision
	if dec != nil {
		c := *dec
		d = &c
	}
	m.publishLocked(Transition{From: from, To: to, Session: sid, At: now, Reason: reason, Decision: d})
	return nil
}

// armLocked runs f after d, with mu held, unless the machine has moved on (or closed) by then.
func (m *Machine) armLocked(d time.Duration, f func()) {
	gen := m.gen
	m.timer = m.clk.AfterFunc(d, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.closed || m.gen != gen {
			return
		}
		f()
	})
}

func (m *Machine) receiveTimeoutLocked() {
	_, _ = m.endLocked(evReceiveTimeout, Timeout, "no usable face in time")
}

func (m *Machine) pinTimeoutLocked() {
	if r := m.sess.policyDenial; r != "" {
		_, _ = m.endLocked(evPinTimeout, Denied, r)
		return
	}
	_, _ = m.endLocked(evPinTimeout, Timeout, "no PIN in time")
}

func (m *Machine) unlockDoneLocked() {
	if err := m.lock.Lock(); err != nil {
		m.log.Error("relock after unlock failed", "session", m.sessionIDLocked(), "err", err)
		m.relockFailedLocked()
	} else {
		m.log.Info("relay commanded locked", "session", m.sessionIDLocked())
		m.endUnlockLocked()
	}
	_ = m.fireLocked(evUnlockDone, "unlock time over", nil)
}

func (m *Machine) cooldownDoneLocked() {
	_ = m.fireLocked(evCooldownDone, "cooldown over", nil)
}

// noFaceDecisionLocked ends Recognizing without a face decision: PinFallback in normal mode,
// Idle (denied) in face+PIN mode.
func (m *Machine) noFaceDecisionLocked(reason string) {
	if s := m.sess; s.ready != nil && s.liveResult == "" && m.cfg.Liveness == LivenessEnforce {
		// The face matched and was waiting for liveness evidence that did not come in time.
		m.livenessRefusedLocked(LivenessUndecided, ReasonLivenessUndecided)
		return
	}
	if m.cfg.RequireFaceAndPIN {
		_, _ = m.endLocked(evFaceDenied, Denied, reason)
		return
	}
	m.sess.reachedPIN = true
	_ = m.fireLocked(evNoFaceDecision, reason, nil)
}

// attemptLocked builds the current session's record.
func (m *Machine) attemptLocked(dec *Decision, reason string) Attempt {
	s := m.sess
	now := m.clk.Now()
	durations := make(map[State]time.Duration, len(s.durations)+1)
	for k, v := range s.durations {
		durations[k] = v
	}
	durations[m.stateLocked()] += now.Sub(m.since)
	a := Attempt{
		ID:           s.id,
		Start:        s.start,
		End:          now,
		Outcome:      dec.Outcome,
		Method:       dec.Method,
		User:         dec.User,
		Name:         dec.Name,
		BestDistance: -1,
		BestMargin:   -1,
		Frames:       s.frames,
		PinTries:     s.pinTries,
		Durations:    durations,
		Reason:       reason,
		Evidence:     s.evidenceFor(m.cfg, dec.Outcome),
		Duress:       s.duress,
		Mismatch:     s.mismatch,
		Liveness:     s.livenessEvidence(m.cfg),
	}
	if s.subject.ID != "" {
		a.Policy = s.subject.Policy.String()
		if a.User == "" {
			a.User, a.Name = s.subject.ID, s.subject.Name
		}
	}
	if s.best != nil {
		a.BestUser, a.BestDistance, a.BestMargin = s.best.User, s.best.Distance, s.best.Margin
	}
	return a
}

// endLocked ends the current session without opening the door: records it, then moves to Idle
// with ev. A record error is logged and returned; the machine is in Idle either way.
func (m *Machine) endLocked(ev event, outcome Outcome, reason string) (*Decision, error) {
	s := m.sess
	dec := &Decision{Outcome: outcome, Method: s.method(m.cfg)}
	s.decision = dec
	var recErr error
	if !s.faceSeen && s.pinTries == 0 && (outcome == Timeout || outcome == Cancelled) {
		// Nothing happened at the door worth a record: count it, drop the in-progress marker.
		m.unrecorded.Add(1)
		m.log.Debug("session without a face: not recorded", "session", s.id, "outcome", string(outcome))
		if err := m.sink.DiscardAttempt(s.id); err != nil {
			m.log.Error("discard attempt marker failed", "session", s.id, "err", err)
		}
	} else {
		recErr = m.sink.RecordAttempt(m.attemptLocked(dec, reason))
	}
	if recErr != nil {
		m.log.Error("record attempt failed", "session", s.id, "outcome", string(outcome), "err", recErr)
	}
	m.logDecision(s.id, dec, reason)
	if outcome == Denied || outcome == LockedOut {
		m.countFailureLocked(m.clk.Now())
	}
	if err := m.fireLocked(ev, reason, dec); err != nil {
		return dec, err
	}
	if recErr != nil {
		return dec, fmt.Errorf("machine: record attempt: %w", recErr)
	}
	return dec, nil
}

// grantLocked grants the current session (in Recognizing or PinFallback): the record is written
// first; if that fails the session is denied ("audit write failed") and the door stays locked.
// Otherwise the decision is published with the transition ev into Unlocking and the door opened.
func (m *Machine) grantLocked(ev event, method Method, who Identity, reason string) *Decision {
	s := m.sess
	s.subject = who
	dec := &Decision{Outcome: Granted, Method: method, User: who.ID, Name: who.Name}
	if err := m.sink.RecordAttempt(m.attemptLocked(dec, reason)); err != nil {
		m.log.Error("record attempt failed; door stays locked", "session", s.id, "err", err)
		dec = &Decision{Outcome: Denied, Method: method}
		s.decision = dec
		m.logDecision(s.id, dec, "audit write failed")
		_ = m.fireLocked(evAuditFailed, "audit write failed", dec)
		return dec
	}
	s.decision = dec
	m.logDecision(s.id, dec, reason)
	_ = m.openLocked(ev, reason, dec)
	return dec
}

// openLocked moves into Unlocking with ev (publishing dec) and only then opens the door. If the
// relay fails it is locked again and the machine goes to Cooldown.
func (m *Machine) openLocked(ev event, reason string, dec *Decision) error {
	if err := m.fireLocked(ev, reason, dec); err != nil {
		return err
	}
	m.log.Info("relay commanded open", "session", m.sessionIDLocked(), "for_s", m.cfg.UnlockDuration.Seconds())
	if err := m.lock.Unlock(m.cfg.UnlockDuration); err != nil {
		m.log.Error("unlock failed; locking", "session", m.sessionIDLocked(), "err", err)
		if lerr := m.lock.Lock(); lerr != nil {
			m.log.Error("lock after failed unlock failed", "session", m.sessionIDLocked(), "err", lerr)
			m.relockFailedLocked()
		} else {
			m.endUnlockLocked()
		}
		_ = m.fireLocked(evUnlockFailed, "unlock failed", nil)
		return fmt.Errorf("%w: %w", ErrUnlockFailed, err)
	}
	return nil
}

// endUnlockLocked tells the sink that the current session's door is locked again.
func (m *Machine) endUnlockLocked() {
	m.relockPending = "" // the relay is locked: an older failed relock is moot too
	if m.sess == nil {
		return
	}
	if err := m.sink.EndUnlock(m.sess.id); err != nil {
		m.log.Error("end unlock marker failed", "session", m.sess.id, "err", err)
	}
}

// relockFailedLocked remembers the current session when the relay could not be locked after
// Unlocking: its "door unlocked" marker must stay until the relay reports the lock written.
func (m *Machine) relockFailedLocked() {
	if m.sess != nil {
		m.relockPending = m.sess.id
	}
}

func (m *Machine) logDecision(sid string, dec *Decision, reason string) {
	m.log.Info("decision", "session", sid, "outcome", string(dec.Outcome), "method", string(dec.Method), "user", dec.User, "reason", reason)
}

// busyLocked is the error for inputs in Unlocking or Cooldown.
func (m *Machine) busyLocked() *BusyError {
	return &BusyError{State: m.stateLocked(), RetryAfter: max(m.idleAt.Sub(m.clk.Now()), 0)}
}

// publishLocked sends tr to every subscriber without blocking; a full subscriber loses it.
func (m *Machine) publishLocked(tr Transition) {
	for _, ch := range m.subs {
		select {
		case ch <- tr:
		default:
			m.dropped++
		}
	}
}

// saveLockoutLocked persists the lockout counter. A failure is logged: the in-memory counter is
// still enforced until a restart.
func (m *Machine) saveLockoutLocked() {
	if err := m.lockouts.SaveLockout(m.lockout); err != nil {
		m.log.Error("save lockout failed", "session", m.sessionIDLocked(), "err", err)
	}
}
