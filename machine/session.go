package machine

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"slices"
	"time"
)

// session is all per-attempt state. It exists from Idle->Receiving (or an exit request) until the
// machine is back in Idle, and nothing of it survives that: the machine drops its only pointer.
type session struct {
	id    string
	start time.Time

	seq     int              // last ticket issued
	pending map[int]struct{} // tickets issued and neither submitted nor abandoned

	frames      int      // frames processed (submitted in Receiving or Recognizing)
	recogFrames int      // frames processed in Recognizing
	window      []string // votes of the last N usable frames in Recognizing; "" = no match

	best       *Candidate // smallest-distance candidate of a usable frame
	evidence   []byte     // best frame: the usable frame with the smallest distance, else the latest frame with evidence
	evUsable   bool       // evidence came from a usable frame
	evDistance float64    // distance of that usable frame (+Inf if it had no candidate)
	keep       bool       // KeepEvidence asked to keep the evidence frame

	faceSeen   bool     // some frame of the session showed a face (any quality but no_face)
	reachedPIN bool     // the session entered PinFallback
	faceUser   Identity // the user whose face decided the session towards the PIN (k of n votes)
	seen       Identity // the last user (any policy) a usable frame matched within the threshold
	pinTries   int      // PINs checked against the directory
	wrongPins  int      // of which did not open the door

	// subject is the user a policy decision was about (granted, or denied by their policy);
	// policyDenial the reason when their policy denied the face and the session fell back to
	// the PIN: a session that then ends without a grant is denied with that reason.
	subject      Identity
	policyDenial string
	duress       bool   // the duress PIN of subject was entered
	mismatch     string // the face matched this user while the PIN entered was another's

	// Liveness (liveness.go): the P(real) of the scored distinct usable frames, the Prints of
	// the frames seen, how many repeated an earlier one; ready is the user a face decision
	// named while it waits for liveness evidence (readyWhy its reason), liveResult the result.
	scores     []float64
	prints     [][]byte
	repeats    int
	ready      *Identity
	readyWhy   string
	liveResult string

	durations map[State]time.Duration // time spent per state, up to the last transition
	decision  *Decision
}

func newSession(now time.Time) *session {
	return &session{
		id:        newSessionID(),
		start:     now,
		pending:   make(map[int]struct{}),
		durations: make(map[State]time.Duration),
	}
}

// newSessionID returns 128 bits from crypto/rand, hex encoded.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24 (it crashes the program instead)
	return hex.EncodeToString(b[:])
}

// noteFrame updates the best candidate and the best evidence frame with r.
func (s *session) noteFrame(r FrameResult) {
	if r.Quality != QualityNoFace {
		s.faceSeen = true
	}
	usable := r.Quality == QualityOK
	if usable && r.Match != nil && (s.best == nil || r.Match.Distance < s.best.Distance) {
		c := *r.Match
		s.best = &c
	}
	if len(r.Evidence) == 0 {
		return
	}
	dist := math.Inf(1)
	if r.Match != nil {
		dist = r.Match.Distance
	}
	switch {
	case usable && (!s.evUsable || dist < s.evDistance):
		s.evidence, s.evUsable, s.evDistance = slices.Clone(r.Evidence), true, dist
	case !usable && !s.evUsable:
		s.evidence = slices.Clone(r.Evidence)
	}
}

// vote appends one usable frame's vote to the window and reports how many votes of the window
// name user.
func (s *session) vote(user string, n int) int {
	s.window = append(s.window, user)
	if len(s.window) > n {
		s.window = s.window[len(s.window)-n:]
	}
	if user == "" {
		return 0
	}
	count := 0
	for _, v := range s.window {
		if v == user {
			count++
		}
	}
	return count
}

// method is the path a session that was not granted was on.
func (s *session) method(cfg Config) Method {
	switch {
	case cfg.RequireFaceAndPIN && (s.reachedPIN || s.frames > 0):
		return MethodFacePIN
	case s.reachedPIN:
		return MethodPIN
	case s.frames > 0:
		return MethodFace
	}
	return MethodNone
}

// evidenceFor returns the evidence kept in the record of a session ending with outcome.
func (s *session) evidenceFor(cfg Config, outcome Outcome) []byte {
	ev := s.evidence
	keep := s.wrongPins > 0 || s.keep ||
		(cfg.EvidenceOnUnknown && (outcome == Denied || outcome == Timeout || outcome == LockedOut))
	if !keep || len(ev) == 0 {
		return nil
	}
	return slices.Clone(ev)
}

// maxLockout is the largest Config.LockoutMax accepted: a stranger must never be able to keep
// every user's PIN fallback locked for longer than that after they leave.
const maxLockout = 24 * time.Hour

// lockoutFor is base doubled level times, at most limit.
func lockoutFor(base, limit time.Duration, level int) time.Duration {
	d := base
	for i := 0; i < level && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// failLockout is the lockout after a wrong PIN at now: failures counted since a window start
// older than cfg.FailureWindow are forgotten first, and so is the escalation level once the last
// lockout ended at least a window ago; the LockoutAfter-th failure in a window starts a lockout
// of LockoutBase doubled per level, at most LockoutMax.
func failLockout(lo Lockout, now time.Time, cfg Config) Lockout {
	if lo.Level > 0 && now.Sub(lo.Until) >= cfg.FailureWindow {
		lo.Level = 0
	}
	if lo.Failures > 0 && now.Sub(lo.Since) >= cfg.FailureWindow {
		lo.Failures = 0
	}
	if lo.Failures == 0 {
		lo.Since = now
	}
	lo.Failures++
	if lo.Failures >= cfg.LockoutAfter {
		lo.Until = now.Add(lockoutFor(cfg.LockoutBase, cfg.LockoutMax, lo.Level))
		lo.Level++
		lo.Failures = 0
		lo.Since = time.Time{}
	}
	return lo
}

// loadedLockout bounds a lockout read at start: a lockout (perhaps saved by an older version
// without a cap, or written into the file by someone) ends at most LockoutMax from now, and
// counts or levels without their timestamp start their window now.
func loadedLockout(lo Lockout, now time.Time, cfg Config) Lockout {
	if limit := now.Add(cfg.LockoutMax); lo.Until.After(limit) {
		lo.Until = limit
	}
	if lo.Failures > 0 && lo.Since.IsZero() {
		lo.Since = now
	}
	if lo.Level > 0 && lo.Until.IsZero() {
		lo.Until = now
	}
	return lo
}
