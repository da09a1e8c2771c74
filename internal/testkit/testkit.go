// Package testkit is the one rig of doorface's tests: where the models and photos are, a log
// buffer safe for concurrent writers, the daemon binary built once per test run, a running
// `doorface serve` child process, and a test wrapper of the API client (transport/client).
//
// Models and Faces each read one environment variable (DOORFACE_MODELS, DOORFACE_FACES). When
// the data is missing they skip the test on a developer's machine and fail it in CI (CI=true),
// where the data must be there.
package testkit

import (
	"bytes"
	"image"
	_ "image/jpeg" // photos and frames
	_ "image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/doorface/doorface/bench/camframe"
)

// Root is the repository's root directory (the module's main package).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// inCI reports whether the tests run in CI, where missing test data is a failure.
func inCI() bool { return os.Getenv("CI") != "" && os.Getenv("CI") != "false" }

// missing skips t on a developer's machine and fails it in CI.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// Models returns the installed models directory: $DOORFACE_MODELS, else the repository's models/
// (which `make models` fills from $MODEL_MIRROR, ../shared/models in CI).
func Models(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("DOORFACE_MODELS")
	if dir == "" {
		dir = filepath.Join(Root(), "models")
	}
	dir, _ = filepath.Abs(dir)
	if _, err := os.Stat(filepath.Join(dir, "dlib_face_recognition_resnet_model_v1.dat")); err != nil {
		missing(t, "models not installed in %s (run `make models`, or set DOORFACE_MODELS): %v", dir, err)
	}
	return dir
}

// Faces returns the shared photo folder: $DOORFACE_FACES, else ../shared/faces beside the
// repository.
func Faces(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("DOORFACE_FACES")
	if dir == "" {
		dir = filepath.Join(Root(), "..", "shared", "faces")
	}
	dir, _ = filepath.Abs(dir)
	if _, err := os.Stat(filepath.Join(dir, "enroll-test")); err != nil {
		missing(t, "test photos not found in %s (set DOORFACE_FACES): %v", dir, err)
	}
	return dir
}

// Photo reads a file under Faces, e.g. Photo(t, "enroll-test/raj1.jpg").
func Photo(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Faces(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// LogBuffer collects log output from concurrent writers.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write implements io.Writer.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// CameraFrame places the photo, scaled so its longer side is faceSide pixels, on a mid-gray w x h
// background slightly left of centre (as a tablet camera sees a person at the door), and encodes it
// as JPEG at quality 90 (bench/camframe, shared with `make bench`).
func CameraFrame(t testing.TB, photo []byte, w, h, faceSide int) []byte {
	t.Helper()
	src, _, err := image.Decode(bytes.NewReader(photo))
	if err != nil {
		t.Fatal(err)
	}
	sb := src.Bounds()
	b, err := camframe.Frame(src, sb, float64(faceSide)/float64(max(sb.Dx(), sb.Dy())), w, h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
