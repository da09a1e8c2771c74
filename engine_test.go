package main

import (
	"errors"
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
