package main

import (
	"bytes"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/doorface/doorface/bench/camframe"
)

// facesDir is ../shared/faces (or $DOORFACE_FACES): real photos, used in place.
func facesDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("DOORFACE_FACES")
	if dir == "" {
		dir = filepath.Join("..", "shared", "faces")
	}
	if _, err := os.Stat(filepath.Join(dir, "enroll-test")); err != nil {
		t.Skipf("face photos not found at %s (CI always has ../shared/faces): %v", dir, err)
	}
	return dir
}

func readPhoto(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(facesDir(t), "enroll-test", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cameraFrame places the photo, scaled so its longer side is faceSide pixels, on a mid-gray w x h
// background slightly left of centre (as a tablet camera sees a person at the door), and encodes it as
// JPEG at quality 90 (bench/camframe, shared with `make bench`).
func cameraFrame(t testing.TB, photo []byte, w, h, faceSide int) []byte {
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

func TestCameraFrame(t *testing.T) {
	f := cameraFrame(t, readPhoto(t, "sheldon1.png"), 1280, 720, 360)
	cfg, format, err := image.DecodeConfig(bytes.NewReader(f))
	if err != nil || format != "jpeg" || cfg.Width != 1280 || cfg.Height != 720 {
		t.Fatalf("frame: %v %s %+v", err, format, cfg)
	}
}
