package vision

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
)

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEGImg(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	return img
}

// pngChunk builds one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// craftPNG builds a gray 8-bit PNG whose IHDR claims w x h and whose IDAT holds raw zlib-compressed
// data (a decompression bomb when data is many zeros and w x h is huge).
func craftPNG(w, h uint32, raw []byte) []byte {
	var b bytes.Buffer
	b.Write(pngMagic)
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8] = 8 // bit depth; color type 0 (gray)
	b.Write(pngChunk("IHDR", ihdr))
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw)
	zw.Close()
	b.Write(pngChunk("IDAT", z.Bytes()))
	b.Write(pngChunk("IEND", nil))
	return b.Bytes()
}

// patchJPEGSize rewrites the dimensions in the SOF0 marker of a baseline JPEG.
func patchJPEGSize(t testing.TB, b []byte, w, h uint16) []byte {
	t.Helper()
	b = bytes.Clone(b)
	i := bytes.Index(b, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0 marker")
	}
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	return b
}

func TestDecode(t *testing.T) {
	cfg := DefaultConfig()
	rgbPNG := encodePNG(t, gradient(64, 48))
	rgbJPEG := encodeJPEGImg(t, gradient(64, 48))
	gray := image.NewGray(image.Rect(0, 0, 40, 30))
	grayPNG := encodePNG(t, gray)
	gray16 := image.NewGray16(image.Rect(0, 0, 20, 10))
	gray16PNG := encodePNG(t, gray16)
	b64 := base64.StdEncoding.EncodeToString(rgbJPEG)
	var wrapped strings.Builder
	for i := 0; i < len(b64); i += 76 {
		wrapped.WriteString(b64[i:min(len(b64), i+76)] + "\r\n")
	}
	random := make([]byte, 4096)
	rand.New(rand.NewSource(1)).Read(random)
	// A PNG claiming 60000x60000 whose IDAT inflates to 8 MiB of zeros (and would to 3.6 GB).
	bomb := craftPNG(60000, 60000, make([]byte, 8<<20))
	// A PNG whose header claims 100x100 while its data holds 10 rows of 10 pixels.
	shortData := craftPNG(100, 100, make([]byte, 10*11))
	// A valid 3000x3000 PNG of zeros: a few KiB that decode to 27 MB, refused by a 2048 limit.
	bigZeros := encodePNG(t, image.NewGray(image.Rect(0, 0, 3000, 3000)))
	small := cfg
	small.MaxWidth, small.MaxHeight = 2048, 2048
	tiny := cfg
	tiny.MaxBytes = 200

	tests := []struct {
		name  string
		body  []byte
		ctype string
		cfg   Config
		size  image.Point // want on success
		err   error       // want sentinel, nil for success
		kind  string
	}{
		{name: "png", body: rgbPNG, ctype: "image/png", size: image.Pt(64, 48)},
		{name: "jpeg", body: rgbJPEG, ctype: "image/jpeg", size: image.Pt(64, 48)},
		{name: "jpeg with charset param", body: rgbJPEG, ctype: "image/jpeg; foo=bar", size: image.Pt(64, 48)},
		{name: "png labelled jpeg", body: rgbPNG, ctype: "image/jpeg", size: image.Pt(64, 48)},
		{name: "grayscale png", body: grayPNG, ctype: "image/png", size: image.Pt(40, 30)},
		{name: "16-bit grayscale png", body: gray16PNG, ctype: "image/png", size: image.Pt(20, 10)},
		{name: "base64 jpeg", body: []byte(b64), ctype: "text/plain", size: image.Pt(64, 48)},
		{name: "base64 with line breaks", body: []byte(wrapped.String()), ctype: "text/plain; charset=utf-8", size: image.Pt(64, 48)},
		{name: "data URL", body: []byte("data:image/jpeg;base64," + b64), ctype: "text/plain", size: image.Pt(64, 48)},
		{name: "base64 without padding", body: []byte(strings.TrimRight(base64.StdEncoding.EncodeToString(rgbPNG), "=")), ctype: "text/plain", size: image.Pt(64, 48)},
		{name: "zero bytes", body: nil, ctype: "image/jpeg", err: ErrEmpty, kind: KindEmpty},
		{name: "empty base64", body: []byte("  \n"), ctype: "text/plain", err: ErrEmpty, kind: KindEmpty},
		{name: "random bytes", body: random, ctype: "image/jpeg", err: ErrNotImage, kind: KindNotImage},
		{name: "text as png", body: []byte("hello, world"), ctype: "image/png", err: ErrNotImage, kind: KindNotImage},
		{name: "truncated jpeg", body: rgbJPEG[:len(rgbJPEG)/2], ctype: "image/jpeg", err: ErrNotImage, kind: KindNotImage},
		{name: "jpeg header only", body: rgbJPEG[:20], ctype: "image/jpeg", err: ErrNotImage, kind: KindNotImage},
		{name: "truncated png", body: rgbPNG[:len(rgbPNG)-20], ctype: "image/png", err: ErrNotImage, kind: KindNotImage},
		{name: "png header lies about data", body: shortData, ctype: "image/png", err: ErrNotImage, kind: KindNotImage},
		{name: "png bomb 60000x60000", body: bomb, ctype: "image/png", err: ErrTooManyPixels, kind: KindTooManyPixels},
		{name: "jpeg claiming 60000x60000", body: patchJPEGSize(t, rgbJPEG, 60000, 60000), ctype: "image/jpeg", err: ErrTooManyPixels, kind: KindTooManyPixels},
		{name: "png over configured dimensions", body: bigZeros, ctype: "image/png", cfg: small, err: ErrTooManyPixels, kind: KindTooManyPixels},
		{name: "body over MaxBytes", body: rgbJPEG, ctype: "image/jpeg", cfg: tiny, err: ErrTooLarge, kind: KindTooLarge},
		{name: "base64 over MaxBytes", body: []byte(b64), ctype: "text/plain", cfg: tiny, err: ErrTooLarge, kind: KindTooLarge},
		{name: "base64 garbage", body: []byte("this is *not* base64!"), ctype: "text/plain", err: ErrBadBase64, kind: KindBadBase64},
		{name: "data URL without base64", body: []byte("data:image/jpeg," + b64), ctype: "text/plain", err: ErrBadBase64, kind: KindBadBase64},
		{name: "base64 of garbage", body: []byte(base64.StdEncoding.EncodeToString(random[:300])), ctype: "text/plain", err: ErrNotImage, kind: KindNotImage},
		{name: "gif type", body: rgbPNG, ctype: "image/gif", err: ErrUnsupportedType, kind: KindUnsupportedType},
		{name: "no type", body: rgbPNG, ctype: "", err: ErrUnsupportedType, kind: KindUnsupportedType},
		{name: "json type", body: []byte(`{"image":"..."}`), ctype: "application/json", err: ErrUnsupportedType, kind: KindUnsupportedType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			if c.MaxBytes == 0 {
				c = cfg
			}
			before := rssBytes(t)
			f, err := Decode(tc.body, tc.ctype, c)
			if grew := rssBytes(t) - before; grew > 200<<20 {
				t.Errorf("RSS grew by %d MiB decoding", grew>>20)
			}
			if tc.err == nil {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				defer f.Close()
				if f.Size() != tc.size {
					t.Errorf("Size = %v, want %v", f.Size(), tc.size)
				}
				if f.mat.Channels() != 3 {
					t.Errorf("channels = %d, want 3", f.mat.Channels())
				}
				jpg, err := f.JPEG()
				if err != nil {
					t.Fatal(err)
				}
				if cfgImg, err := jpeg.DecodeConfig(bytes.NewReader(jpg)); err != nil || cfgImg.Width != tc.size.X {
					t.Errorf("JPEG() = %v %v, want a %v JPEG", cfgImg, err, tc.size)
				}
				return
			}
			if f != nil {
				f.Close()
				t.Fatalf("Decode succeeded, want %v", tc.err)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err %T is not an *InputError", err)
			}
			if ie.Kind != tc.kind {
				t.Errorf("Kind = %q, want %q", ie.Kind, tc.kind)
			}
		})
	}
}

