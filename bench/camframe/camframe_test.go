package camframe

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"testing"
)

func TestFrame(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 100, 50))
	draw.Draw(src, src.Bounds(), &image.Uniform{color.RGBA{200, 30, 30, 255}}, image.Point{}, draw.Src)
	for _, tc := range []struct {
		name   string
		region image.Rectangle
		scale  float64
		w, h   int
	}{
		{"whole photo scaled up", src.Bounds(), 2, 640, 480},
		{"region larger than the frame is cut", src.Bounds(), 20, 320, 240},
		{"part of the photo", image.Rect(10, 10, 40, 40), 3, 1280, 720},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Frame(src, tc.region, tc.scale, tc.w, tc.h)
			if err != nil {
				t.Fatal(err)
			}
			img, err := jpeg.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if img.Bounds().Dx() != tc.w || img.Bounds().Dy() != tc.h {
				t.Fatalf("size %v", img.Bounds())
			}
			// The photo's centre lands a tenth of the width left of the frame's centre.
			r, g, _, _ := img.At(tc.w/2-tc.w/10, tc.h/2).RGBA()
			if r>>8 < 150 || g>>8 > 80 {
				t.Errorf("photo centre is %d,%d, want red", r>>8, g>>8)
			}
			if tc.scale*float64(tc.region.Dx()) < float64(tc.w)/2 {
				r, g, _, _ := img.At(2, 2).RGBA()
				if r>>8 < 100 || r>>8 > 135 || g>>8 < 100 || g>>8 > 135 {
					t.Errorf("corner is %d,%d, want background gray", r>>8, g>>8)
				}
			}
		})
	}
	if _, err := Frame(src, image.Rect(200, 200, 300, 300), 1, 10, 10); err == nil {
		t.Error("region outside the photo accepted")
	}
}

func TestFaceRegion(t *testing.T) {
	got := FaceRegion(image.Rect(0, 0, 100, 100), image.Rect(40, 40, 60, 60), 1)
	if want := image.Rect(20, 20, 80, 80); got != want {
		t.Errorf("FaceRegion = %v, want %v", got, want)
	}
	if got := FaceRegion(image.Rect(0, 0, 100, 100), image.Rect(0, 0, 50, 50), 1); got != image.Rect(0, 0, 100, 100) {
		t.Errorf("clipping: %v", got)
	}
}
