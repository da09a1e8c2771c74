package vision

// #cgo CXXFLAGS: -std=c++17 -O3 -DNDEBUG -march=native -Wall
// #cgo LDFLAGS: -ldlib -ldl
// #include <stdlib.h>
// #include "hog.h"
import "C"

import (
	"fmt"
	"image"
	"unsafe"

	"gocv.io/x/gocv"
)

// hogMaxFaces bounds the boxes read back from one detection.
const hogMaxFaces = 32

// hogDetector is dlib's HOG frontal face detector run directly on a gray Mat: no JPEG encode and
// decode, and no landmarks or descriptor for faces nobody asked about (go-face has no detect-only
// call). One per recognizer: a dlib detector is not safe for concurrent use.
type hogDetector struct {
	ptr *C.hog_detector
}

func newHOGDetector() (*hogDetector, error) {
	p := C.hog_new()
	if p == nil {
		return nil, fmt.Errorf("vision: dlib HOG detector could not be created")
	}
	return &hogDetector{ptr: p}, nil
}

func (h *hogDetector) close() { C.hog_free(h.ptr) }

// detect returns the face boxes in gray (an 8-bit single-channel Mat), in its coordinates.
func (h *hogDetector) detect(gray gocv.Mat) ([]image.Rectangle, error) {
	if gray.Type() != gocv.MatTypeCV8UC1 || gray.Empty() {
		return nil, fmt.Errorf("vision: hog: want a non-empty 8-bit gray image, have type %v", gray.Type())
	}
	if !gray.IsContinuous() {
		gray = gray.Clone()
		defer gray.Close()
	}
	data, err := gray.DataPtrUint8()
	if err != nil {
		return nil, fmt.Errorf("vision: hog: %w", err)
	}
	var rects [4 * hogMaxFaces]C.long
	var scores [hogMaxFaces]C.double
	n := C.hog_detect(h.ptr, (*C.uchar)(unsafe.Pointer(&data[0])), C.int(gray.Rows()), C.int(gray.Cols()),
		C.int(gray.Cols()), &rects[0], &scores[0], hogMaxFaces)
	if n < 0 {
		return nil, fmt.Errorf("vision: hog: dlib failed")
	}
	out := make([]image.Rectangle, 0, min(int(n), hogMaxFaces))
	for i := 0; i < int(n) && i < hogMaxFaces; i++ {
		out = append(out, image.Rect(int(rects[4*i]), int(rects[4*i+1]), int(rects[4*i+2]), int(rects[4*i+3])))
	}
	return out, nil
}

// setBLASThreads asks OpenBLAS, when it is the BLAS dlib runs on, to use n threads per call;
// it reports whether it could. With one recognizer per core, one thread each is fastest
// (measured by `make bench`: OpenBLAS's own threads make two workers no faster than one).
func setBLASThreads(n int) bool { return C.blas_set_threads(C.int(n)) == 1 }
