package machine

import "fmt"

// The results of a session's liveness check (LivenessEvidence.Result).
const (
	LivenessPassed    = "passed"
	LivenessFailed    = "failed"
	LivenessUndecided = "undecided"
)

// Reasons of the transition into PinFallback (and of a face+PIN session's denial) when the face
// matched but the session's liveness did not pass: the tablet is told on the event stream.
const (
	// ReasonLivenessFailed: the mean P(real) of LivenessFrames or more distinct frames stayed
	// below LivenessThreshold.
	ReasonLivenessFailed = "liveness_failed"
	// ReasonLivenessUndecided: the face matched but the session ended its recognition (frame
	// limit or timeout) before LivenessFrames distinct frames were scored.
	ReasonLivenessUndecided = "liveness_undecided"
)

// RepeatMargin is the largest mean absolute difference, in gray levels (0..255), between two
// frames' Prints that still counts as the same picture (SamePicture). Measured in
// vision/CALIBRATION.md ("Distinct captures"): a frame saved again losslessly or at its own JPEG
// quality differs by 0.00; the same still scene with simulated sensor noise of 1 gray level (a
// very quiet sensor) by 0.20 and more, of 2 levels by 0.67 and more; the margin is half the
// smallest. Re-encodings at another quality (0.04 to 2.5) mostly count as distinct: they are then
// scored like any other frame.
const RepeatMargin = 0.10

// maxPrints bounds the Prints a session remembers (the oldest are forgotten first).
const maxPrints = 64

// SamePicture reports whether two frame Prints show the same picture: equal lengths and a mean
// absolute difference of at most RepeatMargin. Empty prints are never the same.
func SamePicture(a, b []byte) bool {
	if len(a) == 0 || len(a) != len(b) {
		return false
	}
	sum := 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		sum += d
	}
	return float64(sum) <= RepeatMargin*float64(len(a))
}

// repeated reports whether print repeats a frame the session already saw, and remembers it.
func (s *session) repeated(print []byte) bool {
	if len(print) == 0 {
		return false
	}
	for _, p := range s.prints {
		if SamePicture(p, print) {
			return true
		}
	}
	if len(s.prints) >= maxPrints {
		s.prints = s.prints[1:]
	}
	s.prints = append(s.prints, print)
	return false
}

// livenessMean is the mean of the session's scores, -1 when there are none.
func (s *session) livenessMean() float64 {
	if len(s.scores) == 0 {
		return -1
	}
	sum := 0.0
	for _, v := range s.scores {
		sum += v
	}
	return sum / float64(len(s.scores))
}

// livenessVerdict is what the liveness rule says now: passed, failed, or undecided (fewer than
// LivenessFrames scored frames).
func (s *session) livenessVerdict(cfg Config) string {
	switch {
	case len(s.scores) < cfg.LivenessFrames:
		return LivenessUndecided
	case s.livenessMean() >= cfg.LivenessThreshold:
		return LivenessPassed
	}
	return LivenessFailed
}

// livenessEvidence is the session's LivenessEvidence for its record.
func (s *session) livenessEvidence(cfg Config) LivenessEvidence {
	ev := LivenessEvidence{Mode: cfg.Liveness, Mean: s.livenessMean(), Result: s.liveResult, Repeats: s.repeats}
	if len(s.scores) > 0 {
		ev.Scores = append([]float64(nil), s.scores...)
	}
	if ev.Result == "" && s.ready != nil && cfg.Liveness != LivenessOff {
		ev.Result = s.livenessVerdict(cfg)
	}
	return ev
}

// clearMatch reports whether c alone decides the face (the sequential rule's one-frame bound).
func (m *Machine) clearMatch(c *Candidate) bool {
	return c != nil && m.cfg.ClearDistance > 0 && c.Distance < m.cfg.ClearDistance && c.Margin >= m.cfg.ClearMargin
}

// faceReadyLocked acts on a face decision for who (K of N votes, or one clear frame) that is not
// a policy denial: with liveness enforced it waits for LivenessFrames scored frames, then grants
// (or asks for the PIN, by the user's mode) when the mean passes and falls back to the PIN with
// ReasonLivenessFailed when it does not. It reports whether the session was decided.
func (m *Machine) faceReadyLocked(who Identity, why string) bool {
	s := m.sess
	s.ready, s.readyWhy = &who, why
	if m.cfg.Liveness != LivenessEnforce {
		if m.cfg.Liveness == LivenessLog {
			s.liveResult = s.livenessVerdict(m.cfg)
			m.log.Info("liveness (log only)", "session", s.id, "result", s.liveResult, "mean", s.livenessMean(), "frames", len(s.scores))
		}
		m.faceDecisionLocked(who, "", why)
		return true
	}
	switch v := s.livenessVerdict(m.cfg); v {
	case LivenessPassed:
		s.liveResult = v
		m.faceDecisionLocked(who, "", fmt.Sprintf("%s; liveness %.2f over %d frames", why, s.livenessMean(), len(s.scores)))
		return true
	case LivenessFailed:
		m.livenessRefusedLocked(v, ReasonLivenessFailed)
		return true
	}
	return false
}

// livenessRefusedLocked ends Recognizing for a face whose liveness did not pass: the face counts
// for nothing (it is not the face factor of face+PIN), the evidence frame is kept, and the session
// falls back to the PIN (in global face+PIN mode it is denied), with reason.
func (m *Machine) livenessRefusedLocked(result, reason string) {
	s := m.sess
	s.liveResult = result
	s.keep = true
	m.log.Warn("face matched but liveness did not pass", "session", s.id, "user", s.ready.ID,
		"result", result, "mean", s.livenessMean(), "frames", len(s.scores), "repeats", s.repeats)
	m.noFaceDecisionLocked(reason)
}
