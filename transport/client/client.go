// Package client is the one small Go client of doorface's HTTP API, on the wire types of
// transport/api. `doorface replay`, `make bench` and the tests use it; nothing else speaks the
// API by hand.
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/doorface/doorface/transport/api"
)

// maxAnswer bounds the JSON answers the client reads.
const maxAnswer = 1 << 20

// Client calls one daemon with one token. Its methods are safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client of the daemon at base (such as "http://127.0.0.1:8080") with a bearer
// token ("" for none). A nil hc means a client with a 30 s timeout; event streams never time out.
func New(base, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: hc}
}

// WithToken returns a client of the same daemon with another token.
func (c *Client) WithToken(token string) *Client {
	return &Client{base: c.base, token: token, http: c.http}
}

// Error is an error answer: Status is the HTTP status, Body the raw answer and Answer its decoded
// code and message.
type Error struct {
	Status     int
	Answer     api.Error
	RetryAfter time.Duration
	Body       []byte
}

func (e *Error) Error() string {
	if e.Answer.Error != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Answer.Error, e.Answer.Message)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, bytes.TrimSpace(e.Body))
}

// Code returns the API error code of err (an *Error), or "" when err is not an API answer.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Answer.Error
	}
	return ""
}

// Status returns the HTTP status of err (an *Error), or 0 when err is not an API answer.
func Status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Raw sends one request and returns the status and the body (up to 1 MiB), whatever the status.
// header adds request headers. It is for callers that judge the answer themselves (tests of
// hostile input); the typed methods below are for everyone else.
func (c *Client) Raw(ctx context.Context, method, path, contentType string, body []byte, header map[string]string) (int, []byte, error) {
	resp, err := c.send(ctx, method, path, contentType, body, header)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, data, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return resp.StatusCode, data, nil
}

// Send sends one request and returns the answer as it came (the caller closes its body): for
// callers that judge status, headers and body themselves, such as the server's own tests.
func (c *Client) Send(ctx context.Context, method, path, contentType string, body []byte, header map[string]string) (*http.Response, error) {
	return c.send(ctx, method, path, contentType, body, header)
}

func (c *Client) send(ctx context.Context, method, path, contentType string, body []byte, header map[string]string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp, nil
}

// call sends a request and decodes a 2xx JSON answer into out (when not nil); any other status is
// an *Error.
func (c *Client) call(ctx context.Context, method, path, contentType string, body []byte, header map[string]string, out any) error {
	resp, err := c.send(ctx, method, path, contentType, body, header)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Status: resp.StatusCode, Body: data}
		_ = json.Unmarshal(data, &e.Answer)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

func (c *Client) jsonCall(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		body, ct = b, "application/json"
	}
	return c.call(ctx, method, path, ct, body, nil, out)
}

// Health calls GET /healthz.
func (c *Client) Health(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/healthz", "", nil, nil, nil)
}

// PostFrame posts one camera frame (contentType image/jpeg, image/png or text/plain for base64)
// for session ("" starts or joins the current one).
func (c *Client) PostFrame(ctx context.Context, session, contentType string, frame []byte) (api.FrameResponse, error) {
	var h map[string]string
	if session != "" {
		h = map[string]string{api.SessionHeader: session}
	}
	var out api.FrameResponse
	err := c.call(ctx, http.MethodPost, "/v1/frames", contentType, frame, h, &out)
	return out, err
}

// EnterPIN enters a PIN for the session in PinFallback.
func (c *Client) EnterPIN(ctx context.Context, session, pin string) (api.PinResponse, error) {
	var out api.PinResponse
	err := c.jsonCall(ctx, http.MethodPost, "/v1/pin", api.PinRequest{Session: session, PIN: pin}, &out)
	return out, err
}

// State returns the door's state.
func (c *Client) State(ctx context.Context) (api.State, error) {
	var out api.State
	err := c.call(ctx, http.MethodGet, "/v1/state", "", nil, nil, &out)
	return out, err
}

// CancelSession cancels the session ("" for the current one) and returns the state after it.
func (c *Client) CancelSession(ctx context.Context, session string) (api.State, error) {
	var h map[string]string
	if session != "" {
		h = map[string]string{api.SessionHeader: session}
	}
	var out api.State
	err := c.call(ctx, http.MethodDelete, "/v1/session", "", nil, h, &out)
	return out, err
}

// CreateUser creates a user with an optional PIN.
func (c *Client) CreateUser(ctx context.Context, name, pin string) (api.User, error) {
	var out api.User
	err := c.jsonCall(ctx, http.MethodPost, "/v1/users", api.CreateUserRequest{Name: name, PIN: pin}, &out)
	return out, err
}

// Users lists the enrolled users.
func (c *Client) Users(ctx context.Context) ([]api.User, error) {
	var out api.UserList
	err := c.call(ctx, http.MethodGet, "/v1/users", "", nil, nil, &out)
	return out.Users, err
}

// User returns one user.
func (c *Client) User(ctx context.Context, id string) (api.User, error) {
	var out api.User
	err := c.call(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(id), "", nil, nil, &out)
	return out, err
}

// DeleteUser deletes a user and their templates.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/v1/users/"+url.PathEscape(id), "", nil, nil, nil)
}

// SetPIN sets a user's PIN ("" removes it).
func (c *Client) SetPIN(ctx context.Context, id, pin string) error {
	return c.jsonCall(ctx, http.MethodPut, "/v1/users/"+url.PathEscape(id)+"/pin", api.SetPINRequest{PIN: pin}, nil)
}

