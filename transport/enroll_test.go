package transport

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport/api"
)

// fakeEnroller is an Enroller that records what it was asked; active says whether Offer takes
// frames, startErr is what Start answers.
type fakeEnroller struct {
	mu       sync.Mutex
	active   bool
	startErr error
	started  []api.EnrollmentRequest
	offered  int
}

func (f *fakeEnroller) Start(req api.EnrollmentRequest) (api.Enrollment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return api.Enrollment{}, f.startErr
	}
	f.started = append(f.started, req)
	f.active = true
	return api.Enrollment{Active: true, User: req.User, Want: req.Frames}, nil
}

func (f *fakeEnroller) Cancel() (api.Enrollment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.active {
		return api.Enrollment{}, ErrNoEnrollment
	}
	f.active = false
	return api.Enrollment{Outcome: api.EnrollmentCancelled}, nil
}

func (f *fakeEnroller) Status() api.Enrollment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return api.Enrollment{Active: f.active}
}

func (f *fakeEnroller) Offer(_ context.Context, fr Frame) (api.EnrollmentFrame, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.active {
		return api.EnrollmentFrame{}, false, nil
	}
	f.offered++
	return api.EnrollmentFrame{User: "u1", Have: f.offered, Want: 5, Kept: true, Quality: "ok"}, true, nil
}

// TestEnrollmentRoutes: validation and answers of /v1/enrollment, and frames going to an active
// enrollment instead of the door machine.
func TestEnrollmentRoutes(t *testing.T) {
	tests := []struct {
		name     string
		startErr error
		busy     bool // a door session is open first
		body     string
		code     int
		errCode  string
		want     *api.EnrollmentRequest
	}{
		{name: "defaults", body: `{"user":"u1"}`, code: 201, want: &api.EnrollmentRequest{User: "u1", Frames: 5, TimeoutS: 60}},
		{name: "explicit", body: `{"user":"u1","frames":10,"timeout_s":600}`, code: 201, want: &api.EnrollmentRequest{User: "u1", Frames: 10, TimeoutS: 600}},
		{name: "too many frames", body: `{"user":"u1","frames":11}`, code: 400, errCode: api.CodeBadJSON},
		{name: "negative frames", body: `{"user":"u1","frames":-1}`, code: 400, errCode: api.CodeBadJSON},
		{name: "timeout too long", body: `{"user":"u1","timeout_s":601}`, code: 400, errCode: api.CodeBadJSON},
		{name: "bad user id", body: `{"user":"a/b"}`, code: 400, errCode: api.CodeBadID},
		{name: "unknown field", body: `{"user":"u1","photos":3}`, code: 400, errCode: api.CodeBadJSON},
		{name: "already running", startErr: fmt.Errorf("x: %w", ErrEnrollmentActive), body: `{"user":"u1"}`, code: 409, errCode: api.CodeEnrollmentActive},
		{name: "unknown user", startErr: fmt.Errorf("x: %w", store.ErrNotFound), body: `{"user":"u1"}`, code: 404, errCode: api.CodeNotFound},
		{name: "door in a session", busy: true, body: `{"user":"u1"}`, code: 409, errCode: api.CodeBusy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fe := &fakeEnroller{startErr: tc.startErr}
			e := newEnv(t, func(_ *machine.Config, o *Options) { o.Enroller = fe })
			if tc.busy {
				if r := e.do(req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/png", body: img(t, wAlice)}); r.code != 200 {
					t.Fatalf("frame: %d %s", r.code, r.raw)
				}
			}
			r := e.do(req{method: "POST", path: "/v1/enrollment", token: adminToken, ct: "application/json", body: []byte(tc.body)})
			if r.code != tc.code || (tc.errCode != "" && r.str("error") != tc.errCode) {
				t.Fatalf("POST /v1/enrollment = %d %s, want %d %s", r.code, r.raw, tc.code, tc.errCode)
			}
			if tc.want != nil && (len(fe.started) != 1 || fe.started[0] != *tc.want) {
				t.Fatalf("Start got %+v, want %+v", fe.started, *tc.want)
			}
			if tc.want == nil && len(fe.started) != 0 {
				t.Fatalf("Start called on a refused request: %+v", fe.started)
			}
		})
	}

	t.Run("frames go to the enrollment, then to the door again", func(t *testing.T) {
		fe := &fakeEnroller{}
		e := newEnv(t, func(_ *machine.Config, o *Options) { o.Enroller = fe })
		if r := e.do(req{method: "DELETE", path: "/v1/enrollment", token: adminToken}); r.code != 404 || r.str("error") != api.CodeNoEnrollment {
			t.Fatalf("cancel with none: %d %s", r.code, r.raw)
		}
		if r := e.do(req{method: "POST", path: "/v1/enrollment", token: adminToken, ct: "application/json", body: []byte(`{"user":"u1"}`)}); r.code != 201 {
			t.Fatalf("start: %d %s", r.code, r.raw)
		}
		r := e.do(req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/png", body: img(t, wAlice)})
		if r.code != 200 || r.str("state") != api.StateEnrolling || r.str("session") != "" || r.js["enrollment"] == nil {
			t.Fatalf("frame while enrolling: %d %s", r.code, r.raw)
		}
		if s := e.m.Snapshot(); s.State != machine.Idle || fe.offered != 1 {
			t.Fatalf("the machine saw the frame: %+v (offered %d)", s, fe.offered)
		}
		if r := e.do(req{method: "GET", path: "/v1/enrollment", token: adminToken}); r.code != 200 || r.js["active"] != true {
			t.Fatalf("status: %d %s", r.code, r.raw)
		}
		if r := e.do(req{method: "DELETE", path: "/v1/enrollment", token: adminToken}); r.code != http.StatusOK || r.str("outcome") != api.EnrollmentCancelled {
			t.Fatalf("cancel: %d %s", r.code, r.raw)
		}
		r = e.do(req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/png", body: img(t, wAlice)})
		if r.code != 200 || r.str("state") == api.StateEnrolling || r.str("session") == "" {
			t.Fatalf("frame after the cancel: %d %s", r.code, r.raw)
		}
	})
}
