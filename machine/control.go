package machine

import "fmt"

// Snapshot returns the machine's state, session and timing at this instant.
func (m *Machine) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.stateLocked()
	snap := Snapshot{State: st, Session: m.sessionIDLocked(), Since: m.since, Lockdown: m.lockdown}
	now := m.clk.Now()
	switch st {
	case Unlocking, Cooldown:
		snap.RetryAfter = max(m.idleAt.Sub(now), 0)
	case PinFallback:
		snap.RetryAfter = max(m.lockout.Until.Sub(now), 0)
	}
	return snap
}

// Lockout returns the current PIN lockout counter.
func (m *Machine) Lockout() Lockout {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lockout
}

// ResetLockout is the administrator's reset of the PIN lockout: it clears the counter, the
// escalation level and any running lockout, and returns what it cleared. by names who reset it
// (an admin token's name, "cli"); it is audited when the LockoutStore implements
// LockoutResetter, else the zero Lockout is saved. The reset holds in memory even when saving it
// fails (the error, wrapping ErrLockoutStore, says it may come back after a restart).
func (m *Machine) ResetLockout(by string) (Lockout, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Lockout{}, ErrClosed
	}
	was := m.lockout
	m.lockout = Lockout{}
	now := m.clk.Now()
	var err error
	err = m.lockouts.ResetLockout(was, by, now)
	m.log.Warn("PIN lockout reset", "by", by, "was_failures", was.Failures, "was_level", was.Level,
		"was_until", was.Until)
	if err != nil {
		m.log.Error("save lockout reset failed", "err", err)
		return was, fmt.Errorf("%w: reset lockout: %w", ErrLockoutStore, err)
	}
	return was, nil
}

// Subscribe returns a channel receiving every Transition and a function that unsubscribes (and
// closes the channel; calling it again is harmless). The machine never waits for a subscriber:
// when the channel's buffer (at least 1) is full the transition is dropped and counted in Dropped.
// After Shutdown the channel is closed.
func (m *Machine) Subscribe(buffer int) (<-chan Transition, func()) {
	ch := make(chan Transition, max(buffer, 1))
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		close(ch)
		return ch, func() {}
	}
	id := m.nextSub
	m.nextSub++
	m.subs[id] = ch
	return ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if c, ok := m.subs[id]; ok {
			delete(m.subs, id)
			close(c)
		}
	}
}

// Dropped counts transitions that subscribers lost because their buffer was full.
func (m *Machine) Dropped() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped
}

// Shutdown ends an open session (recorded cancelled with reason), locks the door, stops every
// timer and closes the subscriber channels. Later inputs return ErrClosed; later Shutdowns do
// nothing.
func (m *Machine) Shutdown(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	why := "shutdown"
	if reason != "" {
		why += ": " + reason
	}
	switch m.stateLocked() {
	case Receiving, Recognizing, PinFallback:
		_, _ = m.endLocked(evCancel, Cancelled, why)
	case Unlocking, Cooldown:
		if err := m.lock.Lock(); err != nil {
			m.log.Error("lock at shutdown failed", "session", m.sessionIDLocked(), "err", err)
			if m.stateLocked() == Unlocking {
				m.relockFailedLocked()
			}
		} else if m.stateLocked() == Unlocking {
			m.endUnlockLocked()
		}
		_ = m.fireLocked(evShutdown, why, nil)
	}
	if err := m.lock.Lock(); err != nil {
		m.log.Error("lock at shutdown failed", "err", err)
	} else if m.relockPending != "" {
		m.endPendingLocked("relay locked at shutdown")
	}
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	m.gen++
	m.closed = true
	for id, ch := range m.subs {
		delete(m.subs, id)
		close(ch)
	}
	for id, ch := range m.alarmSubs {
		delete(m.alarmSubs, id)
		close(ch)
	}
	m.log.Info("shut down", "reason", reason)
}

// RelayRelocked tells the machine that the relay wrote the locked level after an earlier lock
// write had failed (hw.Relay retries it on its own). The session whose relock failed then gets
// its "door unlocked" marker cleared (AttemptSink.EndUnlock), as a successful relock would have done. With
// no failed relock pending, or after Shutdown (the store may be closed; the marker then stays
// and the next start records the unlocking as interrupted), it does nothing. Call it from its
// own goroutine, never from inside the lock's callbacks.
func (m *Machine) RelayRelocked() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.relockPending == "" {
		return
	}
	if m.closed {
		m.log.Warn("relay relocked after shutdown; unlock marker kept", "session", m.relockPending)
		return
	}
	m.endPendingLocked("relay relocked by its retry")
}

// endPendingLocked clears the "door unlocked" marker of the session whose relock had failed, now
// that the relay is locked.
func (m *Machine) endPendingLocked(why string) {
	id := m.relockPending
	m.relockPending = ""
	m.log.Info(why, "session", id)
	if err := m.sink.EndUnlock(id); err != nil {
		m.log.Error("end unlock marker failed", "session", id, "err", err)
	}
}
