package vision

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxJPEGScans is the most scans (SOS segments) a JPEG may have. A baseline JPEG has one scan
// (up to one per component when not interleaved); libjpeg's and libjpeg-turbo's progressive
// script writes 10 for a colour image, Android's and browsers' encoders about as many. Every
// scan of a progressive JPEG makes the decoder revisit the whole coefficient buffer, so the
// decode cost is roughly scans x pixels: a 132 KB 4096x4096 file with 1,000 scans took 11.6 s.
// Refusing more than MaxJPEGScans bounds a frame's cost to a small multiple of a normal frame.
const MaxJPEGScans = 16

// ErrTooManyScans is a JPEG with more scans than MaxJPEGScans, or one using a coding process
// other than baseline, extended sequential or progressive Huffman (SOF0, SOF1, SOF2); it is
// refused before any pixel is decoded.
var ErrTooManyScans = errors.New("vision: JPEG too costly to decode")

// KindTooComplex is the InputError.Kind of ErrTooManyScans (the daemon answers it as a bad image).
const KindTooComplex = "too_complex"

// JPEGInfo is what ScanJPEG learned from a JPEG's markers.
type JPEGInfo struct {
	Width, Height int
	Components    int
	Progressive   bool
	Scans         int  // SOS segments
	Tables        int  // DHT and DQT segments
	EOI           bool // an end-of-image marker was reached
}

// ScanJPEG walks the marker segments of a JPEG without decoding any pixel: SOF0/1/2 give the
// dimensions, every SOS is counted and its entropy-coded data skipped. It refuses (an
// *InputError) a stream that is not a JPEG or whose segments do not fit in data
// (ErrNotImage), a frame header of another coding process, more than maxScans scans
// (ErrTooManyScans), and more than maxPixels pixels (ErrTooManyPixels). Its work is linear in
// len(data) and it allocates nothing per segment.
func ScanJPEG(data []byte, maxScans int, maxPixels int64) (JPEGInfo, error) {
	var info JPEGInfo
	notJPEG := func(format string, args ...any) (JPEGInfo, error) {
		return info, inputErr(KindNotImage, fmt.Errorf("%w: jpeg markers: %s", ErrNotImage, fmt.Sprintf(format, args...)))
	}
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return notJPEG("no start-of-image marker")
	}
	sof := 0
	pos := 2
	for pos < len(data) {
		if data[pos] != 0xFF {
			return notJPEG("byte %#02x at offset %d where a marker was expected", data[pos], pos)
		}
		for pos < len(data) && data[pos] == 0xFF { // fill bytes
			pos++
		}
		if pos >= len(data) {
			break
		}
		m := data[pos]
		pos++
		switch {
		case m == 0xD9: // EOI
			info.EOI = true
			return info, nil
		case m == 0xD8 || m == 0x00:
			return notJPEG("unexpected marker %#02x at offset %d", m, pos-1)
		case m >= 0xD0 && m <= 0xD7, m == 0x01: // RSTn, TEM: no length
			continue
		}
		if pos+2 > len(data) {
			return notJPEG("segment %#02x length cut off", m)
		}
		n := int(binary.BigEndian.Uint16(data[pos:]))
		if n < 2 || pos+n > len(data) {
			return notJPEG("segment %#02x of length %d does not fit", m, n)
		}
		seg := data[pos+2 : pos+n]
		pos += n
		switch {
		case m == 0xC0 || m == 0xC1 || m == 0xC2: // SOF0, SOF1, SOF2
			sof++
			if sof > 1 {
				return notJPEG("more than one frame header")
			}
			if len(seg) < 6 {
				return notJPEG("frame header of %d bytes", len(seg))
			}
			info.Height = int(binary.BigEndian.Uint16(seg[1:]))
			info.Width = int(binary.BigEndian.Uint16(seg[3:]))
			info.Components = int(seg[5])
			info.Progressive = m == 0xC2
			if info.Width == 0 || info.Height == 0 {
				return notJPEG("frame header says %dx%d", info.Width, info.Height)
			}
			if px := int64(info.Width) * int64(info.Height); px > maxPixels {
				return info, inputErr(KindTooManyPixels, fmt.Errorf("%w: %dx%d = %d pixels, budget %d",
					ErrTooManyPixels, info.Width, info.Height, px, maxPixels))
			}
		case m >= 0xC3 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC: // other SOFn
			return info, inputErr(KindTooComplex, fmt.Errorf("%w: coding process SOF%d is not accepted "+
				"(baseline, extended or progressive Huffman only)", ErrTooManyScans, m-0xC0))
		case m == 0xC4 || m == 0xDB: // DHT, DQT
			info.Tables++
		case m == 0xDA: // SOS
			if sof == 0 {
				return notJPEG("scan before the frame header")
			}
			info.Scans++
			if info.Scans > maxScans {
				return info, inputErr(KindTooComplex, fmt.Errorf("%w: more than %d scans (a normal encoder writes about 10)",
					ErrTooManyScans, maxScans))
			}
			pos = skipEntropy(data, pos)
		}
	}
	return info, nil
}

// skipEntropy returns the offset of the first marker after the entropy-coded data starting at
// pos: a 0xFF followed by neither a stuffed 0x00, a fill 0xFF nor a restart marker; len(data)
// when there is none.
func skipEntropy(data []byte, pos int) int {
	for {
		i := bytes.IndexByte(data[pos:], 0xFF)
		if i < 0 {
			return len(data)
		}
		pos += i
		j := pos + 1
		for j < len(data) && data[j] == 0xFF {
			j++
		}
		if j >= len(data) {
			return len(data)
		}
		if m := data[j]; m == 0x00 || (m >= 0xD0 && m <= 0xD7) {
			pos = j + 1
			continue
		}
		return pos
	}
}
