package machine

import (
	"cmp"
	"fmt"
	"time"
)

// Admit lets one frame into a session before vision analyses it. session "" joins the current
// session or, in Idle, starts one (Idle -> Receiving; BeginAttempt first, and if it fails the
// error wraps ErrBeginFailed and the machine stays in Idle). A non-empty session must be the
// current one, else ErrStaleSession. In Unlocking and Cooldown it returns a *BusyError. In
// PinFallback the frame is admitted but will only be answered with the state.
func (m *Machine) Admit(session string) (Ticket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Ticket{}, ErrClosed
	}
	if m.lockdown {
		return Ticket{}, ErrLockdown
	}
	if session != "" && session != m.sessionIDLocked() {
		return Ticket{}, ErrStaleSession
	}
	switch m.stateLocked() {
	case Unlocking, Cooldown:
		return Ticket{}, m.busyLocked()
	case Idle:
		now := m.clk.Now()
		s := newSession(now)
		if err := m.sink.BeginAttempt(s.id, now); err != nil {
			m.log.Error("begin attempt failed; session refused", "session", s.id, "err", err)
			return Ticket{}, fmt.Errorf("%w: %w", ErrBeginFailed, err)
		}
		m.sess = s
		if err := m.fireLocked(evStart, "frame arrived", nil); err != nil {
			m.sess = nil
			return Ticket{}, err
		}
	}
	s := m.sess
	s.seq++
	s.pending[s.seq] = struct{}{}
	return Ticket{Session: s.id, Seq: s.seq}, nil
}

// Submit hands vision's result for an admitted frame to the machine. In Receiving and Recognizing
// the frame is counted and may decide the session; in PinFallback it only may become the evidence
// frame; in Unlocking and Cooldown it is answered with the state. If t's session has ended the
// result is discarded with ErrStaleSession; a ticket used twice gives ErrUnknownTicket.
func (m *Machine) Submit(t Ticket, r FrameResult) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Status{}, ErrClosed
	}
	s := m.sess
	if s == nil || t.Session != s.id {
		return Status{}, ErrStaleSession
	}
	if _, ok := s.pending[t.Seq]; !ok {
		return Status{}, ErrUnknownTicket
	}
	delete(s.pending, t.Seq)
	st := Status{Session: s.id, Seq: t.Seq, Quality: r.Quality}
	switch m.stateLocked() {
	case Receiving, Recognizing:
		st.Match = m.countFrameLocked(r)
	case PinFallback:
		s.noteFrame(r)
	}
	st.State = m.stateLocked()
	if s.decision != nil {
		d := *s.decision
		st.Decision = &d
	}
	return st, nil
}

// countFrameLocked counts one frame of the current session in Receiving or Recognizing and
// returns its candidate if it matched. A frame repeating an earlier frame of the session (same
// Print) is counted (and, with liveness enforced, adds nothing else: no vote, no liveness score).
func (m *Machine) countFrameLocked(r FrameResult) *Candidate {
	s := m.sess
	s.frames++
	s.noteFrame(r)
	repeat := m.cfg.Liveness != LivenessOff && s.repeated(r.Print)
	if repeat {
		s.repeats++
	}
	if r.Quality != QualityOK || (repeat && m.cfg.Liveness == LivenessEnforce) {
		if m.stateLocked() == Recognizing {
			s.recogFrames++
			if s.recogFrames >= m.cfg.MaxFrames {
				m.noFaceDecisionLocked("no face decision within the frame limit")
			}
		}
		return nil
	}
	if m.stateLocked() == Receiving {
		if err := m.fireLocked(evUsableFace, "usable face", nil); err != nil {
			return nil
		}
	}
	s.recogFrames++
	if r.Scored && m.cfg.Liveness != LivenessOff {
		s.scores = append(s.scores, r.Liveness)
	}
	match, vote, who, deny := m.judgeFrameLocked(r)
	votes := s.vote(vote, m.cfg.N)
	switch {
	case deny != "" && votes >= m.cfg.K:
		m.faceDecisionLocked(who, deny, "")
		return match
	case match != nil && votes >= m.cfg.K:
		if m.faceReadyLocked(who, fmt.Sprintf("%d of the last %d frames matched", m.cfg.K, m.cfg.N)) {
			return match
		}
	case match != nil && m.clearMatch(r.Match):
		if m.faceReadyLocked(who, "one clear match") {
			return match
		}
	case s.ready != nil && !(deny != "" || (vote != "" && vote != s.ready.ID)):
		// The face was decided and waits for liveness evidence: this frame added some.
		if m.faceReadyLocked(*s.ready, s.readyWhy) {
			return match
		}
	}
	if s.recogFrames >= m.cfg.MaxFrames {
		m.noFaceDecisionLocked("no face decision within the frame limit")
	}
	return match
}

