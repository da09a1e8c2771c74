package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/vision"
)

// FuzzBase64Frame fuzzes the base64 path the prototype app uses (POST /image and /save send
// text/plain): the daemon's frames adapter either returns a frame inside the size limits, which
// re-encodes as JPEG, or a refusal wrapping transport.ErrBadImage or ErrImageTooLarge and the *vision.InputError; never a panic or another error. Seeds cover
// padding, URL-safe and data-URL forms, whitespace and truncation. `make fuzz` runs it for minutes.
func FuzzBase64Frame(f *testing.F) {
	img := image.NewRGBA(image.Rect(0, 0, 16, 12))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13)
	}
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		f.Fatal(err)
	}
	std := base64.StdEncoding.EncodeToString(buf.Bytes())
	for _, s := range []string{
		std, "data:image/jpeg;base64," + std, base64.RawStdEncoding.EncodeToString(buf.Bytes()),
		base64.URLEncoding.EncodeToString(buf.Bytes()), std[:len(std)/2], std + "\n", " " + std,
		std[:40] + "\r\n" + std[40:], "data:image/jpeg," + std, "data:;base64,", "====", "", "A", "AA==",
		"/9j/", "iVBORw0KGgo=",
	} {
		f.Add([]byte(s))
	}
	cfg := vision.DefaultConfig()
	cfg.MaxBytes, cfg.MaxWidth, cfg.MaxHeight = 1<<20, 1024, 1024
	fr := frames{cfg: cfg}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := fr.Decode(body, "text/plain")
		if err != nil {
			var ie *vision.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is %T, not *vision.InputError", err, err)
			}
			if !errors.Is(err, transport.ErrBadImage) && !errors.Is(err, transport.ErrImageTooLarge) {
				t.Fatalf("error %v is not one of transport's input refusals", err)
			}
			return
		}
		vf, ok := got.(*frame)
		if !ok {
			t.Fatalf("frame of type %T", got)
		}
		defer vf.Close()
		if s := vf.fr.Size(); s.X <= 0 || s.Y <= 0 || s.X > 1024 || s.Y > 1024 {
			t.Fatalf("size %v outside the limits", s)
		}
		if _, err := vf.JPEG(); err != nil {
			t.Fatalf("JPEG: %v", err)
		}
	})
}
