package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"
	"time"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/hw"
	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/vision"
)

// The adapters in this file are the only places where packages meet: each package defines the small
// interface it needs, and main satisfies it from the others.

// directory answers the machine's user questions from the store.
type directory struct{ db *store.DB }

func (d directory) LookupPIN(pin string, at time.Time) (machine.Identity, bool, error) {
	u, ok, err := d.db.LookupPIN(pin, at)
	return machine.Identity{ID: u.ID, Name: u.Name}, ok, err
}

func (d directory) Active(id string, at time.Time) (machine.Identity, bool, error) {
	u, ok, err := d.db.ActiveUser(id, at)
	return machine.Identity{ID: u.ID, Name: u.Name}, ok, err
}

// lockouts keeps the machine's PIN lockout counter in the store, so it survives a restart.
type lockouts struct{ db *store.DB }

func (l lockouts) LoadLockout() (machine.Lockout, error) {
	s, err := l.db.LoadLockout()
	return machine.Lockout{Failures: s.Failures, Level: s.Level, Until: s.Until}, err
}

func (l lockouts) SaveLockout(m machine.Lockout) error {
	return l.db.SaveLockout(store.Lockout{Failures: m.Failures, Level: m.Level, Until: m.Until})
}

// attempts writes the machine's attempt records to the store (durably, before the machine goes on).
type attempts struct{ db *store.DB }

var _ machine.UnlockEnder = attempts{}

func (a attempts) BeginAttempt(id string, start time.Time) error { return a.db.BeginAttempt(id, start) }

// EndUnlock clears the store's "door unlocked" marker once the machine has locked the relay again.
func (a attempts) EndUnlock(id string) error { return a.db.EndUnlock(id) }

func (a attempts) RecordAttempt(m machine.Attempt) error {
	_, err := a.db.RecordAttempt(storeAttempt(m), m.Evidence)
	return err
}

// storeAttempt converts the machine's record to the persisted schema (durations in seconds).
func storeAttempt(m machine.Attempt) store.Attempt {
	d := make(map[string]float64, len(m.Durations))
	for s, v := range m.Durations {
		d[string(s)] = v.Seconds()
	}
	return store.Attempt{
		ID: m.ID, Start: m.Start, End: m.End,
		Outcome: string(m.Outcome), Method: string(m.Method),
		User: m.User, Name: m.Name, BestUser: m.BestUser,
		BestDistance: m.BestDistance, BestMargin: m.BestMargin,
		Frames: m.Frames, PinTries: m.PinTries, Durations: d, Reason: m.Reason,
	}
}

// codedError gives a vision enrollment error the API code transport answers with.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Code() string  { return e.code }
func (e *codedError) Unwrap() error { return e.err }

// frames serves transport's frame path from vision: decode, analyse, match against the gallery.
type frames struct {
	cfg     vision.Config
	pipe    *vision.Pipeline
	gallery *vision.Gallery
	// track, when set, makes each frame search near the face of the frame before it first.
	track *faceTrack
}

// trackFor is how long a face box stays a hint for the next frame of the same session: the tablet
// posts at about 10 fps, so a hint older than this belongs to a person who has left.
const trackFor = time.Second

// faceTrack remembers where the camera last saw a face, and in which session. A hint is given only
// to the next frame of the same session, so every session's first frame is searched whole; a wrong
// hint costs only a search of the whole frame (vision.Pipeline.AnalyzeNear).
type faceTrack struct {
	clock clock.Clock
	// mu guards everything that follows.
	mu      sync.Mutex
	session string
	box     image.Rectangle
	at      time.Time
}

