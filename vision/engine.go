package vision

import (
	"fmt"
	"math"
)

// Recognition engines, the values of Config.Engine.
const (
	// EngineMobileFaceNet is OpenCV's YuNet detector (box, 5 landmarks, score) and the
	// MobileFaceNet embedder (192-d, cosine distance) through OpenCV's DNN module.
	EngineMobileFaceNet = "mobilefacenet"
	// EngineDlib is dlib's HOG detector and ResNet descriptor (128-d, Euclidean distance) through
	// go-face.
	EngineDlib = "dlib"
	// DefaultEngine is the engine chosen by the calibration (CALIBRATION.md).
	DefaultEngine = EngineMobileFaceNet
)

// Descriptor dimensions of the engines.
const (
	DlibDims          = 128
	MobileFaceNetDims = 192
)

// Calibrated thresholds (CALIBRATION.md): per-frame false accepts <= 1% and no
// mis-identification on enroll-test, under the machine's 2-of-3 session rule.
const (
	// DlibThreshold is the largest Euclidean distance dlib's descriptor accepts as a match.
	DlibThreshold = 0.40
	// DlibMinMargin is dlib's least margin to the nearest other user.
	DlibMinMargin = 0.05
	// MobileFaceNetThreshold is the largest cosine distance MobileFaceNet accepts as a match.
	MobileFaceNetThreshold = 0.40
	// MobileFaceNetMinMargin is MobileFaceNet's least margin to the nearest other user.
	MobileFaceNetMinMargin = 0.05
)

// DefaultThresholds returns the calibrated match threshold and margin of an engine (see
// CALIBRATION.md); zeros for an unknown engine.
func DefaultThresholds(engine string) (threshold, margin float64) {
	switch engine {
	case EngineDlib:
		return DlibThreshold, DlibMinMargin
	case EngineMobileFaceNet:
		return MobileFaceNetThreshold, MobileFaceNetMinMargin
	}
	return 0, 0
}

// Dims returns the descriptor length of an engine, 0 for an unknown one.
func Dims(engine string) int {
	switch engine {
	case EngineDlib:
		return DlibDims
	case EngineMobileFaceNet:
		return MobileFaceNetDims
	}
	return 0
}

func checkEngine(engine string) error {
	if Dims(engine) == 0 {
		return fmt.Errorf("%w: Engine %q must be %q or %q", ErrBadConfig, engine, EngineMobileFaceNet, EngineDlib)
	}
	return nil
}

// Distance returns the engine's distance between two descriptors of its length: Euclidean for
// dlib, cosine distance (1 - cosine similarity) for MobileFaceNet. It returns NaN when the
// lengths differ from the engine's.
func Distance(engine string, a, b Descriptor) float64 {
	n := Dims(engine)
	if n == 0 || len(a) != n || len(b) != n {
		return math.NaN()
	}
	if engine == EngineMobileFaceNet {
		var dot, na, nb float64
		for i := range a {
			dot += float64(a[i]) * float64(b[i])
			na += float64(a[i]) * float64(a[i])
			nb += float64(b[i]) * float64(b[i])
		}
		if na == 0 || nb == 0 {
			return 1
		}
		return 1 - dot/math.Sqrt(na*nb)
	}
	var s float64
	for i := range a {
		x := float64(a[i] - b[i])
		s += x * x
	}
	return math.Sqrt(s)
}

// normalized returns d scaled to unit length (a copy); d itself when it is all zeros.
func normalized(d Descriptor) Descriptor {
	var s float64
	for _, v := range d {
		s += float64(v) * float64(v)
	}
	if s == 0 {
		return d
	}
	inv := 1 / math.Sqrt(s)
	out := make(Descriptor, len(d))
	for i, v := range d {
		out[i] = float32(float64(v) * inv)
	}
	return out
}