// judgeFrameLocked looks up the candidate of a usable frame that is within the threshold and
// margin. A user whose policy admits them now votes with their id and is returned as the
// frame's match; a user whose policy denies them votes "!"+id (such votes decide nothing but a
// policy denial) and is never named in the answer. Nobody, or a directory failure, votes "".
func (m *Machine) judgeFrameLocked(r FrameResult) (match *Candidate, vote string, who Identity, deny string) {
	c := r.Match
	if c == nil || c.Distance >= m.cfg.Threshold || c.Margin < m.cfg.MinMargin {
		return nil, "", Identity{}, ""
	}
	id, ok, err := m.dir.User(c.User)
	switch {
	case err != nil:
		m.log.Error("directory lookup failed; frame counts as no match", "session", m.sess.id, "err", err)
		return nil, "", Identity{}, ""
	case !ok:
		return nil, "", Identity{}, ""
	}
	m.sess.seen = id
	if deny = id.Policy.Deny(m.clk.Now(), m.loc); deny != "" {
		return nil, "!" + id.ID, id, deny
	}
	return &Candidate{User: id.ID, Name: id.Name, Distance: c.Distance, Margin: c.Margin}, id.ID, id, ""
}

// faceDecisionLocked acts on a face decision for who in Recognizing (k of n votes, or one clear
// match; why says which, for the record). A policy denial (deny != "")
// ends the session as denied in face+PIN mode and otherwise falls back to the PIN, the session
// then denied with that reason unless a PIN opens the door. Otherwise who's authentication mode
// decides: face and face_or_pin grant, face_and_pin and pin_only ask for the PIN.
func (m *Machine) faceDecisionLocked(who Identity, deny, why string) {
	s := m.sess
	if deny != "" {
		s.subject = who
		m.log.Info("face denied by policy", "session", s.id, "user", who.ID, "reason", deny)
		if m.cfg.RequireFaceAndPIN {
			_, _ = m.endLocked(evFaceDenied, Denied, deny)
			return
		}
		s.policyDenial = deny
		s.reachedPIN = true
		_ = m.fireLocked(evNoFaceDecision, deny, nil)
		return
	}
	switch m.effectiveMode(who.Policy) {
	case ModeFaceAndPIN, ModePINOnly:
		s.reachedPIN = true
		s.faceUser = who
		reason := ReasonModeRequiresPIN
		if m.cfg.RequireFaceAndPIN {
			reason = "face matched, PIN required"
		}
		_ = m.fireLocked(evFaceMatchNeedsPIN, reason, nil)
	default:
		m.grantLocked(evFaceMatch, MethodFace, who, why)
	}
}

// Abandon releases a ticket whose frame could not be analysed. It counts nothing and is a no-op
// for a stale or unknown ticket.
func (m *Machine) Abandon(t Ticket) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sess; s != nil && t.Session == s.id {
		delete(s.pending, t.Seq)
	}
}

