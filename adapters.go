package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"sync"
	"time"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/hw"
	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/vision"
)

// The adapters in this file are the only places where packages meet: each package defines the small
// interface it needs, and main satisfies it from the others.

// directory answers the machine's user questions from the store (policy.go).
type directory struct{ db *store.DB }

// lockouts keeps the machine's PIN lockout counter in the store, so it survives a restart.
type lockouts struct{ db *store.DB }

func (l lockouts) LoadLockout() (machine.Lockout, error) {
	s, err := l.db.LoadLockout()
	return machine.Lockout{Failures: s.Failures, Level: s.Level, Until: s.Until, Since: s.Since}, err
}

func (l lockouts) SaveLockout(m machine.Lockout) error {
	return l.db.SaveLockout(store.Lockout{Failures: m.Failures, Level: m.Level, Until: m.Until, Since: m.Since})
}

// ResetLockout clears the lockout and appends the audited record of who reset it.
func (l lockouts) ResetLockout(_ machine.Lockout, by string, at time.Time) error {
	_, err := l.db.ResetLockout(by, at)
	return err
}

// attempts writes the machine's attempt records to the store (durably, before the machine goes on);
// observe, when set, sees each record written (liveness metrics, liveness.go).
type attempts struct {
	db      *store.DB
	observe func(machine.Attempt)
}

func (a attempts) BeginAttempt(id string, start time.Time) error { return a.db.BeginAttempt(id, start) }

// DiscardAttempt drops the in-progress marker of a session that ends with no record.
func (a attempts) DiscardAttempt(id string) error { return a.db.DiscardAttempt(id) }

// EndUnlock clears the store's "door unlocked" marker once the machine has locked the relay again.
func (a attempts) EndUnlock(id string) error { return a.db.EndUnlock(id) }

// RecordAttempt writes the record with its evidence frame re-encoded (evidenceJPEG): what is kept
// is the picture the daemon analysed, never bytes a client appended to it.
func (a attempts) RecordAttempt(m machine.Attempt) error {
	ev := m.Evidence
	if len(ev) > 0 {
		var err error
		if ev, err = evidenceJPEG(ev); err != nil {
			// A frame the pipeline decoded but Go cannot: keep the record, drop the frame.
			ev = nil
		}
	}
	_, err := a.db.RecordAttempt(storeAttempt(m), ev)
	if err == nil && a.observe != nil {
		a.observe(m)
	}
	return err
}

// Evidence frames are re-encoded at most maxEvidenceWidth pixels wide and maxEvidenceBytes long.
const (
	maxEvidenceWidth = 1280
	maxEvidenceBytes = 512 << 10
)

// evidenceJPEG decodes a frame's JPEG and encodes it again, scaled down to maxEvidenceWidth and
// with a lower quality when needed to fit maxEvidenceBytes: only pixels survive (no metadata, no
// trailing data), and the size of what is kept is bounded.
func evidenceJPEG(b []byte) ([]byte, error) {
	src, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	img := src
	if w := src.Bounds().Dx(); w > maxEvidenceWidth {
		img = downscale(src, (w+maxEvidenceWidth-1)/maxEvidenceWidth)
	}
	var out bytes.Buffer
	for _, q := range []int{85, 70, 50, 30} {
		out.Reset()
		if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: q}); err != nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
		if out.Len() <= maxEvidenceBytes {
			break
		}
	}
	return out.Bytes(), nil
}

// downscale shrinks img by an integer factor, averaging each factor x factor block.
func downscale(img image.Image, factor int) image.Image {
	b := img.Bounds()
	w, h := b.Dx()/factor, b.Dy()/factor
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	n := uint32(factor * factor)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var r, g, bl uint32
			for dy := 0; dy < factor; dy++ {
				for dx := 0; dx < factor; dx++ {
					cr, cg, cb, _ := img.At(b.Min.X+x*factor+dx, b.Min.Y+y*factor+dy).RGBA()
					r, g, bl = r+cr, g+cg, bl+cb
				}
			}
			i := dst.PixOffset(x, y)
			dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = uint8(r/n>>8), uint8(g/n>>8), uint8(bl/n>>8), 255
		}
	}
	return dst
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
		Policy: m.Policy, Duress: m.Duress, Mismatch: m.Mismatch, OpenForS: m.OpenFor.Seconds(),
		Liveness: storeLiveness(m.Liveness),
	}
}

