package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/transport/client"
)

// API is the API client (transport/client) bound to a test: a request that cannot be sent fails
// the test; answers, errors included, are returned for the test to judge.
type API struct {
	T testing.TB
	C *client.Client
}

// NewAPI is a client of the daemon at base with token, bound to t.
func NewAPI(t testing.TB, base, token string) API {
	return API{T: t, C: client.New(base, token, nil)}
}

// Client is a client of the daemon with token, bound to t.
func (d *Daemon) Client(t testing.TB, token string) API { return NewAPI(t, d.URL(""), token) }

// Do sends one request and returns the status and the body; header holds name, value pairs.
func (a API) Do(method, path, contentType string, body []byte, header ...string) (int, []byte) {
	a.T.Helper()
	h := map[string]string{}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	code, out, err := a.C.Raw(context.Background(), method, path, contentType, body, h)
	if err != nil {
		a.T.Fatalf("%s %s: %v", method, path, err)
	}
	return code, out
}

// JSON sends in as JSON (nil for no body), fails the test unless the status is want, and decodes
// the answer into out (when not nil).
func (a API) JSON(method, path string, in any, want int, out any) {
	a.T.Helper()
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	code, got := a.Do(method, path, "application/json", body)
	if code != want {
		a.T.Fatalf("%s %s = %d, want %d: %s", method, path, code, want, got)
	}
	if out != nil {
		if err := json.Unmarshal(got, out); err != nil {
			a.T.Fatalf("%s %s: %v: %s", method, path, err, got)
		}
	}
}

// PostFrame posts a JPEG frame for session ("" for a new one) and returns the status and the
// answer (empty for an error answer: FrameError gives its code).
func (a API) PostFrame(frame []byte, session string) (int, api.FrameResponse) {
	a.T.Helper()
	r, err := a.C.PostFrame(context.Background(), session, "image/jpeg", frame)
	return a.status(err), r
}

// FrameError posts a frame that must be refused and returns the status and the error code.
func (a API) FrameError(frame []byte, session string) (int, string) {
	a.T.Helper()
	_, err := a.C.PostFrame(context.Background(), session, "image/jpeg", frame)
	return a.status(err), client.Code(err)
}

// EnterPIN enters a PIN and returns the status and the answer.
func (a API) EnterPIN(session, pin string) (int, api.PinResponse) {
	a.T.Helper()
	r, err := a.C.EnterPIN(context.Background(), session, pin)
	return a.status(err), r
}

// status is the HTTP status of a call's outcome: 200 without error, the answer's status for an
// API error; any other error fails the test.
func (a API) status(err error) int {
	a.T.Helper()
	if err == nil {
		return http.StatusOK
	}
	var ce *client.Error
	if !errors.As(err, &ce) {
		a.T.Fatal(err)
	}
	return ce.Status
}

// State returns the door's state.
func (a API) State() api.State {
	a.T.Helper()
	s, err := a.C.State(context.Background())
	if err != nil {
		a.T.Fatalf("state: %v", err)
	}
	return s
}

// WaitState polls the state until it is want, for up to within.
func (a API) WaitState(want string, within time.Duration) api.State {
	a.T.Helper()
	deadline := time.Now().Add(within)
	for {
		s := a.State()
		if s.State == want {
			return s
		}
		if time.Now().After(deadline) {
			a.T.Fatalf("state %s not reached within %v (now %+v)", want, within, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Events follows the event stream until ctx ends.
func (a API) Events(ctx context.Context) <-chan client.Event {
	a.T.Helper()
	ch, err := a.C.Events(ctx)
	if err != nil {
		a.T.Fatalf("events: %v", err)
	}
	return ch
}

// CreateUser creates a user and returns its id.
func (a API) CreateUser(name, pin string) string {
	a.T.Helper()
	u, err := a.C.CreateUser(context.Background(), name, pin)
	if err != nil {
		a.T.Fatalf("create user %q: %v", name, err)
	}
	return u.ID
}