// EnterPIN checks a PIN for the current session in PinFallback. A correct PIN of an enabled user
// (in face+PIN mode: of the user the face matched) grants. A wrong PIN counts towards the session's
// MaxPinTries and the lockout across sessions, and the session's best frame is kept as evidence.
// While locked out the session ends with locked_out. Errors: ErrClosed, ErrStaleSession,
// ErrNotAwaitingPIN, and ErrDirectory (the PIN was neither accepted nor counted).
func (m *Machine) EnterPIN(session, pin string) (PinResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return PinResult{}, ErrClosed
	}
	s := m.sess
	if s == nil || session != s.id {
		return PinResult{}, ErrStaleSession
	}
	if m.stateLocked() != PinFallback {
		return PinResult{}, ErrNotAwaitingPIN
	}
	if m.lockdown {
		return PinResult{State: PinFallback}, ErrLockdown
	}
	now := m.clk.Now()
	if now.Before(m.lockout.Until) {
		return m.lockedOutLocked("PIN entry locked out"), nil
	}
	owner, ok, err := m.dir.LookupPIN(pin)
	if err != nil {
		m.log.Error("PIN lookup failed", "session", s.id, "err", err)
		return PinResult{Outcome: Denied, State: PinFallback, AttemptsLeft: m.cfg.MaxPinTries - s.wrongPins},
			fmt.Errorf("%w: %w", ErrDirectory, err)
	}
	s.pinTries++
	if !ok {
		return m.wrongPINLocked(now, ""), nil
	}
	who := owner.Identity
	if owner.Duress {
		s.duress = true
		defer m.alarmLocked(Alarm{Kind: AlarmDuress, At: now, Session: s.id, User: who.ID, Name: who.Name,
			Detail: "duress PIN entered"})
	}
	if face := cmp.Or(s.faceUser.ID, s.seen.ID); face != "" && face != who.ID {
		s.mismatch = face
		m.alarmLocked(Alarm{Kind: AlarmMismatch, At: now, Session: s.id, User: who.ID, Name: who.Name,
			Detail: fmt.Sprintf("face matched user %s, PIN of user %s", face, who.ID)})
	}
	s.subject = who
	if deny := who.Policy.Deny(now, m.loc); deny != "" {
		return m.wrongPINLocked(now, deny), nil
	}
	mode := m.effectiveMode(who.Policy)
	method := MethodPIN
	switch {
	case mode == ModeFace:
		return m.wrongPINLocked(now, ReasonModeRequiresFace), nil
	case s.faceUser.ID != "" && s.faceUser.ID != who.ID && m.effectiveMode(s.faceUser.Policy) == ModeFaceAndPIN:
		// The face asked for its own user's PIN: another user's PIN is a wrong one.
		s.subject = Identity{}
		return m.wrongPINLocked(now, ""), nil
	case mode == ModeFaceAndPIN && s.faceUser.ID == "":
		return m.wrongPINLocked(now, ReasonModeRequiresFace), nil
	case mode == ModeFaceAndPIN && s.faceUser.ID != who.ID:
		return m.wrongPINLocked(now, ReasonFacePINMismatch), nil
	case mode == ModeFaceAndPIN:
		method = MethodFacePIN
	}
	m.lockout = Lockout{}
	m.saveLockoutLocked()
	dec := m.grantLocked(evPinOK, method, who, "correct PIN")
	return PinResult{Outcome: dec.Outcome, State: m.stateLocked(), AttemptsLeft: m.cfg.MaxPinTries - s.wrongPins, Decision: dec}, nil
}

// wrongPINLocked handles a PIN that does not open the door: an unknown PIN (deny "") or a
// user's PIN that their policy refuses (deny is the reason). Either counts towards the session's
// MaxPinTries and the lockout, and the answer at the door is the same. A policy refusal is
// remembered: a session that then ends without a grant is denied with its reason.
func (m *Machine) wrongPINLocked(now time.Time, deny string) PinResult {
	s := m.sess
	s.wrongPins++
	if deny != "" {
		s.policyDenial = deny
		m.log.Info("PIN denied by policy", "session", s.id, "user", s.subject.ID, "reason", deny)
	}
	level := m.lockout.Level
	m.lockout = failLockout(m.lockout, now, m.cfg)
	if m.lockout.Level != level && now.Before(m.lockout.Until) {
		m.log.Warn("PIN lockout", "session", s.id, "level", m.lockout.Level, "until", m.lockout.Until)
	}
	m.saveLockoutLocked()
	if now.Before(m.lockout.Until) {
		return m.lockedOutLocked("too many wrong PINs: locked out")
	}
	if s.wrongPins >= m.cfg.MaxPinTries {
		dec, _ := m.endLocked(evPinDenied, Denied, cmp.Or(deny, "too many wrong PINs"))
		return PinResult{Outcome: Denied, State: m.stateLocked(), Decision: dec}
	}
	return PinResult{Outcome: Denied, State: PinFallback, AttemptsLeft: m.cfg.MaxPinTries - s.wrongPins}
}

// lockedOutLocked ends the current session (in PinFallback) as locked_out.
func (m *Machine) lockedOutLocked(reason string) PinResult {
	retry := m.lockout.Until.Sub(m.clk.Now())
	dec, _ := m.endLocked(evPinLockedOut, LockedOut, reason)
	return PinResult{Outcome: LockedOut, State: m.stateLocked(), RetryAfter: retry, Decision: dec}
}

// KeepEvidence asks that the current session's evidence frame be kept in its record (the
// prototype's /save). The frame is one the session analysed (its best), never one a client sends:
// a client can ask to keep evidence, not supply it. Only in PinFallback; it is kept unless the
// session is granted without a wrong PIN.
func (m *Machine) KeepEvidence(session string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	s := m.sess
	if s == nil || session != s.id {
		return ErrStaleSession
	}
	if m.stateLocked() != PinFallback {
		return ErrNotAwaitingPIN
	}
	s.keep = true
	return nil
}

