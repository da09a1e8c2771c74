package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"time"

	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/transport/api"
)

// Limits of enrollment requests.
const (
	// maxPhotos is the most photos one POST /v1/users/{id}/faces takes.
	maxPhotos = 10
	// multipartBodies is how many MaxBody a multipart enrollment body may hold in all.
	multipartBodies = 4
	// Door enrollment: frames kept (default and bounds) and timeout (default and bounds).
	defaultEnrollFrames = 5
	maxEnrollFrames     = 10
	defaultEnrollTime   = 60 * time.Second
	maxEnrollTime       = 10 * time.Minute
)

var errBadForce = httpErr(http.StatusBadRequest, api.CodeBadQuery, "force must be true or false", nil)

// parseForce reads the ?force= query flag.
func parseForce(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("force")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errBadForce
	}
	return b, nil
}

// parsePhotos splits a multipart/form-data body into its photos: every part is one photo
// (image/jpeg, image/png or text/plain base64, whatever its field name), at most maxPhotos, each
// at most maxBody bytes (4/3 of it for base64).
func parsePhotos(body []byte, boundary string, maxBody int64) ([]Photo, error) {
	if boundary == "" {
		return nil, httpErr(http.StatusBadRequest, api.CodeBadRequest, "multipart body without a boundary", nil)
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var photos []Photo
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, httpErr(http.StatusBadRequest, api.CodeBadRequest, "could not read the multipart body", err)
		}
		if len(photos) == maxPhotos {
			return nil, httpErr(http.StatusRequestEntityTooLarge, api.CodeTooLarge, fmt.Sprintf("at most %d photos per request", maxPhotos), nil)
		}
		ct, err := imageContentType(p.Header.Get("Content-Type"), false)
		if err != nil {
			return nil, httpErr(http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType,
				fmt.Sprintf("photo %d: each part must be image/jpeg, image/png or text/plain (base64)", len(photos)+1), nil)
		}
		limit := imageLimit(maxBody, ct)
		b, err := io.ReadAll(io.LimitReader(p, limit+1))
		if err != nil {
			return nil, httpErr(http.StatusBadRequest, api.CodeBadRequest, "could not read the multipart body", err)
		}
		if int64(len(b)) > limit {
			return nil, httpErr(http.StatusRequestEntityTooLarge, api.CodeTooLarge, fmt.Sprintf("photo %d is too large", len(photos)+1), nil)
		}
		photos = append(photos, Photo{Body: b, ContentType: ct})
	}
	if len(photos) == 0 {
		return nil, httpErr(http.StatusBadRequest, api.CodeBadImage, "the multipart body holds no photo", nil)
	}
	return photos, nil
}

// postFace enrolls one photo (an image body) or several (multipart/form-data, one photo per
// part) for a user, all or none. ?force=true stores templates nearer another user too.
func (s *Server) postFace(w http.ResponseWriter, r *http.Request) error {
	if s.stopping.Load() {
		return errStopping
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	force, err := parseForce(r)
	if err != nil {
		return err
	}
	ct := r.Header.Get("Content-Type")
	var photos []Photo
	if mt, params, _ := mime.ParseMediaType(ct); mt == "multipart/form-data" {
		body, release, err := s.acquireBody(w, r, multipartBodies*s.o.MaxBody)
		if err != nil {
			return err
		}
		defer release()
		if photos, err = parsePhotos(body, params["boundary"], s.o.MaxBody); err != nil {
			return err
		}
	} else {
		req, err := parseFrameRequest("", ct, false, s.o.MaxBody)
		if err != nil {
			return err
		}
		body, release, err := s.acquireBody(w, r, req.Limit)
		if err != nil {
			return err
		}
		defer release()
		photos = []Photo{{Body: body, ContentType: req.ContentType}}
	}
	res, err := s.o.Users.AddFaces(r.Context(), id, photos, force)
	if err != nil {
		return faceError(err, len(photos))
	}
	if res.Warnings == nil {
		res.Warnings = []string{}
	}
	s.log.Info("faces enrolled", "user", id, "templates", len(res.Templates), "warnings", len(res.Warnings), "force", force)
	writeJSON(w, http.StatusCreated, res)
	return nil
}

// faceError maps an error of Users.AddFaces to its answer, naming the photo when the request
// had several.
func faceError(err error, photos int) error {
	if errors.Is(err, ErrCloserToOtherUser) {
		return httpErr(http.StatusConflict, api.CodeCloserToOtherUser,
			err.Error()+"; repeat with ?force=true to store it anyway", err)
	}
	out := storeError(err)
	var he *HTTPError
	var pe *PhotoError
	if photos > 1 && errors.As(out, &he) && errors.As(err, &pe) {
		c := *he
		c.Msg = fmt.Sprintf("photo %d: %s", pe.Index, he.Msg)
		return &c
	}
	return out
}

func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ts, err := s.o.Users.Templates(id)
	if err != nil {
		return storeError(err)
	}
	if ts == nil {
		ts = []api.Template{}
	}
	writeJSON(w, http.StatusOK, api.TemplateList{Templates: ts})
	return nil
}

