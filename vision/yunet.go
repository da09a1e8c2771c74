package vision

// #cgo pkg-config: opencv4
// #cgo CXXFLAGS: -std=c++17 -O2 -DNDEBUG -Wall
// #include <stdlib.h>
// #include "yunet.h"
import "C"

import (
	"fmt"
	"image"
	"unsafe"

	"gocv.io/x/gocv"
)

const (
	// yunetMaxFaces bounds the faces read back from one detection.
	yunetMaxFaces = 64
	// yunetScoreThreshold is the least YuNet score kept as a face (OpenCV's sample value).
	yunetScoreThreshold = 0.9
	// yunetNMSThreshold is the box overlap above which YuNet keeps only the higher score.
	yunetNMSThreshold = 0.3
)

// point is a landmark in frame coordinates.
type point struct{ X, Y float64 }

// yface is one YuNet detection: the box and the 5 landmarks (right eye, left eye, nose tip,
// right and left mouth corner, as seen in the image: "right eye" is the one on the image's
// left), in the coordinates of the image it was run on, and the score.
type yface struct {
	x, y, w, h float64
	lm         [5]point
	score      float64
}

// box returns the detection's box as integer pixels.
func (f yface) box() image.Rectangle {
	return image.Rect(int(f.x), int(f.y), int(f.x+f.w+0.5), int(f.y+f.h+0.5))
}

// mapped returns f in the coordinates of an image scale times smaller, shifted by off.
func (f yface) mapped(scale float64, off image.Point) yface {
	ox, oy := float64(off.X), float64(off.Y)
	g := yface{x: f.x/scale + ox, y: f.y/scale + oy, w: f.w / scale, h: f.h / scale, score: f.score}
	for i, p := range f.lm {
		g.lm[i] = point{p.X/scale + ox, p.Y/scale + oy}
	}
	return g
}

// yunet is OpenCV's cv::FaceDetectorYN with the YuNet model (yunet.cc): not safe for concurrent
// use, one per worker.
type yunet struct {
	ptr *C.yunet_detector
}

func newYuNet(path string) (*yunet, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg [512]C.char
	p := C.yunet_new(cpath, yunetScoreThreshold, yunetNMSThreshold, &msg[0], C.int(len(msg)))
	if p == nil {
		return nil, fmt.Errorf("%w: %s: OpenCV could not load it: %s", ErrModelCorrupt, path, C.GoString(&msg[0]))
	}
	return &yunet{ptr: p}, nil
}

func (y *yunet) close() { C.yunet_free(y.ptr) }

// detect returns the faces in bgr (an 8-bit 3-channel Mat), in its coordinates, highest score
// first.
func (y *yunet) detect(bgr gocv.Mat) ([]yface, error) {
	if bgr.Type() != gocv.MatTypeCV8UC3 || bgr.Empty() {
		return nil, fmt.Errorf("vision: yunet: want a non-empty 8-bit BGR image, have type %v", bgr.Type())
	}
	if !bgr.IsContinuous() {
		bgr = bgr.Clone()
		defer bgr.Close()
	}
	data, err := bgr.DataPtrUint8()
	if err != nil {
		return nil, fmt.Errorf("vision: yunet: %w", err)
	}
	var out [15 * yunetMaxFaces]C.float
	n := C.yunet_detect(y.ptr, (*C.uchar)(unsafe.Pointer(&data[0])), C.int(bgr.Rows()), C.int(bgr.Cols()),
		C.int(bgr.Cols()*3), &out[0], yunetMaxFaces)
	if n < 0 {
		return nil, fmt.Errorf("vision: yunet: OpenCV failed")
	}
	faces := make([]yface, 0, min(int(n), yunetMaxFaces))
	for i := 0; i < int(n) && i < yunetMaxFaces; i++ {
		v := out[15*i : 15*i+15]
		f := yface{x: float64(v[0]), y: float64(v[1]), w: float64(v[2]), h: float64(v[3]), score: float64(v[14])}
		for j := range f.lm {
			f.lm[j] = point{float64(v[4+2*j]), float64(v[5+2*j])}
		}
		faces = append(faces, f)
	}
	// OpenCV returns them sorted by score already; keep that an invariant here.
	for i := 1; i < len(faces); i++ {
		for j := i; j > 0 && faces[j].score > faces[j-1].score; j-- {
			faces[j], faces[j-1] = faces[j-1], faces[j]
		}
	}
	return faces, nil
}

// setCVThreads sets the number of threads of OpenCV's parallel loops and DNN layers.
func setCVThreads(n int) { C.cv_set_threads(C.int(n)) }
