package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/config"
	"github.com/doorface/doorface/hw"
	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/vision"
)

// distinctFrac is the least distance between two kept frames of a door enrollment, as a
// fraction of the match threshold: frames nearer each other are the same view, and only the
// better of them is kept (consecutive frames of a still face are some 0.01-0.03 apart in
// MobileFaceNet's cosine distance; different photos of one person 0.2-0.4).
const distinctFrac = 0.15

// Frame verdicts of a door enrollment beyond vision's qualities (api.EnrollmentFrame.Quality).
const (
	qualityCloserToOther   = "closer_to_other_user"
	qualityDifferentPerson = "different_person"
)

// doorEnroller runs enrollments at the door (transport.Enroller): while one is active, the
// tablet's frames come here instead of to the door machine, and it keeps the best few sharp,
// frontal, distinct frames of the user's face, stores them as templates when it has them all,
// and reports progress (publish, progress).
type doorEnroller struct {
	db        *store.DB
	pipe      *vision.Pipeline
	gallery   *vision.Gallery
	engine    string
	threshold float64 // the machine's match threshold, in the engine's metric
	clock     clock.Clock
	log       *slog.Logger
	// publish sends an event to the event streams; progress shows have of want on the status
	// light while active, and the door's own state after. Both are set before serving; nil
	// means none.
	publish  func(api.EnrollmentEvent)
	progress func(have, want int, active bool)

	// mu guards everything that follows.
	mu   sync.Mutex
	cur  *doorEnrollment // nil when none is active
	last api.Enrollment  // the last one's status (Active false) once it ended
}

// doorEnrollment is one enrollment at the door.
type doorEnrollment struct {
	user     store.User
	want     int
	seen     int
	deadline time.Time
	timer    clock.Timer
	kept     []keptFrame
}

// keptFrame is a frame kept for a template, with its score (sharper and more frontal is higher).
type keptFrame struct {
	en    vision.Enrolled
	score float64
}

// score rates a good frame: its sharpness, less for a turned face.
func score(a vision.Analysis) float64 {
	return a.Sharpness * math.Cos(a.Yaw*math.Pi/180) * math.Cos(a.Pitch*math.Pi/180)
}

// statusLocked is the active enrollment's status. d.mu must be held.
func (d *doorEnroller) statusLocked(e *doorEnrollment) api.Enrollment {
	return api.Enrollment{Active: true, User: e.user.ID, Name: e.user.Name, Have: len(e.kept), Want: e.want,
		Seen: e.seen, Deadline: e.deadline.UTC()}
}

// notify publishes an event and shows the progress.
func (d *doorEnroller) notify(s api.Enrollment) {
	if d.publish != nil {
		d.publish(api.EnrollmentEvent{User: s.User, Name: s.Name, Have: s.Have, Want: s.Want, Done: !s.Active,
			Outcome: s.Outcome, At: d.clock.Now().UTC().Format(time.RFC3339Nano)})
	}
	if d.progress != nil {
		d.progress(s.Have, s.Want, s.Active)
	}
}

// Start begins an enrollment of req.User (frames and timeout already validated by transport).
func (d *doorEnroller) Start(req api.EnrollmentRequest) (api.Enrollment, error) {
	u, err := d.db.GetUser(req.User)
	if err != nil {
		return api.Enrollment{}, err
	}
	d.mu.Lock()
	if d.cur != nil {
		d.mu.Unlock()
		return api.Enrollment{}, fmt.Errorf("enroll %s: %w", req.User, transport.ErrEnrollmentActive)
	}
	timeout := time.Duration(req.TimeoutS) * time.Second
	e := &doorEnrollment{user: u, want: req.Frames, deadline: d.clock.Now().Add(timeout)}
	e.timer = d.clock.AfterFunc(timeout, func() { d.end(e, api.EnrollmentTimeout) })
	d.cur = e
	s := d.statusLocked(e)
	d.mu.Unlock()
	d.log.Info("enrollment at the door started", "user", u.ID, "frames", req.Frames, "timeout_s", req.TimeoutS)
	d.notify(s)
	return s, nil
}

// Cancel ends the active enrollment; nothing is stored.
func (d *doorEnroller) Cancel() (api.Enrollment, error) {
	d.mu.Lock()
	e := d.cur
	d.mu.Unlock()
	if e == nil {
		return api.Enrollment{}, transport.ErrNoEnrollment
	}
	s, ok := d.end(e, api.EnrollmentCancelled)
	if !ok {
		return api.Enrollment{}, transport.ErrNoEnrollment
	}
	return s, nil
}

// Status is the active enrollment's status, or the last one's.
func (d *doorEnroller) Status() api.Enrollment {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur != nil {
		return d.statusLocked(d.cur)
	}
	return d.last
}

