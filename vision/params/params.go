// Package params holds the vision pipeline's settings: image limits, the quality gate and the
// recognizer pool. It is pure Go (no cgo), so the daemon's configuration can embed it and be
// tested and cross-built without OpenCV or dlib; package vision uses it as vision.Config.
//
// The match threshold and margin are not here: the machine decides, so machine.Config owns them.
package params

import (
	"errors"
	"fmt"
	"runtime"
)

// Multi-face policies, the values of Config.MultiFace.
const (
	// MultiFaceReject refuses a frame with several faces (Quality "multiple_faces").
	MultiFaceReject = "reject"
	// MultiFaceLargest keeps the largest face of a frame with several faces.
	MultiFaceLargest = "largest"
)

// Detectors, the values of Config.Detector.
const (
	// DetectorHOG is dlib's HOG frontal face detector: fast on a CPU, frontal faces only.
	DetectorHOG = "hog"
	// DetectorCNN is dlib's MMOD CNN detector: finds turned and small faces, but takes seconds
	// per frame on a Pi-class CPU.
	DetectorCNN = "cnn"
)

// Defaults. The quality values were measured on ../shared/faces; see vision/CALIBRATION.md.
const (
	DefaultMaxBytes      = 8 << 20
	DefaultMaxWidth      = 4096
	DefaultMaxHeight     = 4096
	DefaultMinFaceSize   = 80
	DefaultMinBrightness = 40
	DefaultMaxBrightness = 220
	DefaultMinSharpness  = 15
	DefaultDetectWidth   = 640
	// DefaultMaxYaw and DefaultMaxPitch bound the head pose (degrees, estimated from the 5
	// landmarks; mobilefacenet engine) the quality gate accepts. On ../shared/faces the
	// estimates ranged -36..22 yaw and -10..18 pitch for every usable face, -70 for the one
	// photo turned beyond recognition (stuart5.png, which dlib does not detect); see
	// vision/CALIBRATION.md.
	DefaultMaxYaw   = 40
	DefaultMaxPitch = 30
)

// Recognition engines, the values of Config.Engine.
const (
	// EngineMobileFaceNet is OpenCV's YuNet detector (box, 5 landmarks, score) and the
	// MobileFaceNet embedder (192-d, cosine distance) through OpenCV's DNN module.
	EngineMobileFaceNet = "mobilefacenet"
	// EngineDlib is dlib's HOG detector and ResNet descriptor (128-d, Euclidean distance) through
	// go-face.
	EngineDlib = "dlib"
	// DefaultEngine is the engine chosen by the calibration (vision/CALIBRATION.md).
	DefaultEngine = EngineMobileFaceNet
)

// Descriptor dimensions of the engines.
const (
	DlibDims          = 128
	MobileFaceNetDims = 192
)

// Calibrated thresholds (vision/CALIBRATION.md): per-frame false accepts <= 1% and no
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

// DefaultThresholds returns the calibrated match threshold and margin of an engine; zeros for an
// unknown engine. The machine decides with machine.threshold and machine.min_margin; the daemon's
// configuration takes these as their defaults for the selected engine.
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

// ErrInvalid is wrapped by Config.Validate, with the offending key.
var ErrInvalid = errors.New("invalid vision setting")

// Config holds every tunable of the vision pipeline. Start from Default. The yaml tags are the
// keys under the configuration file's "vision" section.
type Config struct {
	// Engine is EngineMobileFaceNet (default) or EngineDlib. Only its models are checked and
	// loaded; distances are in its metric (DefaultThresholds).
	Engine string `yaml:"engine"`
	// MaxBytes is the largest accepted body, after base64 decoding (default 8 MiB).
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxWidth and MaxHeight bound the dimensions read from the image header (default 4096).
	MaxWidth  int `yaml:"max_width"`
	MaxHeight int `yaml:"max_height"`
	// MultiFace is MultiFaceReject or MultiFaceLargest.
	MultiFace string `yaml:"multi_face"`
	// MinFaceSize is the least side, in pixels of the original frame, of the detected face box.
	MinFaceSize int `yaml:"min_face_size"`
	// MinBrightness and MaxBrightness bound the mean gray level (0..255) of the face region.
	MinBrightness float64 `yaml:"min_brightness"`
	MaxBrightness float64 `yaml:"max_brightness"`
	// MinSharpness is the least variance of the Laplacian of the face region, measured after
	// scaling the region to 150x150 gray so it does not depend on the frame's resolution.
	MinSharpness float64 `yaml:"min_sharpness"`
	// MaxYaw and MaxPitch are the largest head turn and tilt, in degrees as estimated from the 5
	// landmarks, the quality gate accepts (Quality "turned_away"); mobilefacenet engine only
	// (dlib's detector finds frontal faces only).
	MaxYaw   float64 `yaml:"max_yaw"`
	MaxPitch float64 `yaml:"max_pitch"`
	// Workers is the number of recognizers in the pool (default runtime.NumCPU()). Each costs the
	// memory documented in vision/doc.go.
	Workers int `yaml:"workers"`
	// Detector is DetectorHOG or DetectorCNN.
	Detector string `yaml:"detector"`
	// DetectWidth: frames wider than this are scaled down to this width for detection (dlib
	// engine; the mobilefacenet engine detects at a fixed smaller scale).
	DetectWidth int `yaml:"detect_width"`
	// Liveness makes Analyze score every usable face with the two MiniFASNet models (their
	// files are then checked and loaded too). Not a key of its own: the daemon sets it from
	// machine.liveness (anything but "off"), which owns the decision.
	Liveness bool `yaml:"-"`
}

