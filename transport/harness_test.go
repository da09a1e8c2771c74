package transport

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/transport/client"
)

// The machine satisfies Door and the store Audit: checked here, where both are real.
var (
	_ Door = (*machine.Machine)(nil)
)

const (
	doorToken  = "door-token-0123456789abcdef"
	adminToken = "admin-token-0123456789abcdef"
	alicePIN   = "24680"
)

// Image widths the fake vision scripts (the frames are real PNG/JPEG bytes of that width).
const (
	wAlice       = 64 // ok, matches alice well within threshold and margin
	wStranger    = 65 // ok, nearest user is far away
	wNoFace      = 66 // no_face
	wNoMatch     = 67 // ok, empty gallery answer
	wEnrollNo    = 30 // enrollment: no_face
	wEnrollMF    = 31 // enrollment: multiple_faces
	wEnrollOther = 32 // enrollment: closer to another user
)

// recLock is the relay stand-in: it records opens and locks so tests can assert the door state.
type recLock struct {
	mu           sync.Mutex
	open         bool
	opens, locks int
	fault        string
}

// setFault makes the lock report a failed pin write, as a relay whose lock write failed does.
func (l *recLock) setFault(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fault = s
}

func (l *recLock) faultText() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fault
}

func (l *recLock) Unlock(time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open, l.opens = true, l.opens+1
	return nil
}

func (l *recLock) Lock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open, l.locks = false, l.locks+1
	return nil
}

func (l *recLock) state() (open bool, opens int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.opens
}

// storeAdapter adapts the real store to the machine's collaborators, as main does.
type storeAdapter struct{ db *store.DB }

func (a storeAdapter) BeginAttempt(id string, start time.Time) error {
	return a.db.BeginAttempt(id, start)
}

func (a storeAdapter) EndUnlock(id string) error      { return a.db.EndUnlock(id) }
func (a storeAdapter) DiscardAttempt(id string) error { return a.db.DiscardAttempt(id) }

func (a storeAdapter) RecordAttempt(m machine.Attempt) error {
	durs := map[string]float64{}
	for st, d := range m.Durations {
		durs[string(st)] = d.Seconds()
	}
	_, err := a.db.RecordAttempt(store.Attempt{ID: m.ID, Start: m.Start, End: m.End, Outcome: string(m.Outcome),
		Method: string(m.Method), User: m.User, Name: m.Name, BestUser: m.BestUser, BestDistance: m.BestDistance,
		BestMargin: m.BestMargin, Frames: m.Frames, PinTries: m.PinTries, Durations: durs, Reason: m.Reason,
		Policy: m.Policy, Duress: m.Duress, Mismatch: m.Mismatch, OpenForS: m.OpenFor.Seconds()}, m.Evidence)
	return err
}

func (a storeAdapter) LookupPIN(pin string) (machine.PINOwner, bool, error) {
	u, duress, ok, err := a.db.FindPIN(pin)
	if err != nil || !ok {
		return machine.PINOwner{}, false, err
	}
	id, err := a.identity(u)
	return machine.PINOwner{Identity: id, Duress: duress}, err == nil, err
}

func (a storeAdapter) User(id string) (machine.Identity, bool, error) {
	u, err := a.db.GetUser(id)
	if errors.Is(err, store.ErrNotFound) {
		return machine.Identity{}, false, nil
	} else if err != nil {
		return machine.Identity{}, false, err
	}
	ident, err := a.identity(u)
	return ident, err == nil, err
}

// identity is u with its policy, as main's directory builds it.
func (a storeAdapter) identity(u store.User) (machine.Identity, error) {
	p := machine.Policy{Enabled: u.Enabled, ValidFrom: u.ValidFrom, ValidUntil: u.ValidUntil,
		Mode: machine.AuthMode(u.Mode), ScheduleName: u.Schedule}
	if u.Schedule != "" {
		s, err := a.db.GetSchedule(u.Schedule)
		if err != nil {
			return machine.Identity{}, err
		}
		ms := machine.Schedule{Name: s.Name}
		for _, w := range s.Windows {
			days, from, until, err := w.Parse()
			if err != nil {
				return machine.Identity{}, err
			}
			ms.Windows = append(ms.Windows, machine.Window{Days: days, From: from, Until: until})
		}
		p.Schedule = &ms
	}
	return machine.Identity{ID: u.ID, Name: u.Name, Policy: p}, nil
}

