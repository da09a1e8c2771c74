package vision

import (
	"context"
	"image"
	"path/filepath"
	"testing"
)

// TestAnalyzeNear: a hint on the face finds it without a whole-frame search and gives the same
// person; a hint where there is no face, or no hint, falls back to Analyze's answer exactly.
// Each engine, the descriptor within maxNear of Analyze's (in the engine's metric).
func TestAnalyzeNear(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { testAnalyzeNear(t, engine) })
	}
}

// maxNear is how far, per engine, a tracked frame's descriptor may be from Analyze's.
var maxNear = map[string]float64{EngineDlib: 0.08, EngineMobileFaceNet: 0.08}

func testAnalyzeNear(t *testing.T, engine string) {
	cfg := engineConfig(engine)
	cfg.Workers = 1
	p := newTestPipeline(t, cfg)
	ctx := context.Background()
	for _, name := range []string{"bona3.jpg", "tzuyu.jpg", "sheldon1.png"} {
		path := filepath.Join(facesDir(t), "enroll-test", name)
		f, err := Decode(readFile(t, path), contentTypeOf(path), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cold, err := p.Analyze(ctx, f)
		if err != nil || cold.Quality != QualityOK || cold.Tracked {
			t.Fatalf("%s: cold analysis %+v %v", name, cold, err)
		}
		b := cold.Box
		for _, tc := range []struct {
			name        string
			hint        image.Rectangle
			wantTracked bool
			maxDistance float64
		}{
			{"hint on the face", b, true, maxNear[engine]},
			{"face moved by a fifth of its size", b.Add(image.Pt(b.Dx()/5, -b.Dy()/5)), true, maxNear[engine]},
			{"hint where there is no face", image.Rect(0, 0, 60, 60), false, 0},
			{"no hint", image.Rectangle{}, false, 0},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				a, err := p.AnalyzeNear(ctx, f, tc.hint)
				if err != nil {
					t.Fatal(err)
				}
				if a.Tracked != tc.wantTracked || a.Quality != QualityOK || a.Faces != 1 {
					t.Fatalf("tracked %v quality %s faces %d; want tracked %v, ok, 1", a.Tracked, a.Quality, a.Faces, tc.wantTracked)
				}
				if d := Distance(engine, a.Descriptor, cold.Descriptor); d > tc.maxDistance {
					t.Errorf("descriptor %.3f from Analyze's, want at most %.3f", d, tc.maxDistance)
				}
				if ov := area(a.Box.Intersect(cold.Box)); ov*2 < area(cold.Box) {
					t.Errorf("box %v, Analyze's %v", a.Box, cold.Box)
				}
			})
		}
	}
}
