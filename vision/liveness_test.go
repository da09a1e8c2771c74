package vision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/doorface/doorface/bench/camframe"
	"github.com/doorface/doorface/machine"
	"gocv.io/x/gocv"
)

// livenessThreshold is machine.DefaultLivenessThreshold: the pad samples are single frames, so
// this only checks each lands on its side of the session threshold.
const livenessThreshold = machine.DefaultLivenessThreshold

// TestLivenessPad: the pad/ samples (phone frames stored sideways, EXIF orientation 6) through
// Analyze with liveness on, both engines: the live face scores above the threshold, the print
// and the screen below.
func TestLivenessPad(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			cfg := engineConfig(engine)
			cfg.Liveness, cfg.Workers = true, 1
			p := newTestPipeline(t, cfg)
			for _, tc := range []struct {
				file string
				live bool
			}{{"live1.jpg", true}, {"print1.jpg", false}, {"screen1.jpg", false}} {
				f := decodeFile(t, filepath.Join(facesDir(t), "pad", tc.file), cfg)
				if f.Size() != image.Pt(480, 640) {
					t.Fatalf("%s decoded %v: EXIF orientation not applied", tc.file, f.Size())
				}
				a, err := p.Analyze(context.Background(), f)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
				if a.Quality != QualityOK || !a.LivenessScored {
					t.Fatalf("%s: quality %s, scored %v", tc.file, a.Quality, a.LivenessScored)
				}
				t.Logf("%s %s: P(real) %.3f (box %v, %v)", engine, tc.file, a.Liveness, a.Box, a.Timings.Liveness)
				if (a.Liveness >= livenessThreshold) != tc.live {
					t.Errorf("%s: P(real) %.3f, want live=%v at %.2f", tc.file, a.Liveness, tc.live, livenessThreshold)
				}
			}
		})
	}
}

// TestLivenessOffScoresNothing: without Config.Liveness nothing is scored and ScoreLiveness
// refuses.
func TestLivenessOffScoresNothing(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workers = 1
	p := newTestPipeline(t, cfg)
	f := decodeFile(t, filepath.Join(facesDir(t), "pad", "live1.jpg"), cfg)
	defer f.Close()
	a, err := p.Analyze(context.Background(), f)
	if err != nil || a.LivenessScored {
		t.Fatalf("Analyze: scored %v, err %v", a.LivenessScored, err)
	}
	if _, err := p.ScoreLiveness(context.Background(), f); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("ScoreLiveness without liveness: %v, want ErrBadConfig", err)
	}
}

