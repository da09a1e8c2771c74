package vision

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image/jpeg"
	"testing"
	"time"
)

// progressiveJPEG builds, marker by marker, a real progressive grayscale JPEG of w x h (a
// multiple of 8) whose coefficients are all zero (a flat mid-gray picture): one DC scan, then
// one AC scan per band of bands (each {Ss, Se}, first scans, no successive approximation), then
// extra copies of the last AC scan (a scan bomb's padding: decoders revisit the image for each).
// Go's image/jpeg encoder writes baseline only, hence this builder.
func progressiveJPEG(w, h int, bands [][2]byte, extra int) []byte {
	var b bytes.Buffer
	seg := func(marker byte, payload ...byte) {
		b.Write([]byte{0xFF, marker})
		binary.Write(&b, binary.BigEndian, uint16(len(payload)+2))
		b.Write(payload)
	}
	b.Write([]byte{0xFF, 0xD8})
	seg(0xE0, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0) // APP0 JFIF
	dqt := append([]byte{0x00}, bytes.Repeat([]byte{1}, 64)...)
	seg(0xDB, dqt...)
	seg(0xC2, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 1, 1, 0x11, 0) // SOF2, 1 component
	// One Huffman code of length 1 ("0") for symbol 0 in both tables: DC difference 0, AC EOB.
	table := func(class byte) []byte {
		t := []byte{class, 1}
		t = append(t, make([]byte, 15)...)
		return append(t, 0x00)
	}
	seg(0xC4, table(0x00)...)
	seg(0xC4, table(0x10)...)
	blocks := (w / 8) * (h / 8)
	// entropy data: one "0" bit per block (DC: difference 0; AC first scan: EOB), padded with 1s.
	data := func(bits int) []byte {
		out := make([]byte, (bits+7)/8)
		if r := bits % 8; r != 0 {
			out[len(out)-1] = byte(1<<(8-r)) - 1
		}
		return out
	}
	scan := func(ss, se byte) {
		seg(0xDA, 1, 1, 0x00, ss, se, 0x00)
		b.Write(data(blocks))
	}
	scan(0, 0)
	for _, band := range bands {
		scan(band[0], band[1])
	}
	for range extra {
		last := bands[len(bands)-1]
		scan(last[0], last[1])
	}
	b.Write([]byte{0xFF, 0xD9})
	return b.Bytes()
}

// libjpegBands is the AC part of libjpeg's default progressive script for one component,
// without successive approximation: with the DC scan, 5 scans.
var libjpegBands = [][2]byte{{1, 5}, {6, 14}, {15, 35}, {36, 63}}

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
