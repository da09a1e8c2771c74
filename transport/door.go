package transport

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/transport/api"
)

func decisionOf(d *machine.Decision) *api.Decision {
	if d == nil {
		return nil
	}
	return &api.Decision{Outcome: string(d.Outcome), Method: string(d.Method), User: d.User, Name: d.Name}
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// doorError maps an error of the machine to its answer.
func (s *Server) doorError(err error) error {
	var be *machine.BusyError
	switch {
	case errors.As(err, &be):
		return &HTTPError{Status: http.StatusConflict, Code: api.CodeBusy, Msg: "the door is busy; retry later",
			Err: err, RetryAfter: be.RetryAfter, State: string(be.State)}
	case errors.Is(err, machine.ErrStaleSession):
		return &HTTPError{Status: http.StatusGone, Code: api.CodeStaleSession, Msg: "that session is over; start a new one",
			Err: err, State: string(s.o.Door.Snapshot().State)}
	case errors.Is(err, machine.ErrNotAwaitingPIN):
		return &HTTPError{Status: http.StatusConflict, Code: api.CodeNotAwaitingPIN, Msg: "the session is not waiting for a PIN",
			Err: err, State: string(s.o.Door.Snapshot().State)}
	case errors.Is(err, machine.ErrLockdown):
		return &HTTPError{Status: http.StatusLocked, Code: api.CodeLockdown,
			Msg: "the door is in lockdown; only the exit button opens it until it is released", Err: err,
			State: string(s.o.Door.Snapshot().State)}
	case errors.Is(err, machine.ErrClosed):
		return httpErr(http.StatusServiceUnavailable, api.CodeShuttingDown, "the door service is shutting down", err)
	case errors.Is(err, machine.ErrBeginFailed), errors.Is(err, machine.ErrAuditFailed):
		return httpErr(http.StatusServiceUnavailable, api.CodeAuditUnavailable, "the audit log cannot be written; the door stays locked", err)
	case errors.Is(err, machine.ErrDirectory):
		return httpErr(http.StatusServiceUnavailable, api.CodeDirectoryUnavailable, "users cannot be looked up right now; try again", err)
	}
	return err
}

// errStopping answers frames after StopFrames.
var errStopping = httpErr(http.StatusServiceUnavailable, api.CodeShuttingDown, "the door service is shutting down", ErrShuttingDown)

// acquire takes a slot of the bounded frame queue, or answers 429 with Retry-After.
func (s *Server) acquire() (func(), error) {
	select {
	case s.sem <- struct{}{}:
		s.metrics.queue.Inc()
		return func() {
			<-s.sem
			s.metrics.queue.Dec()
		}, nil
	default:
		return nil, &HTTPError{Status: http.StatusTooManyRequests, Code: api.CodeQueueFull,
			Msg: "too many frames in analysis; retry shortly", RetryAfter: time.Second}
	}
}

// acquireBody reads the image body within limit (under BodyTimeout, holding one of ReadSlots
// reading slots, so at most ReadSlots bodies are read at once), and only then takes a slot of the
// bounded analysis queue: a slow upload holds a reading slot, never the analysis queue. When err
// is nil, the caller calls release once it is done with the body.
func (s *Server) acquireBody(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, release func(), err error) {
	select {
	case s.readers <- struct{}{}:
	default:
		return nil, nil, &HTTPError{Status: http.StatusTooManyRequests, Code: api.CodeQueueFull,
			Msg: "too many uploads in progress; retry shortly", RetryAfter: time.Second}
	}
	body, err = s.readBody(w, r, limit)
	<-s.readers
	if err != nil {
		return nil, nil, err
	}
	release, err = s.acquire()
	if err != nil {
		return nil, nil, err
	}
	return body, release, nil
}

// busyNow answers 409 at once, before the body is read, while the door is Unlocking or in Cooldown.
func (s *Server) busyNow() error {
	snap := s.o.Door.Snapshot()
	if snap.State == machine.Unlocking || snap.State == machine.Cooldown {
		return s.doorError(&machine.BusyError{State: snap.State, RetryAfter: snap.RetryAfter})
	}
	return nil
}

func (s *Server) postFrames(w http.ResponseWriter, r *http.Request) error {
	return s.frame(w, r, false)
}

// postImage is the prototype app's endpoint: base64 body, same answer as /v1/frames.
func (s *Server) postImage(w http.ResponseWriter, r *http.Request) error { return s.frame(w, r, true) }

// frame runs one frame: validate, queue, read, decode, admit, analyse, submit, answer.
func (s *Server) frame(w http.ResponseWriter, r *http.Request, compat bool) error {
	start := time.Now()
	if s.stopping.Load() {
		return errStopping
	}
	req, err := parseFrameRequest(r.Header.Get(SessionHeader), r.Header.Get("Content-Type"), compat, s.o.MaxBody)
	if err != nil {
		return err
	}
	setSession(r, req.Session)
	// Per token and client address: a stolen tablet elsewhere cannot crowd out the real one.
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ok, wait := s.frameRate.allow(string(roleOf(r)) + " " + host); !ok {
		return &HTTPError{Status: http.StatusTooManyRequests, Code: api.CodeRateLimited,
			Msg: "too many frames from this tablet; slow down", RetryAfter: wait}
	}
	if err := s.busyNow(); err != nil {
		return err
	}
	body, release, err := s.acquireBody(w, r, req.Limit)
	if err != nil {
		return err
	}
	defer release()
	t0 := time.Now()
	f, err := s.o.Frames.Decode(body, req.ContentType)
	s.metrics.stage.WithLabelValues("decode").Observe(time.Since(t0).Seconds())
	if err != nil {
		return inputError(err)
	}
	defer f.Close()
	if handled, err := s.enrollFrame(w, r, f); handled || err != nil {
		return err
	}
	t, err := s.o.Door.Admit(req.Session)
	if err != nil {
		return s.doorError(err)
	}
	setSession(r, t.Session)
	t0 = time.Now()
	res, err := f.Analyze(r.Context(), t.Session)
	s.metrics.stage.WithLabelValues("analyze").Observe(time.Since(t0).Seconds())
	if err != nil {
		s.o.Door.Abandon(t)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return httpErr(http.StatusServiceUnavailable, api.CodeAnalysisCancelled, "the frame was not analysed", err)
		}
		return httpErr(http.StatusInternalServerError, api.CodeAnalysisFailed, "the frame could not be analysed", err)
	}
	s.metrics.frames.WithLabelValues(res.Quality).Inc()
	t0 = time.Now()
	st, err := s.o.Door.Submit(t, res)
	s.metrics.stage.WithLabelValues("submit").Observe(time.Since(t0).Seconds())
	if err != nil {
		return s.doorError(err)
	}
	out := api.FrameResponse{
		Session:  st.Session,
		State:    string(st.State),
		Frame:    api.Frame{Seq: st.Seq, Quality: st.Quality},
		Decision: decisionOf(st.Decision),
	}
	if m := st.Match; m != nil {
		out.Frame.Match = &api.Match{User: m.User, Name: m.Name, Distance: m.Distance, Margin: m.Margin}
	}
	w.Header().Set(SessionHeader, st.Session)
	writeJSON(w, http.StatusOK, out)
	s.metrics.stage.WithLabelValues("total").Observe(time.Since(start).Seconds())
	return nil
}

