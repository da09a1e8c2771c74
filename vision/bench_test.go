package vision

import (
	"context"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// benchFrame is a 1024x683 JPEG from enroll-test: scaled to 640 wide for detection.
func benchFrame(b *testing.B) (string, []byte) {
	path := filepath.Join(facesDir(b), "enroll-test", "bona3.jpg")
	return path, readFile(b, path)
}

// BenchmarkDecode: JPEG bytes to a BGR Mat, header checks included.
func BenchmarkDecode(b *testing.B) {
	_, body := benchFrame(b)
	cfg := DefaultConfig()
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		f, err := Decode(body, "image/jpeg", cfg)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func benchPipeline(b *testing.B) (*Pipeline, *Frame) {
	cfg := dlibConfig()
	cfg.Workers = 1
	p := newTestPipeline(b, cfg)
	_, body := benchFrame(b)
	f, err := Decode(body, "image/jpeg", cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(f.Close)
	return p, f
}

// BenchmarkDetect: gray, scale, pad and dlib's HOG detector.
func BenchmarkDetect(b *testing.B) {
	p, f := benchPipeline(b)
	rec, _ := p.acquire(context.Background())
	defer func() { p.pool <- rec }()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if faces, err := p.detect(rec, f, false); err != nil || len(faces) != 1 {
			b.Fatal(len(faces), err)
		}
	}
}

// BenchmarkDescribe: crop from the full frame, scale, encode and go-face's landmarks+descriptor.
func BenchmarkDescribe(b *testing.B) {
	p, f := benchPipeline(b)
	rec, _ := p.acquire(context.Background())
	defer func() { p.pool <- rec }()
	faces, err := p.detect(rec, f, false)
	if err != nil || len(faces) != 1 {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok, err := p.describeCrop(rec, f, faces[0].box, true); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkAnalyze: the whole per-frame path on one recognizer.
func BenchmarkAnalyze(b *testing.B) {
	p, f := benchPipeline(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if a, err := p.Analyze(context.Background(), f); err != nil || a.Quality != QualityOK {
			b.Fatal(a.Quality, err)
		}
	}
}

// TestRecognizerMemory measures the resident memory one worker of each engine costs (doc.go). It
// measures in a fresh copy of the test binary: in this process earlier tests have loaded and
// freed recognizers, and the C heap they leave behind would absorb new ones without growing RSS.
func TestRecognizerMemory(t *testing.T) {
	if e := os.Getenv(rssChildEnv); e != "" {
		measureRecognizerRSS(t, e)
		return
	}
	// The documented range per worker, by engine: dlib about 93 MiB, mobilefacenet about 9 MiB.
	limits := map[string][2]int64{EngineDlib: {10 << 20, 600 << 20}, EngineMobileFaceNet: {1 << 20, 60 << 20}}
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { testRecognizerMemory(t, engine, limits[engine]) })
	}
}

func testRecognizerMemory(t *testing.T, engine string, limit [2]int64) {
	// The child loads the models this process found (it would skip, printing nothing, without).
	dir := modelsDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecognizerMemory$", "-test.count=1")
	cmd.Env = append(os.Environ(), rssChildEnv+"="+engine, "DOORFACE_MODELS="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("measuring child: %v\n%s", err, out)
	}
	var one, three int64
	found := false
	for _, line := range strings.Split(string(out), "\n") {
		if _, err := fmt.Sscanf(line, "recognizer-rss one=%d three=%d", &one, &three); err == nil {
			found = true
		}
	}
	if !found {
		t.Fatalf("measuring child printed no result:\n%s", out)
	}
	perRec := three / 3
	t.Logf("RSS: +%d MiB for 1 recognizer, +%d MiB for 3 (%d MiB each)", one>>20, three>>20, perRec>>20)
	if perRec > limit[1] || perRec < limit[0] {
		t.Errorf("%d MiB per recognizer is outside the documented range", perRec>>20)
	}
}

// rssChildEnv marks the copy of the test binary that TestRecognizerMemory runs.
const rssChildEnv = "DOORFACE_VISION_RSS_CHILD"

// measureRecognizerRSS loads 1, then 2 more recognizers in a fresh process and prints the RSS
// growth for the parent to check.
func measureRecognizerRSS(t *testing.T, engine string) {
	dir := modelsDir(t)
	runtime.GC()
	base := rssBytes(t)
	cfg := engineConfig(engine)
	cfg.Workers = 1
	p1, err := NewPipeline(dir, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	one := rssBytes(t) - base
	cfg.Workers = 2
	p2, err := NewPipeline(dir, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	three := rssBytes(t) - base
	p1.Close()
	p2.Close()
	fmt.Printf("recognizer-rss one=%d three=%d\n", one, three)
}

// engineFrame letterboxes an enroll-test photo into a w x h camera-like JPEG (quality 90).
func engineFrame(b *testing.B, name string, w, h int) []byte {
	cfg := DefaultConfig()
	f, err := Decode(readFile(b, filepath.Join(facesDir(b), "enroll-test", name)), "image/jpeg", cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := min(float64(w)/float64(f.size.X), float64(h)/float64(f.size.Y))
	sz := image.Pt(int(float64(f.size.X)*s), int(float64(f.size.Y)*s))
	scaled := gocv.NewMat()
	defer scaled.Close()
	gocv.Resize(f.mat, &scaled, sz, 0, 0, gocv.InterpolationArea)
	canvas := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 90, 90, 0), h, w, gocv.MatTypeCV8UC3)
	defer canvas.Close()
	roi := canvas.Region(image.Rect((w-sz.X)/2, (h-sz.Y)/2, (w-sz.X)/2+sz.X, (h-sz.Y)/2+sz.Y))
	scaled.CopyTo(&roi)
	roi.Close()
	jpg, err := encodeJPEG(canvas, 90)
	if err != nil {
		b.Fatal(err)
	}
	return jpg
}

// BenchmarkEngines: the whole per-frame path from JPEG bytes (decode, detect, gate, describe)
// on one worker, per engine, against the naive go-face baseline (RecognizeSingle on the same
// bytes), at 1280x720 and 640x480; each reports its p50 (ms/p50) as well as the mean. Run with
// `go test -run '^$' -bench BenchmarkEngines -benchtime 40x ./vision`.
func BenchmarkEngines(b *testing.B) {
	for _, size := range []image.Point{{1280, 720}, {640, 480}} {
		jpg := engineFrame(b, "bona3.jpg", size.X, size.Y)
		for _, engine := range []string{EngineMobileFaceNet, EngineDlib, "baseline"} {
			b.Run(fmt.Sprintf("%dx%d/%s", size.X, size.Y, engine), func(b *testing.B) {
				var step func() error
				if engine == "baseline" {
					base, err := NewBaseline(modelsDir(b))
					if err != nil {
						b.Fatal(err)
					}
					defer base.Close()
					step = func() error {
						_, _, ok, err := base.Recognize(jpg)
						if err == nil && !ok {
							err = fmt.Errorf("baseline found no single face")
						}
						return err
					}
				} else {
					cfg := engineConfig(engine)
					cfg.Workers = 1
					p := newTestPipeline(b, cfg)
					step = func() error {
						f, err := Decode(jpg, "image/jpeg", cfg)
						if err != nil {
							return err
						}
						defer f.Close()
						a, err := p.Analyze(context.Background(), f)
						if err == nil && a.Quality != QualityOK {
							err = fmt.Errorf("quality %s", a.Quality)
						}
						return err
					}
				}
				if err := step(); err != nil { // warm-up
					b.Fatal(err)
				}
				times := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					t0 := time.Now()
					if err := step(); err != nil {
						b.Fatal(err)
					}
					times = append(times, time.Since(t0))
				}
				slices.Sort(times)
				b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms/p50")
			})
		}
	}
}
