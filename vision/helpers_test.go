package vision

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// repoRoot walks up from the package directory to the directory holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
}

// modelsDir returns DOORFACE_MODELS or <repo>/models, skipping when the models of either engine
// are absent (a developer machine without `make models`; CI always has them).
func modelsDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("DOORFACE_MODELS")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "models")
	}
	for _, e := range engines {
		if err := CheckModels(dir, e); err != nil {
			t.Skipf("face models not available (%v); run `make models` or set DOORFACE_MODELS", err)
		}
	}
	return dir
}

// facesDir returns DOORFACE_FACES or ../../shared/faces from the repo root, used in place.
func facesDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("DOORFACE_FACES")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "..", "shared", "faces")
	}
	if _, err := os.Stat(filepath.Join(dir, "enroll-test")); err != nil {
		t.Skipf("test photos not available (%v); set DOORFACE_FACES", err)
	}
	return dir
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contentTypeOf(path string) string {
	if strings.HasSuffix(strings.ToLower(path), ".png") {
		return "image/png"
	}
	return "image/jpeg"
}

func listImages(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?i)\.(jpe?g|png)$`)
	for _, e := range ents {
		if re.MatchString(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

func newTestPipeline(t testing.TB, cfg Config) *Pipeline {
	t.Helper()
	p, err := NewPipeline(modelsDir(t), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func encodeB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// engines are the engines every engine-neutral test runs with.
var engines = []string{EngineDlib, EngineMobileFaceNet}

// dlibConfig is DefaultConfig with the dlib engine and its calibrated thresholds: the rates the
// dlib tests assert were measured with it.
func dlibConfig() Config { return DefaultConfig().ForEngine(EngineDlib) }

// engineConfig is DefaultConfig for engine, with its calibrated thresholds.
func engineConfig(engine string) Config { return DefaultConfig().ForEngine(engine) }