// frames serves transport's frame path from vision: each decoded frame analyses itself for a
// session and is matched against the gallery.
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

// Decode decodes a request body into a frame; vision's refusals become transport's.
func (f frames) Decode(body []byte, contentType string) (transport.Frame, error) {
	fr, err := vision.Decode(body, contentType, f.cfg)
	if err != nil {
		return nil, inputRefusal(err)
	}
	return &frame{f: f, fr: fr}, nil
}

// frame is one decoded camera frame on its way through a request.
type frame struct {
	f  frames
	fr *vision.Frame
}

func (fr *frame) Close()                { fr.fr.Close() }
func (fr *frame) JPEG() ([]byte, error) { return fr.fr.JPEG() }

// Analyze finds the face (near the session's last one first), matches it against the gallery,
// and keeps the frame's JPEG as possible evidence when it shows a face.
func (fr *frame) Analyze(ctx context.Context, session string) (machine.FrameResult, error) {
	f := fr.f
	a, err := f.pipe.AnalyzeNear(vision.WithLogAttrs(ctx, "session", session), fr.fr, f.track.hint(session))
	if err != nil {
		return machine.FrameResult{}, fmt.Errorf("analyze: %w", err)
	}
	box := image.Rectangle{}
	if a.Faces > 0 {
		box = a.Box
	}
	f.track.set(session, box)
	res := machine.FrameResult{Quality: a.Quality, Liveness: a.Liveness, Scored: a.LivenessScored}
	if f.cfg.Liveness {
		res.Print = framePrint(fr.fr)
	}
	if a.Quality == vision.QualityOK {
		if m, ok := f.gallery.Match(a.Descriptor); ok {
			res.Match = &machine.Candidate{User: m.UserID, Name: m.Name, Distance: m.Distance, Margin: m.Margin}
		}
	}
	// Only frames with a face can become evidence; JPEG bodies are kept as sent (no re-encoding).
	if a.Faces > 0 {
		if jpg, err := fr.fr.JPEG(); err == nil {
			res.Evidence = jpg
		}
	}
	return res, nil
}

// inputRefusal maps vision's input and enrollment errors to the refusals transport answers.
func inputRefusal(err error) error {
	for _, m := range []struct{ vision, transport error }{
		{vision.ErrTooLarge, transport.ErrImageTooLarge},
		{vision.ErrTooManyPixels, transport.ErrImageTooLarge},
		{vision.ErrUnsupportedType, transport.ErrMediaType},
		{vision.ErrEmpty, transport.ErrBadImage},
		{vision.ErrNotImage, transport.ErrBadImage},
		{vision.ErrBadBase64, transport.ErrBadImage},
		{vision.ErrTooManyScans, transport.ErrBadImage},
		{vision.ErrNoFace, transport.ErrNoFace},
		{vision.ErrMultipleFaces, transport.ErrMultipleFaces},
		{vision.ErrLowQuality, transport.ErrLowQuality},
	} {
		if errors.Is(err, m.vision) {
			return fmt.Errorf("%w: %w", m.transport, err)
		}
	}
	return err
}

// users serves transport's admin user endpoints from the store, keeping the vision gallery in step.
type users struct {
	db      *store.DB
	cfg     vision.Config
	pipe    *vision.Pipeline
	gallery *vision.Gallery
}

func (u users) CreateUser(name, pin string) (api.User, error) {
	su, err := u.db.CreateUser(name, pin)
	return wireUser(su), err
}

