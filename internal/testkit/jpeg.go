package testkit

import (
	"bytes"
	"encoding/binary"
)

// ProgressiveJPEG builds, marker by marker, a real progressive grayscale JPEG of w x h (a
// multiple of 8) whose coefficients are all zero (a flat mid-gray picture): one DC scan, then
// one AC scan per band of bands (each {Ss, Se}, first scans, no successive approximation), then
// extra copies of the last AC scan (a scan bomb's padding: decoders revisit the image for each).
// Go's image/jpeg encoder writes baseline only, hence this builder.
func ProgressiveJPEG(w, h int, bands [][2]byte, extra int) []byte {
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

// LibjpegBands is the AC part of libjpeg's default progressive script for one component,
// without successive approximation: with the DC scan, 5 scans.
var LibjpegBands = [][2]byte{{1, 5}, {6, 14}, {15, 35}, {36, 63}}
