package vision

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"mime"
	"strings"
	"sync"

	"gocv.io/x/gocv"
)

// Image formats of a Frame.
const (
	formatJPEG = "jpeg"
	formatPNG  = "png"
)

var (
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
	pngMagic  = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}
	jpegEOI   = []byte{0xFF, 0xD9}
	pngIEND   = []byte("IEND")
)

// Frame is one decoded camera frame: a BGR gocv.Mat plus the bytes it came from. A Frame is not
// safe for concurrent Close; Analyze and JPEG may be called from several goroutines while it is
// open. Close it when done.
type Frame struct {
	mat    gocv.Mat
	orig   []byte
	format string
	size   image.Point

	// mu guards everything that follows.
	mu     sync.Mutex
	jpeg   []byte
	closed bool
}

// Close releases the frame's pixels. It is safe to call more than once.
func (f *Frame) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	f.mat.Close()
}

// Size returns the frame's width and height in pixels.
func (f *Frame) Size() image.Point { return f.size }

// JPEG returns the frame as JPEG bytes: the original body when it was a JPEG, otherwise an
// encoding made once and cached (for evidence frames).
func (f *Frame) JPEG() ([]byte, error) {
	if f.format == formatJPEG {
		return f.orig, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.jpeg != nil {
		return f.jpeg, nil
	}
	if f.closed {
		return nil, fmt.Errorf("vision: encode frame: %w", ErrClosed)
	}
	b, err := encodeJPEG(f.mat, 90)
	if err != nil {
		return nil, err
	}
	f.jpeg = b
	return b, nil
}

// encodeJPEG encodes m (BGR) to JPEG bytes owned by Go.
func encodeJPEG(m gocv.Mat, quality int) ([]byte, error) {
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		return nil, fmt.Errorf("vision: encode jpeg: %w", err)
	}
	defer buf.Close()
	b := buf.GetBytes()
	if len(b) == 0 {
		return nil, fmt.Errorf("vision: encode jpeg: empty output")
	}
	return bytes.Clone(b), nil
}

// Decode turns a request body into a Frame. contentType is the request's Content-Type:
// image/jpeg or image/png for raw bytes (either format is accepted under either type; the bytes
// decide), text/plain for base64 text of a JPEG or PNG (an optional "data:image/...;base64,"
// prefix and line breaks are allowed). Anything else is ErrUnsupportedType.
//
// Every check that can be made without decoding pixels comes first: empty body, body size
// against cfg.MaxBytes (for base64, on the encoded length before decoding), magic bytes, the
// dimensions in the image header against cfg.MaxWidth x cfg.MaxHeight, so a small file claiming
// huge dimensions never allocates, and for a JPEG its markers ([ScanJPEG]: at most MaxJPEGScans
// scans, Huffman baseline/extended/progressive only), so a scan bomb is refused undecoded. Then the pixels are decoded with OpenCV, always to 3-channel
// BGR (grayscale and 16-bit PNGs included). Every error is an *InputError.
func Decode(body []byte, contentType string, cfg Config) (*Frame, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, inputErr(KindUnsupportedType, fmt.Errorf("%w: %q", ErrUnsupportedType, contentType))
	}
	var data []byte
	switch mt {
	case "image/jpeg", "image/jpg", "image/png":
		data = body
	case "text/plain":
		if data, err = decodeBase64(body, cfg.MaxBytes); err != nil {
			return nil, err
		}
	default:
		return nil, inputErr(KindUnsupportedType, fmt.Errorf("%w: %q (want image/jpeg, image/png or text/plain base64)", ErrUnsupportedType, mt))
	}
	if len(data) == 0 {
		return nil, inputErr(KindEmpty, ErrEmpty)
	}
	if int64(len(data)) > cfg.MaxBytes {
		return nil, inputErr(KindTooLarge, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), cfg.MaxBytes))
	}
	format, cfgImg, err := sniff(data)
	if err != nil {
		return nil, err
	}
	if cfgImg.Width > cfg.MaxWidth || cfgImg.Height > cfg.MaxHeight {
		return nil, inputErr(KindTooManyPixels, fmt.Errorf("%w: %dx%d, limit %dx%d", ErrTooManyPixels, cfgImg.Width, cfgImg.Height, cfg.MaxWidth, cfg.MaxHeight))
	}
	if format == formatJPEG { // bound the decode work: scan count, coding process, pixel budget
		if _, err := ScanJPEG(data, MaxJPEGScans, int64(cfg.MaxWidth)*int64(cfg.MaxHeight)); err != nil {
			return nil, err
		}
	}
	m, err := gocv.IMDecode(data, gocv.IMReadColor)
	if err != nil {
		return nil, inputErr(KindNotImage, fmt.Errorf("%w: %v", ErrNotImage, err))
	}
	if m.Empty() {
		m.Close()
		return nil, inputErr(KindNotImage, fmt.Errorf("%w: %s data does not decode", ErrNotImage, format))
	}
	w, h := m.Cols(), m.Rows()
	// OpenCV applies EXIF orientation, which may swap the header's dimensions.
	if !(w == cfgImg.Width && h == cfgImg.Height) && !(w == cfgImg.Height && h == cfgImg.Width) {
		m.Close()
		return nil, inputErr(KindNotImage, fmt.Errorf("%w: header says %dx%d, data decodes to %dx%d", ErrNotImage, cfgImg.Width, cfgImg.Height, w, h))
	}
	if m.Channels() != 3 {
		m.Close()
		return nil, inputErr(KindNotImage, fmt.Errorf("%w: decoded to %d channels", ErrNotImage, m.Channels()))
	}
	return &Frame{mat: m, orig: data, format: format, size: image.Pt(w, h)}, nil
}

