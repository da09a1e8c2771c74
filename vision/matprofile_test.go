//go:build matprofile

package vision

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"
)

// TestNoLeakedMats: run with `go test -tags matprofile -run TestNoLeakedMats ./vision`. Each
// engine.
func TestNoLeakedMats(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { testNoLeakedMats(t, engine) })
	}
}

func testNoLeakedMats(t *testing.T, engine string) {
	cfg := engineConfig(engine)
	cfg.Workers = 1
	cfg.Liveness = true // the liveness scorer's Mats (crops, blobs) too
	p := newTestPipeline(t, cfg)
	before := gocv.MatProfile.Count()
	paths := append(listImages(t, filepath.Join(facesDir(t), "enroll-test"))[:6], listImages(t, filepath.Join(facesDir(t), "groups"))...)
	paths = append(paths, listImages(t, filepath.Join(facesDir(t), "pad"))...)
	for _, path := range paths {
		f, err := Decode(readFile(t, path), contentTypeOf(path), cfg)
		if err != nil {
			t.Fatal(err)
		}
		a, err := p.Analyze(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AnalyzeNear(context.Background(), f, a.Box); err != nil {
			t.Fatal(err)
		}
		p.Enroll(context.Background(), f)
		if _, err := p.ScoreLiveness(context.Background(), f); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Print(); err != nil {
			t.Fatal(err)
		}
		f.JPEG()
		f.Close()
	}
	// Rejected inputs too.
	Decode([]byte("\x89PNG\r\n\x1a\nxx"), "image/png", cfg)
	if after := gocv.MatProfile.Count(); after != before {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Errorf("%d Mats leaked:\n%s", after-before, b.String())
	}
}