// TestFrameJPEGKeepsOriginal: JPEG bodies are kept as they came (evidence frames).
func TestFrameJPEGKeepsOriginal(t *testing.T) {
	body := encodeJPEGImg(t, gradient(32, 32))
	f, err := Decode(body, "image/jpeg", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.JPEG()
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("JPEG() = %d bytes, %v; want the original %d bytes", len(got), err, len(body))
	}
	f.Close() // twice is fine
}

// rssBytes returns the process's resident set size.
func rssBytes(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// FuzzDecode: no input panics, leaks or returns anything but an *InputError or a usable Frame.
// The seed corpus is in testdata/fuzz/FuzzDecode; `go test` runs it, `go test -fuzz FuzzDecode`
// explores.
func FuzzDecode(f *testing.F) {
	f.Add(encodePNG(f, gradient(8, 8)), "image/png")
	f.Add(encodeJPEGImg(f, gradient(8, 8)), "image/jpeg")
	f.Add([]byte(base64.StdEncoding.EncodeToString(encodePNG(f, gradient(4, 4)))), "text/plain")
	cfg := DefaultConfig()
	cfg.MaxWidth, cfg.MaxHeight = 1024, 1024
	cfg.MaxBytes = 1 << 20
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		fr, err := Decode(body, ctype, cfg)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is %T, not *InputError", err, err)
			}
			if fr != nil {
				t.Fatal("non-nil frame with an error")
			}
			return
		}
		defer fr.Close()
		s := fr.Size()
		if s.X <= 0 || s.Y <= 0 || s.X > 1024 || s.Y > 1024 {
			t.Fatalf("size %v outside limits", s)
		}
		if _, err := fr.JPEG(); err != nil {
			t.Fatalf("JPEG: %v", err)
		}
	})
}