// sniff identifies the format from the magic bytes and reads the dimensions from the header
// only, then checks that the stream is complete (JPEG ends with EOI, PNG with IEND) because
// OpenCV's decoders fill a truncated image with gray instead of failing.
func sniff(data []byte) (string, image.Config, error) {
	var (
		format string
		ic     image.Config
		err    error
	)
	switch {
	case bytes.HasPrefix(data, jpegMagic):
		format = formatJPEG
		ic, err = jpeg.DecodeConfig(bytes.NewReader(data))
		// Cameras may pad after EOI; the EOI must be within the last KiB.
		if err == nil && !bytes.Contains(data[max(0, len(data)-1024):], jpegEOI) {
			err = fmt.Errorf("truncated: no end-of-image marker")
		}
	case bytes.HasPrefix(data, pngMagic):
		format = formatPNG
		ic, err = png.DecodeConfig(bytes.NewReader(data))
		if err == nil && !bytes.Contains(data[max(0, len(data)-64):], pngIEND) {
			err = fmt.Errorf("truncated: no IEND chunk")
		}
	default:
		return "", ic, inputErr(KindNotImage, fmt.Errorf("%w: unknown magic bytes", ErrNotImage))
	}
	if err != nil {
		return "", ic, inputErr(KindNotImage, fmt.Errorf("%w: %s header: %v", ErrNotImage, format, err))
	}
	if ic.Width <= 0 || ic.Height <= 0 {
		return "", ic, inputErr(KindNotImage, fmt.Errorf("%w: %s header: %dx%d", ErrNotImage, format, ic.Width, ic.Height))
	}
	return format, ic, nil
}

// decodeBase64 decodes base64 text, refusing text that would decode to more than maxBytes
// before decoding it.
func decodeBase64(body []byte, maxBytes int64) ([]byte, error) {
	s := strings.TrimSpace(string(body))
	if strings.HasPrefix(s, "data:") {
		i := strings.Index(s, ",")
		if i < 0 || !strings.HasSuffix(s[:i], ";base64") {
			return nil, inputErr(KindBadBase64, fmt.Errorf("%w: data URL without ;base64,", ErrBadBase64))
		}
		s = s[i+1:]
	}
	if s == "" {
		return nil, inputErr(KindEmpty, ErrEmpty)
	}
	// 4 characters carry 3 bytes; allow for line breaks before stripping them.
	if int64(len(s)) > maxBytes/3*4+maxBytes/38+8 {
		return nil, inputErr(KindTooLarge, fmt.Errorf("%w: %d base64 characters, limit %d bytes decoded", ErrTooLarge, len(s), maxBytes))
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\n', '\r', ' ', '\t':
			return -1
		}
		return r
	}, s)
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	out, err := enc.DecodeString(s)
	if err != nil {
		return nil, inputErr(KindBadBase64, fmt.Errorf("%w: %v", ErrBadBase64, err))
	}
	return out, nil
}