// postPIN enters a PIN for the session in PinFallback.
func (s *Server) postPIN(w http.ResponseWriter, r *http.Request) error {
	if err := checkJSONType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	b, err := s.readBody(w, r, s.o.MaxJSON)
	if err != nil {
		return err
	}
	req, err := parsePinRequest(b)
	if err != nil {
		return err
	}
	setSession(r, req.Session)
	res, err := s.o.Door.EnterPIN(req.Session, req.PIN)
	if err != nil {
		return s.doorError(err)
	}
	out := api.PinResponse{
		Outcome:      string(res.Outcome),
		State:        string(res.State),
		AttemptsLeft: res.AttemptsLeft,
		RetryAfterS:  ceilSeconds(res.RetryAfter),
		Decision:     decisionOf(res.Decision),
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteSession cancels the session named by X-Door-Session or ?session= (or the current one).
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	if ok, wait := s.cancels.allow(string(roleOf(r))); !ok {
		return &HTTPError{Status: http.StatusTooManyRequests, Code: api.CodeRateLimited,
			Msg: "too many cancelled sessions; retry later", RetryAfter: wait}
	}
	id := r.Header.Get(SessionHeader)
	if id == "" {
		id = r.URL.Query().Get("session")
	}
	if id != "" && !validID(id) {
		return errBadSession
	}
	setSession(r, id)
	if err := s.o.Door.Cancel(id); err != nil {
		return s.doorError(err)
	}
	writeJSON(w, http.StatusOK, s.state())
	return nil
}

// getState answers the machine's state and the door hardware's.
func (s *Server) getState(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, s.state())
	return nil
}

// state builds the state answer.
func (s *Server) state() api.State {
	snap := s.o.Door.Snapshot()
	out := api.State{
		State:        string(snap.State),
		Since:        snap.Since.UTC().Format(time.RFC3339Nano),
		RetryAfterMS: snap.RetryAfter.Milliseconds(),
		Relay:        "locked",
		Door:         "unknown",
	}
	if snap.Session != "" {
		id := snap.Session
		out.Session = &id
	}
	if s.o.Board != nil {
		out.Relay, out.RelayFault, out.Door = s.o.Board.Relay(), s.o.Board.RelayFault(), s.o.Board.Door()
		out.Light = s.o.Board.Light()
	} else if snap.State == machine.Unlocking {
		out.Relay = "unlocked"
	}
	return out
}

// postSave is the prototype app's "save the frame when the PIN fails": the base64 body becomes
// the evidence frame of the session in PinFallback (X-Door-Session, or the current session).
func (s *Server) postSave(w http.ResponseWriter, r *http.Request) error {
	if s.stopping.Load() {
		return errStopping
	}
	req, err := parseFrameRequest(r.Header.Get(SessionHeader), r.Header.Get("Content-Type"), true, s.o.MaxBody)
	if err != nil {
		return err
	}
	session := req.Session
	if session == "" {
		session = s.o.Door.Snapshot().Session
	}
	if session == "" {
		return s.doorError(machine.ErrNotAwaitingPIN)
	}
	setSession(r, session)
	// The body (the prototype app sends the frame) is not read: evidence comes only from frames
	// the daemon analysed in the session, so a client cannot plant or swap one.
	if r.ContentLength > req.Limit {
		return errTooLarge
	}
	if err := s.o.Door.KeepEvidence(session); err != nil {
		return s.doorError(err)
	}
	writeJSON(w, http.StatusOK, api.SaveResponse{Saved: true, Session: session, State: string(s.o.Door.Snapshot().State)})
	return nil
}