// end finishes e with outcome unless it already ended (ok false). A completed enrollment stores
// its kept frames as templates first (outcome failed when that fails).
func (d *doorEnroller) end(e *doorEnrollment, outcome string) (api.Enrollment, bool) {
	d.mu.Lock()
	if d.cur != e {
		d.mu.Unlock()
		return api.Enrollment{}, false
	}
	e.timer.Stop()
	s := d.statusLocked(e)
	s.Active, s.Outcome = false, outcome
	if outcome == api.EnrollmentCompleted {
		enrolled := make([]vision.Enrolled, len(e.kept))
		for i, k := range e.kept {
			enrolled[i] = k.en
		}
		ids, err := addTemplates(d.db, d.gallery, e.user, d.engine, enrolled)
		s.Templates = ids
		if err != nil {
			s.Outcome = api.EnrollmentFailed
			d.log.Error("enrollment at the door: storing the templates failed", "user", e.user.ID, "stored", len(ids), "err", err)
		}
	}
	d.cur, d.last = nil, s
	d.mu.Unlock()
	d.log.Info("enrollment at the door ended", "user", e.user.ID, "outcome", s.Outcome, "have", s.Have, "want", s.Want,
		"frames_seen", s.Seen, "templates", len(s.Templates))
	d.notify(s)
	return s, true
}

// Offer analyses a frame for the active enrollment (see transport.Enroller).
func (d *doorEnroller) Offer(ctx context.Context, f transport.Frame) (api.EnrollmentFrame, bool, error) {
	d.mu.Lock()
	e := d.cur
	if e != nil {
		e.seen++
	}
	d.mu.Unlock()
	if e == nil {
		return api.EnrollmentFrame{}, false, nil
	}
	fr, ok := f.(*frame)
	if !ok {
		return api.EnrollmentFrame{}, true, fmt.Errorf("enrollment: frame of type %T", f)
	}
	en, err := d.pipe.EnrollFace(ctx, fr.fr)
	if err != nil && !errors.Is(err, vision.ErrNoFace) && !errors.Is(err, vision.ErrMultipleFaces) && !errors.Is(err, vision.ErrLowQuality) {
		return api.EnrollmentFrame{}, true, err
	}
	quality := en.Analysis.Quality
	if err != nil && quality == vision.QualityOK { // cannot happen: a refusal has a reason
		quality = vision.QualityNoFace
	}

	d.mu.Lock()
	res := api.EnrollmentFrame{User: e.user.ID, Want: e.want, Quality: quality}
	if d.cur != e { // ended meanwhile
		res.Have, res.Done = len(e.kept), true
		d.mu.Unlock()
		return res, true, nil
	}
	if quality == vision.QualityOK {
		res.Quality, res.Kept = d.considerLocked(e, en)
	}
	res.Have = len(e.kept)
	full := len(e.kept) == e.want
	s := d.statusLocked(e)
	d.mu.Unlock()
	if full {
		s, _ = d.end(e, api.EnrollmentCompleted)
		res.Done = true
	} else if res.Kept {
		d.notify(s)
	}
	return res, true, nil
}

// considerLocked decides whether a good frame joins e's kept frames: not when the face is nearer
// another enrolled user (within the threshold) than the user's own templates, or is not the
// person of the frames kept so far; in place of a kept frame of the same view when it scores
// higher; added while fewer than want are kept. d.mu must be held.
func (d *doorEnroller) considerLocked(e *doorEnrollment, en vision.Enrolled) (quality string, kept bool) {
	n, err := d.gallery.Nearest(e.user.ID, en.Descriptor)
	if err != nil {
		return vision.QualityNoFace, false
	}
	if n.Other != "" && n.OtherDistance < d.threshold && (!n.HasOwn || n.OtherDistance < n.OwnDistance) {
		return qualityCloserToOther, false
	}
	sc := score(en.Analysis)
	same := -1
	for i, k := range e.kept {
		dist := vision.Distance(d.engine, en.Descriptor, k.en.Descriptor)
		if dist >= d.threshold {
			return qualityDifferentPerson, false
		}
		if dist < d.threshold*distinctFrac && same < 0 {
			same = i
		}
	}
	switch {
	case same >= 0 && sc > e.kept[same].score:
		e.kept[same] = keptFrame{en: en, score: sc}
		return vision.QualityOK, true
	case same >= 0:
		return vision.QualityOK, false
	case len(e.kept) < e.want:
		e.kept = append(e.kept, keptFrame{en: en, score: sc})
		return vision.QualityOK, true
	}
	return vision.QualityOK, false
}

// newDoorEnroller wires an enroller to the daemon's store, pipeline and gallery; the status
// light shows its progress, then the door's state again. Its publish is set once the server
// exists.
func newDoorEnroller(cfg config.Config, db *store.DB, pipe *vision.Pipeline, g *vision.Gallery, b *hw.Board, m *machine.Machine, log *slog.Logger) *doorEnroller {
	return &doorEnroller{db: db, pipe: pipe, gallery: g, engine: cfg.Vision.Engine, threshold: cfg.Machine.Threshold,
		clock: clock.Real{}, log: log.With("component", "enroll"),
		progress: func(have, want int, active bool) {
			if active {
				b.LED.ShowProgress(have, want)
				return
			}
			b.LED.Show(hw.StatePattern(m.Snapshot().State))
		}}
}
