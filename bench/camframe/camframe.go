// Package camframe composes camera-sized test frames from face photos: a region of a photo,
// scaled, placed on a mid-gray background slightly left of centre (as a door tablet sees a person
// standing in front of it), encoded as JPEG. It is pure Go so the benchmark (bench/) and the root
// package's tests share one implementation.
//
// # What it owns
//
//   - Frame: region of a photo to a w x h JPEG at quality 90, bilinear scaling.
//
// # What it must not do
//
//   - Detect faces or depend on cgo: callers say which region holds the face.
//   - Copy photos anywhere: callers read them in place.
package camframe

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
)

// Background is the gray the frame is filled with around the photo.
var Background = color.RGBA{118, 118, 118, 255}

// Frame returns a w x h JPEG (quality 90): region of src scaled by scale (bilinear), on
// Background, placed centred vertically and a tenth of the width left of centre; parts that fall
// outside the frame are cut off.
func Frame(src image.Image, region image.Rectangle, scale float64, w, h int) ([]byte, error) {
	region = region.Intersect(src.Bounds())
	if region.Empty() || scale <= 0 || w <= 0 || h <= 0 {
		return nil, fmt.Errorf("camframe: empty region %v, scale %g or size %dx%d", region, scale, w, h)
	}
	dw, dh := int(float64(region.Dx())*scale), int(float64(region.Dy())*scale)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), &image.Uniform{Background}, image.Point{}, draw.Src)
	ox, oy := (w-dw)/2-w/10, (h-dh)/2
	for y := max(0, -oy); y < dh && oy+y < h; y++ {
		for x := max(0, -ox); x < dw && ox+x < w; x++ {
			fx, fy := (float64(x)+0.5)/scale-0.5, (float64(y)+0.5)/scale-0.5
			x0, y0 := int(fx), int(fy)
			ax, ay := fx-float64(x0), fy-float64(y0)
			x1, y1 := min(x0+1, region.Dx()-1), min(y0+1, region.Dy()-1)
			x0, y0 = max(x0, 0), max(y0, 0)
			var out [3]float64
			for _, p := range [4]struct {
				x, y int
				w    float64
			}{{x0, y0, (1 - ax) * (1 - ay)}, {x1, y0, ax * (1 - ay)}, {x0, y1, (1 - ax) * ay}, {x1, y1, ax * ay}} {
				r, g, b, _ := src.At(region.Min.X+p.x, region.Min.Y+p.y).RGBA()
				out[0] += p.w * float64(r>>8)
				out[1] += p.w * float64(g>>8)
				out[2] += p.w * float64(b>>8)
			}
			dst.SetRGBA(ox+x, oy+y, color.RGBA{uint8(out[0]), uint8(out[1]), uint8(out[2]), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 90}); err != nil {
		return nil, fmt.Errorf("camframe: %w", err)
	}
	return buf.Bytes(), nil
}

// FaceRegion returns the part of a photo of size bounds to show for a face box: the box grown by
// margin times its size on every side, clipped to bounds.
func FaceRegion(bounds, box image.Rectangle, margin float64) image.Rectangle {
	mx, my := int(float64(box.Dx())*margin), int(float64(box.Dy())*margin)
	return image.Rect(box.Min.X-mx, box.Min.Y-my, box.Max.X+mx, box.Max.Y+my).Intersect(bounds)
}
