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
	attached   []byte     // evidence set explicitly by AttachEvidence

	reachedPIN bool     // the session entered PinFallback
	faceUser   Identity // face+PIN mode: the user the face matched
	pinTries   int      // PINs checked against the directory
	wrongPins  int      // of which wrong

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
	if s.attached != nil {
		ev = s.attached
	}
	keep := s.wrongPins > 0 || s.attached != nil ||
		(cfg.EvidenceOnUnknown && (outcome == Denied || outcome == Timeout || outcome == LockedOut))
	if !keep || len(ev) == 0 {
		return nil
	}
	return slices.Clone(ev)
}

// maxLockout bounds one lockout so that doubling never overflows time arithmetic.
const maxLockout = 100 * 365 * 24 * time.Hour

// lockoutFor is base doubled level times, at most maxLockout.
func lockoutFor(base time.Duration, level int) time.Duration {
	d := base
	for i := 0; i < level && d < maxLockout; i++ {
		d *= 2
	}
	return min(d, maxLockout)
}