// Default returns the measured defaults.
func Default() Config {
	return Config{
		Engine:        DefaultEngine,
		MaxYaw:        DefaultMaxYaw,
		MaxPitch:      DefaultMaxPitch,
		MaxBytes:      DefaultMaxBytes,
		MaxWidth:      DefaultMaxWidth,
		MaxHeight:     DefaultMaxHeight,
		MultiFace:     MultiFaceReject,
		MinFaceSize:   DefaultMinFaceSize,
		MinBrightness: DefaultMinBrightness,
		MaxBrightness: DefaultMaxBrightness,
		MinSharpness:  DefaultMinSharpness,
		Workers:       runtime.NumCPU(),
		Detector:      DetectorHOG,
		DetectWidth:   DefaultDetectWidth,
	}
}

// Validate reports the first invalid setting by its key, wrapping ErrInvalid.
func (c Config) Validate() error {
	bad := func(key string, v any, allowed string) error {
		return fmt.Errorf("%w: %s=%v: %s", ErrInvalid, key, v, allowed)
	}
	switch {
	case Dims(c.Engine) == 0:
		return bad("engine", c.Engine, "one of mobilefacenet, dlib")
	case c.MaxYaw <= 0 || c.MaxYaw > 90:
		return bad("max_yaw", c.MaxYaw, "degrees in (0, 90]")
	case c.MaxPitch <= 0 || c.MaxPitch > 90:
		return bad("max_pitch", c.MaxPitch, "degrees in (0, 90]")
	case c.MaxBytes < 1024:
		return bad("max_bytes", c.MaxBytes, "a whole number >= 1024")
	case c.MaxWidth < 64:
		return bad("max_width", c.MaxWidth, "a whole number >= 64")
	case c.MaxHeight < 64:
		return bad("max_height", c.MaxHeight, "a whole number >= 64")
	case c.MultiFace != MultiFaceReject && c.MultiFace != MultiFaceLargest:
		return bad("multi_face", c.MultiFace, "one of reject, largest")
	case c.MinFaceSize < 0:
		return bad("min_face_size", c.MinFaceSize, "a whole number >= 0")
	case c.MinBrightness < 0 || c.MaxBrightness > 255 || c.MinBrightness >= c.MaxBrightness:
		return bad("min_brightness", c.MinBrightness, fmt.Sprintf("min_brightness < max_brightness (%g), both in 0..255", c.MaxBrightness))
	case c.MinSharpness < 0:
		return bad("min_sharpness", c.MinSharpness, "a number >= 0")
	case c.Workers < 1:
		return bad("workers", c.Workers, "a whole number >= 1")
	case c.Detector != DetectorHOG && c.Detector != DetectorCNN:
		return bad("detector", c.Detector, "one of hog, cnn")
	case c.DetectWidth < 160:
		return bad("detect_width", c.DetectWidth, "a whole number >= 160")
	}
	return nil
}

// DefaultThreshold and DefaultMinMargin are the default engine's calibrated match rule. The machine
// decides, so machine.Config carries the threshold and margin in force; these are its defaults.
const (
	DefaultThreshold = MobileFaceNetThreshold
	DefaultMinMargin = MobileFaceNetMinMargin
)

// The sequential rule's one-frame bounds (machine.Config.ClearDistance and ClearMargin) of each
// engine, chosen with `doorface calibrate` (vision/CALIBRATION.md, "Sequential decision").
const (
	MobileFaceNetClearDistance = 0.30
	MobileFaceNetClearMargin   = 0.20
	// dlib's genuine and impostor distances overlap too much for a one-frame decision: off.
	DlibClearDistance = 0
	DlibClearMargin   = DlibMinMargin
	// DefaultClearDistance and DefaultClearMargin are the default engine's.
	DefaultClearDistance = MobileFaceNetClearDistance
	DefaultClearMargin   = MobileFaceNetClearMargin
)

// DefaultClear returns the one-frame decision bounds of an engine; zeros for an unknown one.
func DefaultClear(engine string) (distance, margin float64) {
	switch engine {
	case EngineDlib:
		return DlibClearDistance, DlibClearMargin
	case EngineMobileFaceNet:
		return MobileFaceNetClearDistance, MobileFaceNetClearMargin
	}
	return 0, 0
}

// ForEngine returns c with Engine set to engine.
func (c Config) ForEngine(engine string) Config {
	c.Engine = engine
	return c
}