func (a storeAdapter) LoadLockout() (machine.Lockout, error) {
	l, err := a.db.LoadLockout()
	return machine.Lockout{Failures: l.Failures, Level: l.Level, Until: l.Until, Since: l.Since}, err
}

func (a storeAdapter) SaveLockout(l machine.Lockout) error {
	return a.db.SaveLockout(store.Lockout{Failures: l.Failures, Level: l.Level, Until: l.Until, Since: l.Since})
}

func (a storeAdapter) ResetLockout(_ machine.Lockout, by string, at time.Time) error {
	_, err := a.db.ResetLockout(by, at)
	return err
}

// refused is an input refusal as main's adapter makes one from vision's errors.
func refused(sentinel error) error { return fmt.Errorf("fake vision: %w", sentinel) }

// fakeFrame is a decoded image: only its header is read (image.DecodeConfig).
type fakeFrame struct {
	ff     *fakeFrames
	cfg    image.Config
	jpeg   []byte // the original bytes when they were JPEG
	closed *atomic.Int64
}

func (f *fakeFrame) Close() { f.closed.Add(1) }

func (f *fakeFrame) JPEG() ([]byte, error) {
	if f.jpeg == nil {
		return nil, refused(ErrBadImage)
	}
	return f.jpeg, nil
}

// fakeFrames stands in for vision only (cgo cannot be used here): it decodes real image headers
// and answers a result scripted by the image's width.
type fakeFrames struct {
	user    string // alice's id, for the scripted match
	decoded atomic.Int64
	closed  atomic.Int64

	// gate, when set, holds Analyze until it can receive from it; entered is told first.
	gate    chan struct{}
	entered chan struct{}
}

func (ff *fakeFrames) Decode(body []byte, ct string) (Frame, error) {
	raw := body
	switch ct {
	case "image/jpeg", "image/png":
	case "text/plain":
		s := strings.TrimSpace(string(body))
		if i := strings.Index(s, ";base64,"); strings.HasPrefix(s, "data:") && i > 0 {
			s = s[i+len(";base64,"):]
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, refused(ErrBadImage)
		}
		raw = b
	default:
		return nil, refused(ErrMediaType)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, refused(ErrBadImage)
	}
	if cfg.Width > 4096 || cfg.Height > 4096 {
		return nil, refused(ErrImageTooLarge)
	}
	ff.decoded.Add(1)
	f := &fakeFrame{ff: ff, cfg: cfg, closed: &ff.closed}
	if format == "jpeg" {
		f.jpeg = raw
	}
	return f, nil
}

func (f *fakeFrame) Analyze(ctx context.Context, _ string) (machine.FrameResult, error) {
	ff := f.ff
	if ff.gate != nil {
		ff.entered <- struct{}{}
		select {
		case <-ff.gate:
		case <-ctx.Done():
			return machine.FrameResult{}, ctx.Err()
		}
	}
	switch f.cfg.Width {
	case wAlice:
		return machine.FrameResult{Quality: "ok", Match: &machine.Candidate{User: ff.user, Name: "Alice", Distance: 0.31, Margin: 0.12}, Evidence: f.jpeg}, nil
	case wStranger:
		return machine.FrameResult{Quality: "ok", Match: &machine.Candidate{User: ff.user, Name: "Alice", Distance: 0.8, Margin: 0.2}, Evidence: f.jpeg}, nil
	case wNoMatch:
		return machine.FrameResult{Quality: "ok", Evidence: f.jpeg}, nil
	}
	return machine.FrameResult{Quality: "no_face", Evidence: f.jpeg}, nil
}

// fakeUsers is the real store, its users shown as wire types, plus a scripted enrollment.
type fakeUsers struct {
	DB     *store.DB
	frames *fakeFrames
}

func wireUser(u store.User) api.User {
	out := api.User{ID: u.ID, Name: u.Name, Created: u.Created, Enabled: u.Enabled, HasPIN: u.HasPIN,
		Mode: u.Mode, Schedule: u.Schedule, HasDuressPIN: u.HasDuressPIN}
	if !u.ValidFrom.IsZero() {
		out.ValidFrom = &u.ValidFrom
	}
	if !u.ValidUntil.IsZero() {
		out.ValidUntil = &u.ValidUntil
	}
	return out
}

