package vision

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mfnTFLite is MobileFaceNet's TFLite file in the model mirror, which scripts/tflite2onnx.py
// converts into MobileFaceNetFile.
const mfnTFLite = "mobilefacenet_sirius.tflite"

// Embedding agreement asked of the converter's network against the mirror's ONNX, per component of
// the L2-normalised 192-d descriptor, and how many real faces must be compared.
const (
	converterMaxDiff  = 1e-5
	converterMinFaces = 8
)

// modelMirror returns MODEL_MIRROR (relative to the repo root, as `make` is run there) or
// ../shared/models beside the repo, skipping when it does not hold MobileFaceNet's TFLite and ONNX
// files (a developer machine without the mirror; CI always has it).
func modelMirror(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MODEL_MIRROR")
	if dir == "" {
		dir = filepath.Join("..", "shared", "models")
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(repoRoot(t), dir)
	}
	for _, f := range []string{mfnTFLite, MobileFaceNetFile, YuNetFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Skipf("model mirror without %s (CI has ../shared/models; set MODEL_MIRROR): %v", f, err)
		}
	}
	return dir
}

// converterPython returns the python3 `make models` runs the converter with (PYTHON, default
// Debian's /usr/bin/python3), failing the test when it cannot import the converter's modules:
// `make deps` installs them, so their absence is a broken setup, not a reason to skip.
func converterPython(t *testing.T) string {
	t.Helper()
	python := os.Getenv("PYTHON")
	if python == "" {
		python = "/usr/bin/python3"
	}
	out, err := exec.Command(python, "-c", "import onnx, flatbuffers, numpy").CombinedOutput()
	if err != nil {
		t.Fatalf("%s cannot import onnx, flatbuffers and numpy (%v: %s): run `make deps`, which installs "+
			"python3-onnx, python3-flatbuffers and python3-numpy", python, err, bytes.TrimSpace(out))
	}
	return python
}

// knownSum reports whether models/SHA256SUMS lists sum for the file name.
func knownSum(t *testing.T, name, sum string) bool {
	t.Helper()
	for _, line := range strings.Split(string(readFile(t, filepath.Join(repoRoot(t), "models", "SHA256SUMS"))), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == sum && f[1] == name {
			return true
		}
	}
	return false
}

// TestConverterMatchesMirror: scripts/tflite2onnx.py turns the mirror's MobileFaceNet TFLite into
// the same bytes on every run, bytes that models/SHA256SUMS lists, and a network that gives the
// mirror ONNX's embeddings on real faces found and aligned by the engine's own code (Analyze).
func TestConverterMatchesMirror(t *testing.T) {
	mirror := modelMirror(t)
	python := converterPython(t)
	script := filepath.Join(repoRoot(t), "scripts", "tflite2onnx.py")
	dir := t.TempDir()
	var runs [2][]byte
	for i := range runs {
		out := filepath.Join(dir, fmt.Sprintf("%s.run%d", MobileFaceNetFile, i+1))
		start := time.Now()
		if msg, err := exec.Command(python, script, filepath.Join(mirror, mfnTFLite), out).CombinedOutput(); err != nil {
			t.Fatalf("tflite2onnx.py: %v\n%s", err, msg)
		}
		t.Logf("conversion %d: %.2f s", i+1, time.Since(start).Seconds())
		runs[i] = readFile(t, out)
	}
	if !bytes.Equal(runs[0], runs[1]) {
		t.Fatal("two conversions of the same TFLite differ: the converter is not deterministic")
	}
	h := sha256.Sum256(runs[0])
	sum := hex.EncodeToString(h[:])
	t.Logf("converted ONNX: %d bytes, SHA-256 %s, byte-identical to the mirror's: %v", len(runs[0]), sum,
		bytes.Equal(runs[0], readFile(t, filepath.Join(mirror, MobileFaceNetFile))))
	if !knownSum(t, MobileFaceNetFile, sum) {
		t.Errorf("the converter's output SHA-256 %s is not listed for %s in models/SHA256SUMS", sum, MobileFaceNetFile)
	}

	// Two pipelines on the mirror; the second one's network is replaced by the converted file
	// (loaded directly: the pipeline itself accepts only the pinned file).
	cfg := engineConfig(EngineMobileFaceNet)
	cfg.Workers = 1
	ref := newPipelineIn(t, mirror, cfg)
	conv := newPipelineIn(t, mirror, cfg)
	w, err := conv.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	net, err := loadMobileFaceNet(filepath.Join(dir, MobileFaceNetFile+".run1"))
	if err != nil {
		conv.pool <- w
		t.Fatal(err)
	}
	w.net.Close()
	w.net = net
	conv.pool <- w

	faces, worst := 0, 0.0
	for _, path := range listImages(t, filepath.Join(facesDir(t), "enroll-test")) {
		f := decodeFile(t, path, cfg)
		a, err := ref.Analyze(context.Background(), f)
		if err != nil || a.Quality != QualityOK {
			continue // the gate refuses a photo or two (turned away); both pipelines detect alike
		}
		b, err := conv.Analyze(context.Background(), f)
		if err != nil || b.Quality != QualityOK || b.Box != a.Box || len(b.Descriptor) != len(a.Descriptor) {
			t.Fatalf("%s: converted network: %v quality %s box %v (mirror: %v), %d values", filepath.Base(path), err,
				b.Quality, b.Box, a.Box, len(b.Descriptor))
		}
		diff := 0.0
		for i := range a.Descriptor {
			diff = math.Max(diff, math.Abs(float64(a.Descriptor[i]-b.Descriptor[i])))
		}
		if diff > converterMaxDiff {
			t.Errorf("%s: embeddings differ by up to %.2g per component (limit %g)", filepath.Base(path), diff, converterMaxDiff)
		}
		worst = math.Max(worst, diff)
		faces++
	}
	t.Logf("embeddings of %d faces: max abs difference per component %.3g", faces, worst)
	if faces < converterMinFaces {
		t.Errorf("only %d faces compared, want at least %d", faces, converterMinFaces)
	}
}

// newPipelineIn is newTestPipeline on the models in dir.
func newPipelineIn(t *testing.T, dir string, cfg Config) *Pipeline {
	t.Helper()
	p, err := NewPipeline(dir, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