func (s *Server) deleteTemplate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	tid := r.PathValue("tid")
	if !validID(tid) {
		return errBadID
	}
	if err := s.o.Users.DeleteTemplate(id, tid); err != nil {
		return storeError(err)
	}
	s.log.Info("template deleted", "user", id, "template", tid)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

var errNoEnroller = httpErr(http.StatusServiceUnavailable, api.CodeInternal, "enrollment at the door is not available", nil)

// enrollmentError maps an error of the Enroller to its answer.
func enrollmentError(err error) error {
	switch {
	case errors.Is(err, ErrEnrollmentActive):
		return httpErr(http.StatusConflict, api.CodeEnrollmentActive, "an enrollment at the door is already running; cancel it first (DELETE /v1/enrollment)", err)
	case errors.Is(err, ErrNoEnrollment):
		return httpErr(http.StatusNotFound, api.CodeNoEnrollment, "no enrollment at the door is running", err)
	}
	return storeError(err)
}

// postEnrollment puts the door into an enrollment session for a user.
func (s *Server) postEnrollment(w http.ResponseWriter, r *http.Request) error {
	if s.o.Enroller == nil {
		return errNoEnroller
	}
	var req api.EnrollmentRequest
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	if !validID(req.User) {
		return errBadID
	}
	if req.Frames == 0 {
		req.Frames = defaultEnrollFrames
	}
	if req.Frames < 1 || req.Frames > maxEnrollFrames {
		return httpErr(http.StatusBadRequest, api.CodeBadJSON, fmt.Sprintf("frames must be 1 to %d", maxEnrollFrames), nil)
	}
	if req.TimeoutS == 0 {
		req.TimeoutS = int(defaultEnrollTime / time.Second)
	}
	if req.TimeoutS < 1 || time.Duration(req.TimeoutS)*time.Second > maxEnrollTime {
		return httpErr(http.StatusBadRequest, api.CodeBadJSON, fmt.Sprintf("timeout_s must be 1 to %d", int(maxEnrollTime/time.Second)), nil)
	}
	// Frames go to the enrollment from now on: a door session in progress would be left
	// without them, so the door must be idle.
	if snap := s.o.Door.Snapshot(); snap.State != machine.Idle {
		return &HTTPError{Status: http.StatusConflict, Code: api.CodeBusy, Msg: "the door is in a session; retry when it is idle",
			State: string(snap.State), RetryAfter: time.Second}
	}
	e, err := s.o.Enroller.Start(req)
	if err != nil {
		return enrollmentError(err)
	}
	s.log.Info("enrollment at the door started", "user", e.User, "frames", e.Want, "timeout_s", req.TimeoutS)
	writeJSON(w, http.StatusCreated, e)
	return nil
}

func (s *Server) getEnrollment(w http.ResponseWriter, _ *http.Request) error {
	if s.o.Enroller == nil {
		return errNoEnroller
	}
	writeJSON(w, http.StatusOK, s.o.Enroller.Status())
	return nil
}

func (s *Server) deleteEnrollment(w http.ResponseWriter, _ *http.Request) error {
	if s.o.Enroller == nil {
		return errNoEnroller
	}
	e, err := s.o.Enroller.Cancel()
	if err != nil {
		return enrollmentError(err)
	}
	s.log.Info("enrollment at the door cancelled", "user", e.User)
	writeJSON(w, http.StatusOK, e)
	return nil
}

// enrollFrame gives a decoded frame to the active enrollment, if any, and answers it; handled
// is false when no enrollment is active (the frame goes to the door machine).
func (s *Server) enrollFrame(w http.ResponseWriter, r *http.Request, f Frame) (handled bool, err error) {
	if s.o.Enroller == nil {
		return false, nil
	}
	t0 := time.Now()
	res, handled, err := s.o.Enroller.Offer(r.Context(), f)
	if !handled {
		return false, nil
	}
	s.metrics.stage.WithLabelValues("analyze").Observe(time.Since(t0).Seconds())
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return true, httpErr(http.StatusServiceUnavailable, api.CodeAnalysisCancelled, "the frame was not analysed", err)
		}
		return true, httpErr(http.StatusInternalServerError, api.CodeAnalysisFailed, "the frame could not be analysed", err)
	}
	writeJSON(w, http.StatusOK, api.FrameResponse{State: api.StateEnrolling,
		Frame: api.Frame{Quality: res.Quality}, Enrollment: &res})
	return true, nil
}

// PublishEnrollment pushes an enrollment's progress to every event stream as
// "event: enrollment". It never blocks.
func (s *Server) PublishEnrollment(e api.EnrollmentEvent) {
	if e.At == "" {
		e.At = s.o.Clock.Now().UTC().Format(time.RFC3339Nano)
	}
	s.broker.publish(api.EventEnrollment, e)
}