func (u fakeUsers) SetPolicy(id string, p api.Policy) error {
	sp := store.UserPolicy{Enabled: p.Enabled, Mode: p.Mode, Schedule: p.Schedule}
	if p.ValidFrom != nil {
		sp.ValidFrom = *p.ValidFrom
	}
	if p.ValidUntil != nil {
		sp.ValidUntil = *p.ValidUntil
	}
	return u.DB.SetPolicy(id, sp)
}

func (u fakeUsers) SetDuressPIN(id, pin string) error { return u.DB.SetDuressPIN(id, pin) }

func (u fakeUsers) ListSchedules() ([]api.Schedule, error) {
	ss, err := u.DB.ListSchedules()
	var out []api.Schedule
	for _, s := range ss {
		out = append(out, wireSchedule(s))
	}
	return out, err
}

func (u fakeUsers) GetSchedule(name string) (api.Schedule, error) {
	s, err := u.DB.GetSchedule(name)
	return wireSchedule(s), err
}

func (u fakeUsers) PutSchedule(s api.Schedule) error {
	out := store.Schedule{Name: s.Name}
	for _, w := range s.Windows {
		out.Windows = append(out.Windows, store.Window(w))
	}
	return u.DB.PutSchedule(out)
}

func (u fakeUsers) DeleteSchedule(name string) error { return u.DB.DeleteSchedule(name) }

func wireSchedule(s store.Schedule) api.Schedule {
	out := api.Schedule{Name: s.Name, Windows: []api.Window{}}
	for _, w := range s.Windows {
		out.Windows = append(out.Windows, api.Window(w))
	}
	return out
}

func (u fakeUsers) CreateUser(name, pin string) (api.User, error) {
	su, err := u.DB.CreateUser(name, pin)
	return wireUser(su), err
}

func (u fakeUsers) GetUser(id string) (api.User, error) {
	su, err := u.DB.GetUser(id)
	return wireUser(su), err
}

func (u fakeUsers) ListUsers() ([]api.User, error) {
	us, err := u.DB.ListUsers()
	out := make([]api.User, 0, len(us))
	for _, su := range us {
		out = append(out, wireUser(su))
	}
	return out, err
}

func (u fakeUsers) DeleteUser(id string) error  { return u.DB.DeleteUser(id) }
func (u fakeUsers) SetPIN(id, pin string) error { return u.DB.SetPIN(id, pin) }

// fakeAudit is the real store's history, its records shown as wire types.
type fakeAudit struct{ db *store.DB }

func (a fakeAudit) Export(w io.Writer, format string, f api.AuditFilter) (int, error) {
	return a.db.Export(w, format, store.Filter{Since: f.Since, Until: f.Until, Outcome: f.Outcome, User: f.User}, "")
}

func (a fakeAudit) GetAttempt(id string) (api.Attempt, error) {
	r, err := a.db.GetAttempt(id)
	return api.Attempt{Seq: r.Seq, ID: r.ID, Outcome: r.Outcome, Method: r.Method, User: r.User, Evidence: r.Evidence, Hash: r.Hash,
		Reason: r.Reason, Policy: r.Policy, Duress: r.Duress, Mismatch: r.Mismatch, OpenForS: r.OpenForS}, err
}

func (a fakeAudit) Frame(id string) ([]byte, error) { return a.db.Frame(id) }

func (a fakeAudit) Head() (api.AuditHead, error) {
	h, err := a.db.Head()
	return api.AuditHead{Seq: h.Seq, MAC: h.MAC, Value: h.String()}, err
}

func (a fakeAudit) Verify() (api.VerifyReport, error) {
	r, err := a.db.Verify()
	return api.VerifyReport{Records: r.Records, OK: r.OK, FirstBroken: r.FirstBroken, Problem: r.Problem, Head: r.Head,
		HeadValue: r.HeadValue().String()}, err
}