// Cancel ends a session because the client left: Receiving, Recognizing or PinFallback -> Idle,
// recorded as cancelled. session "" means the current one (nil in Idle). Unlocking and Cooldown
// give a *BusyError. The returned error wraps a record failure; the machine is in Idle anyway.
func (m *Machine) Cancel(session string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if session == "" {
		if m.sess == nil {
			return nil
		}
	} else if session != m.sessionIDLocked() {
		return ErrStaleSession
	}
	switch m.stateLocked() {
	case Unlocking, Cooldown:
		return m.busyLocked()
	}
	_, err := m.endLocked(evCancel, Cancelled, "client cancelled")
	return err
}

// ExitRequest handles the exit button: an open session is cancelled (recorded cancelled), then a
// new session is begun, recorded granted with method exit_button and reason, and the door opened
// for UnlockDuration. While already Unlocking it does nothing. It fails closed: if BeginAttempt,
// RecordAttempt or Unlock fails the error is returned (ErrBeginFailed, ErrAuditFailed,
// ErrUnlockFailed) and the door stays locked. A lockdown does not stop it.
func (m *Machine) ExitRequest(reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if reason == "" {
		reason = "exit button"
	}
	return m.requestOpenLocked(evExit, MethodExit, reason)
}

// RemoteUnlock opens the door on an authenticated remote command (the building bus): exactly as
// ExitRequest, but recorded granted with method remote and the reason "remote unlock by <by>", so
// the audit names who asked. The record is written before the relay opens; any failure leaves
// the door locked (ErrBeginFailed, ErrAuditFailed, ErrUnlockFailed). During a lockdown it is
// refused with ErrLockdown and nothing is recorded (the caller audits its refusals).
func (m *Machine) RemoteUnlock(by string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.lockdown {
		return ErrLockdown
	}
	if by == "" {
		by = "unknown"
	}
	return m.requestOpenLocked(evRemote, MethodRemote, "remote unlock by "+by)
}

// requestOpenLocked is the common body of ExitRequest and RemoteUnlock: cancel the open session,
// begin a new one, record it granted with method, then open the door with ev.
func (m *Machine) requestOpenLocked(ev event, method Method, reason string) error {
	switch m.stateLocked() {
	case Receiving, Recognizing, PinFallback:
		_, _ = m.endLocked(evCancel, Cancelled, reason)
	case Unlocking:
		m.log.Info("open request while unlocked: nothing to do", "session", m.sessionIDLocked(), "method", string(method))
		return nil
	}
	now := m.clk.Now()
	s := newSession(now)
	if err := m.sink.BeginAttempt(s.id, now); err != nil {
		m.log.Error("begin attempt failed; open request refused", "session", s.id, "method", string(method), "err", err)
		return fmt.Errorf("%w: %w", ErrBeginFailed, err)
	}
	dec := &Decision{Outcome: Granted, Method: method}
	prev := m.sess
	m.sess = s
	a := m.attemptLocked(dec, reason)
	a.Durations = map[State]time.Duration{}
	if err := m.sink.RecordAttempt(a); err != nil {
		m.sess = prev
		m.log.Error("record attempt failed; open request refused", "session", s.id, "method", string(method), "err", err)
		return fmt.Errorf("%w: %w", ErrAuditFailed, err)
	}
	s.decision = dec
	m.logDecision(s.id, dec, reason)
	return m.openLocked(ev, reason, dec)
}

// SetLockdown holds the door in lockdown (on) or releases it. In lockdown, frames (Admit), PINs
// (EnterPIN) and RemoteUnlock are refused with ErrLockdown; the exit button still opens the door.
// Turning it on cancels an open session (recorded cancelled) and relocks a door that is
// Unlocking at once. by names who asked (logged). It returns whether the setting changed. The
// lockdown lives in memory: the caller that owns it (the MQTT bridge) persists it and sets it
// again at start.
func (m *Machine) SetLockdown(on bool, by string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrClosed
	}
	if m.lockdown == on {
		return false, nil
	}
	m.lockdown = on
	if !on {
		m.log.Warn("lockdown released", "by", by)
		return true, nil
	}
	m.log.Warn("lockdown", "by", by, "session", m.sessionIDLocked(), "state", string(m.stateLocked()))
	switch m.stateLocked() {
	case Receiving, Recognizing, PinFallback:
		_, _ = m.endLocked(evCancel, Cancelled, "lockdown by "+by)
	case Unlocking:
		m.unlockDoneLocked()
	}
	return true, nil
}
