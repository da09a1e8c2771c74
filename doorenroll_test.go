package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/config"
	"github.com/doorface/doorface/internal/testkit"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/vision"
)

// enrollRig is a doorEnroller on a real store, pipeline and gallery, with a fake clock, recording
// its events and light.
type enrollRig struct {
	e      *doorEnroller
	db     *store.DB
	frames frames
	clk    *clock.Fake
	mu     sync.Mutex
	events []api.EnrollmentEvent
	lights []string
}

func newEnrollRig(t *testing.T) *enrollRig {
	t.Helper()
	cfg := config.Default()
	cfg.Vision.Workers = 2
	db, err := store.Open(filepath.Join(t.TempDir(), "doorface.db"), store.Options{Config: cfg.Store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pipe, err := vision.NewPipeline(testkit.Models(t), cfg.Vision, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pipe.Close)
	g := vision.NewGallery(cfg.Vision.Engine)
	r := &enrollRig{db: db, clk: clock.NewFake(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)),
		frames: frames{cfg: cfg.Vision, pipe: pipe, gallery: g}}
	r.e = &doorEnroller{db: db, pipe: pipe, gallery: g, engine: cfg.Vision.Engine, threshold: cfg.Machine.Threshold,
		clock: r.clk, log: slog.New(slog.DiscardHandler),
		publish: func(ev api.EnrollmentEvent) { r.mu.Lock(); r.events = append(r.events, ev); r.mu.Unlock() },
		progress: func(have, want int, active bool) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if active {
				r.lights = append(r.lights, "progress")
			} else {
				r.lights = append(r.lights, "door")
			}
		}}
	return r
}

// offer decodes a camera frame of an enroll-test photo and offers it.
func (r *enrollRig) offer(t *testing.T, photo string) api.EnrollmentFrame {
	t.Helper()
	f, err := r.frames.Decode(testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/"+photo), 1280, 720, 360), "image/jpeg")
	if err != nil {
		t.Error(err)
		return api.EnrollmentFrame{}
	}
	defer f.Close()
	res, handled, err := r.e.Offer(context.Background(), f)
	if err != nil || !handled {
		t.Errorf("%s: handled %v, err %v", photo, handled, err)
	}
	return res
}

// TestDoorEnrollerConcurrentFrames: frames analysed at once (two workers) keep the enrollment
// consistent: exactly want templates stored, once; the light returns to the door's state.
func TestDoorEnrollerConcurrentFrames(t *testing.T) {
	r := newEnrollRig(t)
	u, err := r.db.CreateUser("Howard", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.e.Start(api.EnrollmentRequest{User: u.ID, Frames: 2, TimeoutS: 60}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, p := range []string{"howard1.png", "howard2.png", "howard3.png", "howard4.png"} {
		wg.Add(1)
		go func() { defer wg.Done(); r.offer(t, p) }()
	}
	wg.Wait()
	st := r.e.Status()
	if st.Active || st.Outcome != api.EnrollmentCompleted || len(st.Templates) != 2 {
		t.Fatalf("status %+v, want completed with 2 templates", st)
	}
	ts, err := r.db.UserTemplates(u.ID)
	if err != nil || len(ts) != 2 || ts[0].Crop == "" {
		t.Fatalf("stored %+v, %v; want 2 templates with crops", ts, err)
	}
	if r.frames.gallery.Len() != 2 {
		t.Fatalf("gallery holds %d templates, want 2", r.frames.gallery.Len())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	last := r.events[len(r.events)-1]
	if !last.Done || last.Outcome != api.EnrollmentCompleted || last.Have != 2 {
		t.Fatalf("last event %+v", last)
	}
	if r.lights[0] != "progress" || r.lights[len(r.lights)-1] != "door" {
		t.Fatalf("light %v, want progress first and the door's state last", r.lights)
	}
}

// TestDoorEnrollerTimeout: the deadline ends an enrollment with nothing stored; later frames are
// not taken.
func TestDoorEnrollerTimeout(t *testing.T) {
	r := newEnrollRig(t)
	u, _ := r.db.CreateUser("Howard", "")
	if _, err := r.e.Start(api.EnrollmentRequest{User: u.ID, Frames: 3, TimeoutS: 30}); err != nil {
		t.Fatal(err)
	}
	if res := r.offer(t, "howard1.png"); !res.Kept || res.Have != 1 {
		t.Fatalf("first frame %+v", res)
	}
	r.clk.Advance(29 * time.Second)
	if !r.e.Status().Active {
		t.Fatal("ended before its deadline")
	}
	r.clk.Advance(2 * time.Second)
	if st := r.e.Status(); st.Active || st.Outcome != api.EnrollmentTimeout || st.Have != 1 {
		t.Fatalf("after the deadline: %+v", st)
	}
	if ts, _ := r.db.UserTemplates(u.ID); len(ts) != 0 {
		t.Fatalf("a timed-out enrollment stored %d templates", len(ts))
	}
	f, err := r.frames.Decode(testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/howard2.png"), 1280, 720, 360), "image/jpeg")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, handled, _ := r.e.Offer(context.Background(), f); handled {
		t.Fatal("a frame was taken after the timeout")
	}
	if _, err := r.e.Cancel(); err == nil {
		t.Fatal("cancel after the timeout succeeded")
	}
}