func (u fakeUsers) AddFaces(_ context.Context, userID string, photos []Photo, force bool) (api.FaceResponse, error) {
	var res api.FaceResponse
	for i, p := range photos {
		fr, err := u.frames.Decode(p.Body, p.ContentType)
		if err != nil {
			return api.FaceResponse{}, &PhotoError{Index: i + 1, Err: err}
		}
		w := fr.(*fakeFrame).cfg.Width
		fr.Close()
		switch w {
		case wEnrollNo:
			return api.FaceResponse{}, &PhotoError{Index: i + 1, Err: refused(ErrNoFace)}
		case wEnrollMF:
			return api.FaceResponse{}, &PhotoError{Index: i + 1, Err: refused(ErrMultipleFaces)}
		case wEnrollOther:
			if !force {
				return api.FaceResponse{}, &PhotoError{Index: i + 1, Err: fmt.Errorf("%w: closer to Ada (0.20)", ErrCloserToOtherUser)}
			}
		}
	}
	for range photos {
		desc := make([]float32, 128)
		desc[0] = 0.5
		tpl, err := u.DB.AddTemplate(userID, desc)
		if err != nil {
			return api.FaceResponse{}, err
		}
		res.Templates = append(res.Templates, tpl.ID)
	}
	res.Template = res.Templates[0]
	res.Warnings = []string{"face is small"}
	return res, nil
}

func (u fakeUsers) Templates(userID string) ([]api.Template, error) {
	ts, err := u.DB.UserTemplates(userID)
	out := make([]api.Template, 0, len(ts))
	for _, t := range ts {
		out = append(out, api.Template{ID: t.ID, Engine: t.Engine, Created: t.Created})
	}
	return out, err
}

func (u fakeUsers) DeleteTemplate(userID, id string) error {
	_, err := u.DB.DeleteTemplate(userID, id)
	return err
}

// board is a Board stand-in reading the relay from the recLock.
type board struct{ l *recLock }

func (b board) RelayFault() string { return b.l.faultText() }

func (b board) Relay() string {
	if open, _ := b.l.state(); open {
		return "unlocked"
	}
	return "locked"
}
func (b board) Door() string    { return "closed" }
func (b board) Light() []string { return []string{"#000000"} }

// syncBuffer collects log output safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is one daemon: real machine (fake clock), real store, real HTTP on loopback.
type env struct {
	t      *testing.T
	clk    *clock.Fake
	m      *machine.Machine
	db     *store.DB
	lock   *recLock
	frames *fakeFrames
	srv    *Server
	hs     *httptest.Server
	reg    *prometheus.Registry
	logs   *syncBuffer
	alice  store.User
}

