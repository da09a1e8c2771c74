package machine

import (
	"fmt"
	"time"
)

// AlarmKind names what raised an alarm.
type AlarmKind string

// The alarms.
const (
	// AlarmDuress: a user entered their duress PIN (the door opened as usual).
	AlarmDuress AlarmKind = "duress"
	// AlarmMismatch: the PIN entered belongs to another user than the face matched.
	AlarmMismatch AlarmKind = "mismatch"
	// AlarmFailures: Config.AlarmFailures failed sessions within Config.AlarmWindow.
	AlarmFailures AlarmKind = "failures"
	// AlarmForcedOpen: the door opened while the relay was locked.
	AlarmForcedOpen AlarmKind = "forced_open"
	// AlarmHeldOpen: the door stayed open longer than allowed.
	AlarmHeldOpen AlarmKind = "held_open"
)

// Alarm is published to alarm subscribers (SubscribeAlarms), never on the transition stream:
// it is for administrators, and nothing at the door shows it.
type Alarm struct {
	Kind    AlarmKind
	At      time.Time
	Session string // the session (or door-event record) it belongs to, "" for failures
	User    string // the user concerned (duress, mismatch), "" otherwise
	Name    string
	// Detail is a sentence for people ("face matched u1, PIN of u2").
	Detail string
	// Count is the number of failed sessions of a failures alarm.
	Count int
	// OpenFor is how long the door had been open (forced_open, held_open).
	OpenFor time.Duration
}

// SubscribeAlarms returns a channel receiving every Alarm and a function that unsubscribes. As
// with Subscribe, the machine never waits: a full channel loses the alarm (counted in Dropped).
// After Shutdown the channel is closed.
func (m *Machine) SubscribeAlarms(buffer int) (<-chan Alarm, func()) {
	ch := make(chan Alarm, max(buffer, 1))
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		close(ch)
		return ch, func() {}
	}
	id := m.nextSub
	m.nextSub++
	m.alarmSubs[id] = ch
	return ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if c, ok := m.alarmSubs[id]; ok {
			delete(m.alarmSubs, id)
			close(c)
		}
	}
}

// alarmLocked logs a and sends it to every alarm subscriber without blocking.
func (m *Machine) alarmLocked(a Alarm) {
	if a.At.IsZero() {
		a.At = m.clk.Now()
	}
	m.log.Warn("alarm", "session", a.Session, "kind", string(a.Kind), "user", a.User, "detail", a.Detail)
	for _, ch := range m.alarmSubs {
		select {
		case ch <- a:
		default:
			m.dropped++
		}
	}
}

// countFailureLocked notes one failed session ending at now; the AlarmFailures-th failure
// within AlarmWindow raises a failures alarm and starts the count again.
func (m *Machine) countFailureLocked(now time.Time) {
	if m.cfg.AlarmFailures <= 0 {
		return
	}
	kept := m.failures[:0]
	for _, t := range m.failures {
		if now.Sub(t) < m.cfg.AlarmWindow {
			kept = append(kept, t)
		}
	}
	m.failures = append(kept, now)
	if len(m.failures) >= m.cfg.AlarmFailures {
		n := len(m.failures)
		m.failures = m.failures[:0]
		m.alarmLocked(Alarm{Kind: AlarmFailures, At: now, Count: n,
			Detail: fmt.Sprintf("%d failed sessions within %s", n, m.cfg.AlarmWindow)})
	}
}

// Door event kinds accepted by DoorEvent (the hardware's names).
const (
	DoorOpenedEvent = "door_opened"
	DoorClosedEvent = "door_closed"
	ForcedOpenEvent = "forced_open"
	HeldOpenEvent   = "held_open"
)

// DoorEvent tells the machine what the door contact saw at `at`: door_opened, door_closed,
// forced_open or held_open (other kinds are ignored). A forced or held-open door is audited at
// once (a record with Method MethodDoor, Outcome ForcedOpen or HeldOpen and the time the door
// had been open) and raises an alarm; when the door then closes, a DoorClosed record carries the
// whole opening's duration. The door events do not touch the session. The error wraps a record
// failure (the alarm is raised anyway).
func (m *Machine) DoorEvent(kind string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if at.IsZero() {
		at = m.clk.Now()
	}
	switch kind {
	case DoorOpenedEvent:
		m.doorOpenedAt, m.doorAlarm = at, ""
		return nil
	case ForcedOpenEvent, HeldOpenEvent:
		if m.doorOpenedAt.IsZero() {
			m.doorOpenedAt = at
		}
		openFor := max(at.Sub(m.doorOpenedAt), 0)
		outcome, akind, why := ForcedOpen, AlarmForcedOpen, "door forced open while locked"
		if kind == HeldOpenEvent {
			outcome, akind, why = HeldOpen, AlarmHeldOpen, "door held open too long"
		}
		if m.doorAlarm == "" {
			m.doorAlarm = kind
		}
		id := newSessionID()
		err := m.recordDoorLocked(id, outcome, m.doorOpenedAt, at, openFor, why)
		m.alarmLocked(Alarm{Kind: akind, At: at, Session: id, OpenFor: openFor,
			Detail: fmt.Sprintf("%s (open %s)", why, openFor.Round(time.Millisecond))})
		return err
	case DoorClosedEvent:
		opened, alarm := m.doorOpenedAt, m.doorAlarm
		m.doorOpenedAt, m.doorAlarm = time.Time{}, ""
		if alarm == "" {
			return nil
		}
		openFor := max(at.Sub(opened), 0)
		return m.recordDoorLocked(newSessionID(), DoorClosed, opened, at, openFor,
			fmt.Sprintf("door closed after %s; open %s", alarm, openFor.Round(time.Millisecond)))
	}
	return nil
}

// recordDoorLocked writes one door-event record.
func (m *Machine) recordDoorLocked(id string, outcome Outcome, start, end time.Time, openFor time.Duration, reason string) error {
	a := Attempt{ID: id, Start: start, End: end, Outcome: outcome, Method: MethodDoor, BestDistance: -1,
		BestMargin: -1, Durations: map[State]time.Duration{}, Reason: reason, OpenFor: openFor}
	if err := m.sink.RecordAttempt(a); err != nil {
		m.log.Error("record door event failed", "session", id, "outcome", string(outcome), "err", err)
		return fmt.Errorf("%w: %w", ErrAuditFailed, err)
	}
	m.log.Info("door event recorded", "session", id, "outcome", string(outcome), "open_for_s", openFor.Seconds())
	return nil
}
