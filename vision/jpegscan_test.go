package vision

import (
	"bytes"
	"errors"
	"image/jpeg"
	"testing"
	"time"

	"github.com/doorface/doorface/internal/testkit"
)

// progressiveJPEG is testkit.ProgressiveJPEG (shared with the daemon's end-to-end tests).
func progressiveJPEG(w, h int, bands [][2]byte, extra int) []byte {
	return testkit.ProgressiveJPEG(w, h, bands, extra)
}

// libjpegBands is the AC part of libjpeg's default progressive script for one component.
var libjpegBands = testkit.LibjpegBands

// singleBands is one scan per AC coefficient: with the DC scan, 64 scans, still a valid
// progression.
func singleBands() [][2]byte {
	var out [][2]byte
	for k := byte(1); k <= 63; k++ {
		out = append(out, [2]byte{k, k})
	}
	return out
}

func TestScanJPEG(t *testing.T) {
	baseline := encodeJPEGImg(t, gradient(64, 48))
	normal := progressiveJPEG(64, 48, libjpegBands, 0)
	many := progressiveJPEG(16, 16, singleBands(), 0)
	bomb := progressiveJPEG(4096, 4096, libjpegBands, 1000)
	// The hand-built streams are real progressive JPEGs: Go's decoder (which does decode
	// progressive JPEGs) accepts them.
	for name, data := range map[string][]byte{"normal": normal, "many": many} {
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s progressive JPEG does not decode: %v", name, err)
		}
		if g := img.Bounds(); g.Dx() == 0 {
			t.Fatalf("%s decoded to %v", name, g)
		}
	}
	const budget = 4096 * 4096
	for _, tc := range []struct {
		name        string
		data        []byte
		budget      int64
		want        error
		kind        string
		scans       int
		progressive bool
	}{
		{name: "baseline from image/jpeg", data: baseline, budget: budget, scans: 1},
		{name: "progressive, libjpeg-like script", data: normal, budget: budget, scans: 5, progressive: true},
		{name: "progressive with 64 scans", data: many, budget: budget, want: ErrTooManyScans, kind: KindTooComplex},
		{name: "scan bomb 4096x4096 with 1005 scans", data: bomb, budget: budget, want: ErrTooManyScans, kind: KindTooComplex},
		{name: "over the pixel budget", data: normal, budget: 64*48 - 1, want: ErrTooManyPixels, kind: KindTooManyPixels},
		{name: "lossless coding process", data: bytes.Replace(baseline, []byte{0xFF, 0xC0}, []byte{0xFF, 0xC3}, 1),
			budget: budget, want: ErrTooManyScans, kind: KindTooComplex},
		{name: "segment overruns the data", data: baseline[:30], budget: budget, want: ErrNotImage, kind: KindNotImage},
		{name: "not a JPEG", data: []byte("GIF89a......"), budget: budget, want: ErrNotImage, kind: KindNotImage},
		{name: "scan before the frame header", data: append([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0, 2}, 0xFF, 0xD9),
			budget: budget, want: ErrNotImage, kind: KindNotImage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			info, err := ScanJPEG(tc.data, MaxJPEGScans, tc.budget)
			if d := time.Since(start); d > 50*time.Millisecond {
				t.Errorf("ScanJPEG took %v", d)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("ScanJPEG: %v", err)
				}
				if info.Scans != tc.scans || info.Progressive != tc.progressive || !info.EOI || info.Width == 0 {
					t.Fatalf("info %+v, want %d scans, progressive %v", info, tc.scans, tc.progressive)
				}
				return
			}
			var ie *InputError
			if !errors.Is(err, tc.want) || !errors.As(err, &ie) || ie.Kind != tc.kind {
				t.Fatalf("ScanJPEG err = %v (%T), want %v of kind %s", err, err, tc.want, tc.kind)
			}
		})
	}
}

// TestDecodeRefusesScanBomb: the scan bomb is refused by Decode before any pixel is decoded
// (today's code spends seconds on it), while a normal progressive JPEG still decodes.
func TestDecodeRefusesScanBomb(t *testing.T) {
	cfg := DefaultConfig()
	// 1024x1024 keeps the hand-built bomb (one bit per block per scan, no EOB runs) under
	// MaxBytes: 2 MiB for 1,005 scans.
	bomb := progressiveJPEG(1024, 1024, libjpegBands, 1000)
	start := time.Now()
	f, err := Decode(bomb, "image/jpeg", cfg)
	if err == nil {
		f.Close()
		t.Fatal("Decode accepted a JPEG with 1005 scans")
	}
	var ie *InputError
	if !errors.Is(err, ErrTooManyScans) || !errors.As(err, &ie) || ie.Kind != KindTooComplex {
		t.Fatalf("Decode(bomb) err = %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("refusing the bomb took %v", d)
	}

	f, err = Decode(progressiveJPEG(64, 48, libjpegBands, 0), "image/jpeg", cfg)
	if err != nil {
		t.Fatalf("Decode(normal progressive): %v", err)
	}
	defer f.Close()
	if f.Size().X != 64 || f.Size().Y != 48 {
		t.Fatalf("size %v", f.Size())
	}
}

// FuzzScanJPEG: ScanJPEG never panics, and what it accepts respects its limits and agrees with
// image/jpeg about the dimensions.
func FuzzScanJPEG(f *testing.F) {
	f.Add(progressiveJPEG(64, 48, libjpegBands, 0))
	f.Add(progressiveJPEG(16, 16, singleBands(), 0))
	f.Add(progressiveJPEG(4096, 4096, libjpegBands, 40))
	var b bytes.Buffer
	if err := jpeg.Encode(&b, gradient(32, 24), nil); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		const budget = 1 << 20
		info, err := ScanJPEG(data, MaxJPEGScans, budget)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *InputError", err)
			}
			return
		}
		if info.Scans > MaxJPEGScans || int64(info.Width)*int64(info.Height) > budget {
			t.Fatalf("accepted %+v", info)
		}
		if cfg, err := jpeg.DecodeConfig(bytes.NewReader(data)); err == nil && info.Width != 0 &&
			(cfg.Width != info.Width || cfg.Height != info.Height) {
			t.Fatalf("ScanJPEG says %dx%d, image/jpeg %dx%d", info.Width, info.Height, cfg.Width, cfg.Height)
		}
	})
}