var epoch = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// newEnv builds an env; mod may change the machine config and the options before New.
func newEnv(t *testing.T, mod func(*machine.Config, *Options)) *env {
	t.Helper()
	e := &env{t: t, clk: clock.NewFake(epoch), lock: &recLock{}, frames: &fakeFrames{}, logs: &syncBuffer{},
		reg: prometheus.NewRegistry()}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := store.Open(filepath.Join(t.TempDir(), "doorface.db"), store.Options{Clock: e.clk, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	t.Cleanup(func() { _ = db.Close() })
	if e.alice, err = db.CreateUser("Alice", alicePIN); err != nil {
		t.Fatal(err)
	}
	e.frames.user = e.alice.ID
	cfg := machine.DefaultConfig()
	// The fake vision scores no liveness: transport is under test here, the machine's liveness
	// rule in machine/ and through the daemon in e2e/.
	cfg.Liveness = machine.LivenessOff
	o := Options{Frames: e.frames, Users: fakeUsers{db, e.frames}, Audit: fakeAudit{db}, Board: board{e.lock},
		Tokens: Tokens{Door: doorToken, Admin: adminToken}, Clock: e.clk, Logger: logger, Registry: e.reg}
	if mod != nil {
		mod(&cfg, &o)
	}
	sa := storeAdapter{db}
	e.m, err = machine.New(cfg, machine.Deps{Clock: e.clk, Lock: e.lock, Sink: sa, Directory: sa, Lockouts: sa, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.m.Shutdown("test end") })
	o.Door = e.m
	if e.srv, err = New(o); err != nil {
		t.Fatal(err)
	}
	e.hs = httptest.NewServer(e.srv.Handler())
	t.Cleanup(func() {
		e.srv.Close()
		e.hs.Close()
	})
	return e
}

// img returns real PNG bytes of the given width.
func img(t testing.TB, width int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(width)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// jpg returns real JPEG bytes of the given width.
func jpg(t testing.TB, width int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(width), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testImage(width int) image.Image {
	m := image.NewGray(image.Rect(0, 0, width, 16))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 7)
	}
	m.Set(0, 0, color.Gray{Y: 200})
	return m
}

// req is one request of a test.
type req struct {
	method, path, token, ct string
	body                    []byte
	hdr                     map[string]string
}

// resp is an answer with its decoded JSON body (when it is JSON).
type resp struct {
	code int
	hdr  http.Header
	raw  []byte
	js   map[string]any
}

func (r resp) str(k string) string { s, _ := r.js[k].(string); return s }

// do sends q and reads the whole answer.
func (e *env) do(q req) resp {
	e.t.Helper()
	res, err := client.New(e.hs.URL, q.token, e.hs.Client()).Send(context.Background(), q.method, q.path, q.ct, q.body, q.hdr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := resp{code: res.StatusCode, hdr: res.Header, raw: raw}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.js); err != nil {
			e.t.Fatalf("%s %s: bad JSON answer %q: %v", q.method, q.path, raw, err)
		}
	}
	return out
}

// frame posts a JPEG frame of width w, optionally naming a session.
func (e *env) frame(w int, session string) resp {
	e.t.Helper()
	q := req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/jpeg", body: jpg(e.t, w)}
	if session != "" {
		q.hdr = map[string]string{SessionHeader: session}
	}
	return e.do(q)
}

// pin enters a PIN.
func (e *env) pin(session, pin string) resp {
	e.t.Helper()
	b, _ := json.Marshal(map[string]string{"session": session, "pin": pin})
	return e.do(req{method: "POST", path: "/v1/pin", token: doorToken, ct: "application/json", body: b})
}

// toPinFallback starts a session and drives it to PinFallback; it returns the session id.
func (e *env) toPinFallback() string {
	e.t.Helper()
	r := e.frame(wNoMatch, "")
	if r.code != 200 || r.str("state") != "Recognizing" {
		e.t.Fatalf("first frame: %d %s", r.code, r.raw)
	}
	e.clk.Advance(machine.DefaultConfig().RecognizeTimeout)
	if st := e.m.Snapshot(); st.State != machine.PinFallback {
		e.t.Fatalf("state %s, want PinFallback", st.State)
	}
	return r.str("session")
}

// toUnlocking grants a session by face; it returns the session id.
func (e *env) toUnlocking() string {
	e.t.Helper()
	r := e.frame(wAlice, "")
	r = e.frame(wAlice, r.str("session"))
	if r.code != 200 || r.str("state") != "Unlocking" {
		e.t.Fatalf("second frame: %d %s", r.code, r.raw)
	}
	return r.str("session")
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	name string
	data map[string]any
}

// openEvents connects to the event stream and returns a channel of its events (comments come
// as events named ":" ), after the opening snapshot has arrived.
func (e *env) openEvents(ctx context.Context) <-chan sseEvent {
	e.t.Helper()
	return e.openEventsAs(ctx, doorToken)
}

// openEventsAs is openEvents with the given token (door or admin).
func (e *env) openEventsAs(ctx context.Context, token string) <-chan sseEvent {
	e.t.Helper()
	in, err := client.New(e.hs.URL, token, e.hs.Client()).Events(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	ch := make(chan sseEvent, 1024)
	go func() {
		defer close(ch)
		for ev := range in {
			if ev.Name == client.Comment {
				ch <- sseEvent{name: ":", data: map[string]any{"comment": string(ev.Data)}}
				continue
			}
			out := sseEvent{name: ev.Name}
			_ = ev.Decode(&out.data)
			ch <- out
		}
	}()
	first := next(e.t, ch)
	if first.name != "snapshot" {
		e.t.Fatalf("first event %q, want snapshot", first.name)
	}
	return ch
}

// next returns the next event, failing after a generous real-time bound (it waits for bytes on
// a socket, never for a machine timeout).
func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("event stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}
}

// multipartPhotos is a multipart/form-data body with one PNG or JPEG part per photo.
func multipartPhotos(t testing.TB, photos ...[]byte) (contentType string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i, p := range photos {
		ct := "image/png"
		if len(p) > 1 && p[0] == 0xff && p[1] == 0xd8 {
			ct = "image/jpeg"
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="photo"; filename="p%d"`, i))
		h.Set("Content-Type", ct)
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}