// AddFace enrolls one photo for a user.
func (c *Client) AddFace(ctx context.Context, id, contentType string, photo []byte) (api.FaceResponse, error) {
	var out api.FaceResponse
	err := c.call(ctx, http.MethodPost, "/v1/users/"+url.PathEscape(id)+"/faces", contentType, photo, nil, &out)
	return out, err
}

// Audit streams the attempt history as format ("jsonl" or "csv") into w and returns the record
// count the server reports.
func (c *Client) Audit(ctx context.Context, f api.AuditFilter, format string, w io.Writer) (int, error) {
	q := url.Values{}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	if f.Outcome != "" {
		q.Set("outcome", f.Outcome)
	}
	if f.User != "" {
		q.Set("user", f.User)
	}
	if format != "" {
		q.Set("format", format)
	}
	path := "/v1/audit?" + q.Encode()
	resp, err := c.send(ctx, http.MethodGet, path, "", nil, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		e := &Error{Status: resp.StatusCode, Body: data}
		_ = json.Unmarshal(data, &e.Answer)
		return 0, e
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return 0, fmt.Errorf("GET %s: %w", path, err)
	}
	n, err := strconv.Atoi(resp.Trailer.Get("X-Audit-Records"))
	if err != nil {
		return 0, fmt.Errorf("GET %s: no record count trailer: the stream was cut", path)
	}
	return n, nil
}

// Attempt returns one audit record by session id.
func (c *Client) Attempt(ctx context.Context, id string) (api.Attempt, error) {
	var out api.Attempt
	err := c.call(ctx, http.MethodGet, "/v1/audit/"+url.PathEscape(id), "", nil, nil, &out)
	return out, err
}

// AttemptFrame returns the evidence JPEG of an audit record.
func (c *Client) AttemptFrame(ctx context.Context, id string) ([]byte, error) {
	status, data, err := c.Raw(ctx, http.MethodGet, "/v1/audit/"+url.PathEscape(id)+"/frame", "", nil, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		e := &Error{Status: status, Body: data}
		_ = json.Unmarshal(data, &e.Answer)
		return nil, e
	}
	return data, nil
}

// Verify checks the audit chain.
func (c *Client) Verify(ctx context.Context) (api.VerifyReport, error) {
	var out api.VerifyReport
	err := c.call(ctx, http.MethodGet, "/v1/audit/verify", "", nil, nil, &out)
	return out, err
}

// Comment is the Name of an Event that is a comment line of the stream, such as the server's
// ": ping" heartbeat; its Data is the comment's text. A client that sees neither events nor
// comments for a few heartbeat intervals knows the link is down.
const Comment = ":"

// AuditHead returns the audit chain's head, to keep off the device.
func (c *Client) AuditHead(ctx context.Context) (api.AuditHead, error) {
	var out api.AuditHead
	err := c.call(ctx, http.MethodGet, "/v1/audit/head", "", nil, nil, &out)
	return out, err
}

// Lockout returns the PIN lockout.
func (c *Client) Lockout(ctx context.Context) (api.Lockout, error) {
	var out api.Lockout
	err := c.call(ctx, http.MethodGet, "/v1/lockout", "", nil, nil, &out)
	return out, err
}

// ResetLockout clears the PIN lockout (audited) and returns the lockout it cleared.
func (c *Client) ResetLockout(ctx context.Context) (api.Lockout, error) {
	var out api.Lockout
	err := c.call(ctx, http.MethodPost, "/v1/lockout/reset", "", nil, nil, &out)
	return out, err
}

// Event is one Server-Sent Event: its name (api.EventState, ..., or Comment) and its JSON data.
type Event struct {
	Name string
	Data []byte
}

// Decode decodes the event's data into v.
func (e Event) Decode(v any) error { return json.Unmarshal(e.Data, v) }

// Events follows GET /v1/events until ctx ends or the server closes the stream; the channel is
// closed then. The stream is opened before Events returns, so no event after it is missed.
func (c *Client) Events(ctx context.Context) (<-chan Event, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/events", nil)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		e := &Error{Status: resp.StatusCode, Body: data}
		_ = json.Unmarshal(data, &e.Answer)
		return nil, e
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		resp.Body.Close()
		return nil, fmt.Errorf("events: content type %q, want text/event-stream", ct)
	}
	ch := make(chan Event, 1024)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		name := ""
		for sc.Scan() {
			line := sc.Text()
			var ev *Event
			switch {
			case strings.HasPrefix(line, ":"):
				ev = &Event{Name: Comment, Data: []byte(strings.TrimSpace(line[1:]))}
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev = &Event{Name: name, Data: []byte(strings.TrimPrefix(line, "data: "))}
			}
			if ev == nil {
				continue
			}
			select {
			case ch <- *ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// Pinned returns an HTTP client that accepts only the server certificate whose SHA-256
// fingerprint is fingerprint (as `doorface tls fingerprint` prints it: hex, with or without
// colons): how a tablet or a laptop trusts a door's self-signed certificate.
func Pinned(fingerprint string) *http.Client {
	want := strings.ToUpper(strings.ReplaceAll(fingerprint, ":", ""))
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // the pin below is the verification
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if got := strings.ToUpper(hex.EncodeToString(sum[:])); got != want {
				return fmt.Errorf("server certificate %s is not the pinned one", got)
			}
			return nil
		},
	}}}
}