func (t *faceTrack) hint(session string) image.Rectangle {
	if t == nil {
		return image.Rectangle{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if session != t.session || t.clock.Now().Sub(t.at) > trackFor {
		return image.Rectangle{}
	}
	return t.box
}

func (t *faceTrack) set(session string, box image.Rectangle) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.session, t.box, t.at = session, box, t.clock.Now()
}

func (f frames) Decode(body []byte, contentType string) (transport.Frame, error) {
	fr, err := vision.Decode(body, contentType, f.cfg)
	if err != nil {
		return nil, err
	}
	return fr, nil
}

func (f frames) Analyze(ctx context.Context, session string, tf transport.Frame) (machine.FrameResult, error) {
	fr, ok := tf.(*vision.Frame)
	if !ok {
		return machine.FrameResult{}, fmt.Errorf("analyze: frame of type %T", tf)
	}
	a, err := f.pipe.AnalyzeNear(vision.WithLogAttrs(ctx, "session", session), fr, f.track.hint(session))
	if err != nil {
		return machine.FrameResult{}, fmt.Errorf("analyze: %w", err)
	}
	box := image.Rectangle{}
	if a.Faces > 0 {
		box = a.Box
	}
	f.track.set(session, box)
	res := machine.FrameResult{Quality: a.Quality}
	if a.Quality == vision.QualityOK {
		if m, ok := f.gallery.Match(a.Descriptor); ok {
			res.Match = &machine.Candidate{User: m.UserID, Name: m.Name, Distance: m.Distance, Margin: m.Margin}
		}
	}
	// Only frames with a face can become evidence; JPEG bodies are kept as sent (no re-encoding).
	if a.Faces > 0 {
		if jpg, err := fr.JPEG(); err == nil {
			res.Evidence = jpg
		}
	}
	return res, nil
}

// users serves transport's admin user endpoints from the store, keeping the vision gallery in step.
type users struct {
	db      *store.DB
	cfg     vision.Config
	pipe    *vision.Pipeline
	gallery *vision.Gallery
}

func (u users) CreateUser(name, pin string) (store.User, error) { return u.db.CreateUser(name, pin) }
func (u users) ListUsers() ([]store.User, error)                { return u.db.ListUsers() }
func (u users) GetUser(id string) (store.User, error)           { return u.db.GetUser(id) }
func (u users) SetPIN(id, pin string) error                     { return u.db.SetPIN(id, pin) }

func (u users) DeleteUser(id string) error {
	if err := u.db.DeleteUser(id); err != nil {
		return err
	}
	u.gallery.RemoveUser(id)
	return nil
}

func (u users) AddFace(ctx context.Context, userID string, body []byte, contentType string) (string, []string, error) {
	usr, err := u.db.GetUser(userID)
	if err != nil {
		return "", nil, err
	}
	fr, err := vision.Decode(body, contentType, u.cfg)
	if err != nil {
		return "", nil, err
	}
	defer fr.Close()
	d, err := u.pipe.Enroll(ctx, fr)
	if err != nil {
		return "", nil, enrollError(err)
	}
	warnings := u.gallery.Check(userID, d)
	t, err := u.db.AddEngineTemplate(userID, u.cfg.Engine, d)
	if err != nil {
		return "", nil, err
	}
	if err := u.gallery.Add(vision.Entry{UserID: userID, Name: usr.Name, TemplateID: t.ID, Descriptor: d}); err != nil {
		return "", nil, err
	}
	return t.ID, warnings, nil
}

// enrollError maps vision's enrollment refusals to the API's 422 codes.
func enrollError(err error) error {
	for _, c := range []struct {
		target error
		code   string
	}{{vision.ErrNoFace, "no_face"}, {vision.ErrMultipleFaces, "multiple_faces"}, {vision.ErrLowQuality, "low_quality"}} {
		if errors.Is(err, c.target) {
			return &codedError{code: c.code, err: err}
		}
	}
	return err
}

// loadGallery fills the gallery with every enrolled template of the gallery's engine and says
// how many it loaded and how many of another engine it skipped. A template of the gallery's
// engine with the wrong length is an error naming it.
func loadGallery(db *store.DB, g *vision.Gallery) (loaded, other int, err error) {
	us, err := db.ListUsers()
	if err != nil {
		return 0, 0, err
	}
	names := make(map[string]string, len(us))
	for _, u := range us {
		names[u.ID] = u.Name
	}
	ts, err := db.Templates()
	if err != nil {
		return 0, 0, err
	}
	entries := make([]vision.Entry, 0, len(ts))
	for _, t := range ts {
		if t.Engine != g.Engine() {
			other++
			continue
		}
		entries = append(entries, vision.Entry{UserID: t.UserID, Name: names[t.UserID], TemplateID: t.ID, Descriptor: t.Descriptor})
	}
	if err := g.Set(entries); err != nil {
		return 0, other, err
	}
	return len(entries), other, nil
}

// reportRelocks tells the machine when the relay's own retry has locked the door after a failed
// lock write, so the session whose relock failed gets its "door unlocked" marker cleared instead
// of a false "interrupted" record at the next start. The report runs in its own goroutine: the
// relay calls its hooks with its lock held, and the machine calls the relay with its own held.
func reportRelocks(r *hw.Relay, m *machine.Machine) {
	r.OnRelocked(func() { go m.RelayRelocked() })
}

// board reports the hardware state to transport.
type board struct{ b *hw.Board }

func (b board) Relay() string {
	if b.b.Relay.Unlocked() {
		return "unlocked"
	}
	return "locked"
}

// RelayFault is the relay's last failed pin write, or "" when the last write succeeded.
func (b board) RelayFault() string {
	if err := b.b.Relay.Fault(); err != nil {
		return err.Error()
	}
	return ""
}

func (b board) Door() string {
	if b.b.Door == nil {
		return "unknown"
	}
	return b.b.Door.State()
}
