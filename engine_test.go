package main

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/vision"
)

// TestLoadGalleryByEngine: the gallery loads only the selected engine's templates (a template
// stored before templates recorded their engine is dlib's), counts the others, and refuses a
// template of its engine with the wrong length.
func TestLoadGalleryByEngine(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "doorface.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.CreateUser("Ada", "")
	if err != nil {
		t.Fatal(err)
	}
	dlib := make([]float32, vision.DlibDims)
	mfn := make([]float32, vision.MobileFaceNetDims)
	dlib[0], mfn[0] = 1, 1
	if _, err := db.AddTemplate(u.ID, dlib); err != nil { // no engine given: dlib
		t.Fatal(err)
	}
	if _, err := db.AddEngineTemplate(u.ID, vision.EngineMobileFaceNet, mfn); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		engine        string
		loaded, other int
	}{{vision.EngineMobileFaceNet, 1, 1}, {vision.EngineDlib, 1, 1}} {
		t.Run(tc.engine, func(t *testing.T) {
			g := vision.NewGallery(tc.engine)
			loaded, other, err := loadGallery(db, g)
			if err != nil || loaded != tc.loaded || other != tc.other || g.Len() != tc.loaded {
				t.Errorf("loadGallery = %d loaded, %d other, %v; gallery %d", loaded, other, err, g.Len())
			}
		})
	}
	// A 128-value template recorded as mobilefacenet's is an error naming the problem.
	if _, err := db.AddEngineTemplate(u.ID, vision.EngineMobileFaceNet, dlib); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadGallery(db, vision.NewGallery(vision.EngineMobileFaceNet)); !errors.Is(err, vision.ErrDimension) {
		t.Errorf("loadGallery with a mismatched template: %v, want ErrDimension", err)
	}
}

// TestConfigEngine: vision.engine selects the engine, the machine's threshold and margin follow
// it unless set, and an unknown engine is refused.
func TestConfigEngine(t *testing.T) {
	c, _, err := loadConfig("serve", nil, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if thr, margin := vision.DefaultThresholds(vision.DefaultEngine); c.Vision.Engine != vision.DefaultEngine ||
		c.Machine.Threshold != thr || c.Machine.MinMargin != margin {
		t.Errorf("defaults: engine %q threshold %g margin %g", c.Vision.Engine, c.Machine.Threshold, c.Machine.MinMargin)
	}
	c, _, err = loadConfig("serve", []string{"--config", writeFile(t, "c.yaml", "vision:\n  engine: dlib\n")}, nil, io.Discard)
	if thr, margin := vision.DefaultThresholds(vision.EngineDlib); err != nil || c.Vision.Engine != vision.EngineDlib ||
		c.Machine.Threshold != thr || c.Machine.MinMargin != margin {
		t.Errorf("dlib: engine %q threshold %g margin %g, %v", c.Vision.Engine, c.Machine.Threshold, c.Machine.MinMargin, err)
	}
	if vc := visionConfig(c, nil); vc.Engine != vision.EngineDlib || vc.Validate() != nil {
		t.Errorf("visionConfig: engine %q, %v", vc.Engine, vc.Validate())
	}
	c, _, err = loadConfig("serve", []string{"--config", writeFile(t, "c2.yaml", "vision:\n  engine: dlib\nmachine:\n  threshold: 0.45\n")}, nil, io.Discard)
	if err != nil || c.Machine.Threshold != 0.45 {
		t.Errorf("an explicit threshold: %g, %v", c.Machine.Threshold, err)
	}
	if _, _, err := loadConfig("serve", []string{"--config", writeFile(t, "c3.yaml", "vision:\n  engine: arcface\n")}, nil, io.Discard); err == nil {
		t.Error("vision.engine arcface accepted")
	}
}