// TestLivenessModelMissing: a pipeline with liveness on refuses to start without its models,
// naming the file.
func TestLivenessModelMissing(t *testing.T) {
	dir := t.TempDir()
	for _, name := range ModelFiles(EngineMobileFaceNet) {
		if err := os.Symlink(filepath.Join(modelsDir(t), name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(modelsDir(t), LivenessV2File), filepath.Join(dir, LivenessV2File)); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Workers = 1
	cfg.Liveness = true
	_, err := NewPipeline(dir, cfg, nil)
	if !errors.Is(err, ErrModelMissing) || !strings.Contains(err.Error(), LivenessV1SEFile) {
		t.Fatalf("NewPipeline without %s: %v", LivenessV1SEFile, err)
	}
	cfg.Liveness = false
	p, err := NewPipeline(dir, cfg, nil)
	if err != nil {
		t.Fatalf("liveness off needs no liveness model: %v", err)
	}
	p.Close()
}

// TestLivenessCrop: the crop is the box grown around its centre, shifted inside the frame, never
// clipped, and smaller only when the frame is too small for the scale.
func TestLivenessCrop(t *testing.T) {
	sz := image.Pt(480, 640)
	tests := []struct {
		name  string
		box   image.Rectangle
		scale float64
		want  image.Point // crop size
	}{
		{"centre", image.Rect(200, 300, 280, 380), 2.7, image.Pt(217, 217)},
		{"at the left edge: shifted", image.Rect(0, 300, 80, 380), 2.7, image.Pt(217, 217)},
		{"too large: capped", image.Rect(100, 100, 300, 300), 4.0, image.Pt(480, 480)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := livenessCrop(tc.box, sz, tc.scale)
			if !r.In(image.Rectangle{Max: sz}) {
				t.Fatalf("crop %v outside the frame", r)
			}
			if d := r.Size().Sub(tc.want); d.X < -1 || d.X > 1 || d.Y < -1 || d.Y > 1 {
				t.Fatalf("crop %v size %v, want about %v", r, r.Size(), tc.want)
			}
		})
	}
}

// TestPrintMargin measures the repeat margin (CALIBRATION.md, "Distinct captures"): a frame
// saved again losslessly or at its own JPEG quality is the same picture; the same scene with
// simulated sensor noise (Gaussian, sigma 1..3 gray levels, then JPEG quality 90 as a camera
// writes it) is a distinct capture. Run with -v for the table.
func TestPrintMargin(t *testing.T) {
	// Camera-sized frames: the pad/ phone frames and a test-kit camera frame (an enroll-test
	// photo on gray, 640x480, as the e2e tests send); and a 150 px crop, whose fine detail JPEG
	// keeps less well (reported, not a camera frame).
	raj := filepath.Join(facesDir(t), "enroll-test", "raj1.png")
	src, err := png.Decode(bytes.NewReader(readFile(t, raj)))
	if err != nil {
		t.Fatal(err)
	}
	cam, err := camframe.Frame(src, src.Bounds(), 2, 640, 480)
	if err != nil {
		t.Fatal(err)
	}
	camPath := filepath.Join(t.TempDir(), "camera-raj1.jpg")
	if err := os.WriteFile(camPath, cam, 0o600); err != nil {
		t.Fatal(err)
	}
	paths := append(listImages(t, filepath.Join(facesDir(t), "pad")), camPath, raj)
	for _, path := range paths {
		camera := path != raj
		m := gocv.IMRead(path, gocv.IMReadColor)
		if m.Empty() {
			t.Fatalf("cannot read %s", path)
		}
		base, err := printOf(m, PrintSize)
		if err != nil {
			t.Fatal(err)
		}
		mad := func(p []byte) float64 {
			s := 0
			for i := range p {
				d := int(p[i]) - int(base[i])
				s += max(d, -d)
			}
			return float64(s) / float64(len(p))
		}
		reencode := func(src gocv.Mat, ext gocv.FileExt, params []int) []byte {
			buf, err := gocv.IMEncodeWithParams(ext, src, params)
			if err != nil {
				t.Fatal(err)
			}
			defer buf.Close()
			d, err := gocv.IMDecode(buf.GetBytes(), gocv.IMReadColor)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			p, err := printOf(d, PrintSize)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		line := filepath.Base(path) + ":"
		for _, q := range []int{30, 50, 70, 90, 95} {
			p := reencode(m, gocv.JPEGFileExt, []int{gocv.IMWriteJpegQuality, q})
			line += fmt.Sprintf(" q%d=%.2f", q, mad(p))
			if path == camPath && q == 90 && !machine.SamePicture(base, p) {
				// A replayed frame saved again at the camera's own quality.
				t.Errorf("%s re-encoded at its own quality %d: MAD %.2f, want the same picture (<= %.2f)", path, q, mad(p), machine.RepeatMargin)
			}
		}
		if p := reencode(m, gocv.PNGFileExt, []int{gocv.IMWritePngCompression, 3}); camera && !machine.SamePicture(base, p) {
			t.Errorf("%s as PNG: not the same picture", path)
		}
		for _, sigma := range []float64{1, 2, 3} {
			noisy := m.Clone()
			b, err := noisy.DataPtrUint8()
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(sigma), 7))
			for i := range b {
				b[i] = uint8(min(255, max(0, float64(b[i])+rng.NormFloat64()*sigma+0.5)))
			}
			p := reencode(noisy, gocv.JPEGFileExt, []int{gocv.IMWriteJpegQuality, 90})
			noisy.Close()
			line += fmt.Sprintf(" noise%.0f=%.2f", sigma, mad(p))
			if camera && machine.SamePicture(base, p) {
				t.Errorf("%s with sensor noise sigma %.0f: MAD %.2f, flagged as the same picture", path, sigma, mad(p))
			}
		}
		m.Close()
		t.Log(line)
	}
}

// BenchmarkLiveness is the per-frame cost of the liveness check: both models on the face box
// of a 640x480 (EXIF-rotated) phone frame, and Print.
func BenchmarkLiveness(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Liveness, cfg.Workers = true, 1
	p := newTestPipeline(b, cfg)
	path := filepath.Join(facesDir(b), "pad", "live1.jpg")
	f, err := Decode(readFile(b, path), "image/jpeg", cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	a, err := p.Analyze(context.Background(), f)
	if err != nil || !a.LivenessScored {
		b.Fatal(a.Quality, err)
	}
	w, err := p.acquire(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { p.pool <- w }()
	b.Run("models", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := w.live.score(f.mat, a.Box); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("print", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := printOf(f.mat, PrintSize); err != nil {
				b.Fatal(err)
			}
		}
	})
}