func (u users) ListUsers() ([]api.User, error) {
	us, err := u.db.ListUsers()
	out := make([]api.User, 0, len(us))
	for _, su := range us {
		out = append(out, wireUser(su))
	}
	return out, err
}

// GetUser is the user with their template count.
func (u users) GetUser(id string) (api.User, error) {
	su, err := u.db.GetUser(id)
	if err != nil {
		return api.User{}, err
	}
	ts, err := u.db.UserTemplates(id)
	out := wireUser(su)
	n := len(ts)
	out.Templates = &n
	return out, err
}

func (u users) SetPIN(id, pin string) error { return u.db.SetPIN(id, pin) }

// wireUser is a stored user as the API shows it: no PIN, no templates.
func wireUser(u store.User) api.User {
	out := api.User{ID: u.ID, Name: u.Name, Created: u.Created.UTC(), Enabled: u.Enabled, HasPIN: u.HasPIN,
		Mode: cmp.Or(u.Mode, store.ModeFaceOrPIN), Schedule: u.Schedule, HasDuressPIN: u.HasDuressPIN}
	if !u.ValidFrom.IsZero() {
		t := u.ValidFrom.UTC()
		out.ValidFrom = &t
	}
	if !u.ValidUntil.IsZero() {
		t := u.ValidUntil.UTC()
		out.ValidUntil = &t
	}
	return out
}

func (u users) DeleteUser(id string) error {
	if err := u.db.DeleteUser(id); err != nil {
		return err
	}
	u.gallery.RemoveUser(id)
	return nil
}

// audit serves transport's audit endpoints from the store, as wire types.
type audit struct{ db *store.DB }

func (a audit) Export(w io.Writer, format string, f api.AuditFilter) (int, error) {
	return a.db.Export(w, format, store.Filter{Since: f.Since, Until: f.Until, Outcome: f.Outcome, User: f.User}, "")
}

func (a audit) GetAttempt(id string) (api.Attempt, error) {
	r, err := a.db.GetAttempt(id)
	return api.Attempt{Seq: r.Seq, ID: r.ID, Start: r.Start, End: r.End, Outcome: r.Outcome, Method: r.Method,
		User: r.User, Name: r.Name, BestUser: r.BestUser, BestDistance: r.BestDistance, BestMargin: r.BestMargin,
		Frames: r.Frames, PinTries: r.PinTries, Durations: r.Durations, Reason: r.Reason, Evidence: r.Evidence,
		EvidencePruned: r.EvidencePruned, PrevHash: r.PrevHash, Hash: r.Hash,
		Policy: r.Policy, Duress: r.Duress, Mismatch: r.Mismatch, OpenForS: r.OpenForS, Liveness: wireLiveness(r.Liveness)}, err
}

// wireLiveness is a record's liveness evidence as the API shows it.
func wireLiveness(l *store.Liveness) *api.Liveness {
	if l == nil {
		return nil
	}
	return &api.Liveness{Mode: l.Mode, Result: l.Result, Scores: l.Scores, Mean: l.Mean, Repeats: l.Repeats}
}

func (a audit) Frame(id string) ([]byte, error) { return a.db.Frame(id) }

func (a audit) Verify() (api.VerifyReport, error) {
	r, err := a.db.Verify()
	return api.VerifyReport{Records: r.Records, OK: r.OK, FirstBroken: r.FirstBroken, Problem: r.Problem,
		Head: r.Head, HeadValue: r.HeadValue().String(), Anchored: r.Anchored}, err
}

func (a audit) Head() (api.AuditHead, error) {
	h, err := a.db.Head()
	return api.AuditHead{Seq: h.Seq, MAC: h.MAC, Value: h.String()}, err
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

// Light is the status light's colour per LED, as people at the door see it.
func (b board) Light() []string { return b.b.LED.Colors() }

func (b board) Door() string {
	if b.b.Door == nil {
		return "unknown"
	}
	return b.b.Door.State()
}
