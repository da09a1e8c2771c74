package main

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"testing"
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
// JPEG at quality 90.
func cameraFrame(t testing.TB, photo []byte, w, h, faceSide int) []byte {
	t.Helper()
	src, _, err := image.Decode(bytes.NewReader(photo))
	if err != nil {
		t.Fatal(err)
	}
	sb := src.Bounds()
	scale := float64(faceSide) / float64(max(sb.Dx(), sb.Dy()))
	dw, dh := int(float64(sb.Dx())*scale), int(float64(sb.Dy())*scale)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), &image.Uniform{color.RGBA{118, 118, 118, 255}}, image.Point{}, draw.Src)
	ox, oy := (w-dw)/2-w/10, (h-dh)/2
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			// bilinear sample
			fx, fy := (float64(x)+0.5)/scale-0.5, (float64(y)+0.5)/scale-0.5
			x0, y0 := int(fx), int(fy)
			ax, ay := fx-float64(x0), fy-float64(y0)
			x1, y1 := min(x0+1, sb.Dx()-1), min(y0+1, sb.Dy()-1)
			x0, y0 = max(x0, 0), max(y0, 0)
			var out [3]float64
			for i, p := range [4]struct {
				x, y int
				w    float64
			}{{x0, y0, (1 - ax) * (1 - ay)}, {x1, y0, ax * (1 - ay)}, {x0, y1, (1 - ax) * ay}, {x1, y1, ax * ay}} {
				_ = i
				r, g, b, _ := src.At(sb.Min.X+p.x, sb.Min.Y+p.y).RGBA()
				out[0] += p.w * float64(r>>8)
				out[1] += p.w * float64(g>>8)
				out[2] += p.w * float64(b>>8)
			}
			dst.SetRGBA(ox+x, oy+y, color.RGBA{uint8(out[0]), uint8(out[1]), uint8(out[2]), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCameraFrame(t *testing.T) {
	f := cameraFrame(t, readPhoto(t, "sheldon1.png"), 1280, 720, 360)
	cfg, format, err := image.DecodeConfig(bytes.NewReader(f))
	if err != nil || format != "jpeg" || cfg.Width != 1280 || cfg.Height != 720 {
		t.Fatalf("frame: %v %s %+v", err, format, cfg)
	}
}
