package web_test

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // camera frames
	"os"
	"strings"
	"testing"
)

// writeY4M writes img as a YUV4MPEG2 video of n identical frames at 10 fps (4:2:0, BT.601
// limited range): the file Chromium's fake capture device plays in a loop as the camera.
func writeY4M(path string, img image.Image, n int) error {
	b := img.Bounds()
	w, h := b.Dx()&^1, b.Dy()&^1 // 4:2:0 needs even sides
	ys := make([]byte, w*h)
	us := make([]byte, (w/2)*(h/2))
	vs := make([]byte, (w/2)*(h/2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			yy, _, _ := color.RGBToYCbCr(uint8(r>>8), uint8(g>>8), uint8(bl>>8))
			ys[y*w+x] = byte(16 + int(yy)*219/255)
		}
	}
	for y := 0; y < h/2; y++ {
		for x := 0; x < w/2; x++ {
			var cb, cr int
			for _, d := range [4][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				r, g, bl, _ := img.At(b.Min.X+2*x+d[0], b.Min.Y+2*y+d[1]).RGBA()
				_, u, v := color.RGBToYCbCr(uint8(r>>8), uint8(g>>8), uint8(bl>>8))
				cb += int(u)
				cr += int(v)
			}
			us[y*(w/2)+x] = byte(16 + (cb/4)*224/255)
			vs[y*(w/2)+x] = byte(16 + (cr/4)*224/255)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F10:1 Ip A1:1 C420jpeg\n", w, h)
	for range n {
		bw.WriteString("FRAME\n")
		bw.Write(ys)
		bw.Write(us)
		bw.Write(vs)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// y4mFromJPEG decodes a JPEG camera frame and writes it as a Y4M video.
func y4mFromJPEG(t *testing.T, path string, jpg []byte) {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(jpg))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeY4M(path, img, 3); err != nil {
		t.Fatal(err)
	}
}

// TestWriteY4M checks the header and the size of each frame (Y plus two quarter planes).
func TestWriteY4M(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 6, 4))
	for i := range img.Pix {
		img.Pix[i] = 255 // white
	}
	path := t.TempDir() + "/w.y4m"
	if err := writeY4M(path, img, 2); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header := "YUV4MPEG2 W6 H4 F10:1 Ip A1:1 C420jpeg\n"
	if !strings.HasPrefix(string(b), header) {
		t.Fatalf("header %q", b[:min(len(b), 60)])
	}
	frame := len("FRAME\n") + 6*4 + 2*(3*2)
	if len(b) != len(header)+2*frame {
		t.Fatalf("size %d, want %d", len(b), len(header)+2*frame)
	}
	if y := b[len(header)+len("FRAME\n")]; y != 235 {
		t.Fatalf("white luma = %d, want 235 (limited range)", y)
	}
	if u := b[len(header)+len("FRAME\n")+24]; u != 128 {
		t.Fatalf("white chroma = %d, want 128", u)
	}
}
