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
)

// ErrInvalid is wrapped by Config.Validate, with the offending key.
var ErrInvalid = errors.New("invalid vision setting")

// Config holds every tunable of the vision pipeline. Start from Default. The yaml tags are the
// keys under the configuration file's "vision" section.
type Config struct {
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
	// Workers is the number of recognizers in the pool (default runtime.NumCPU()). Each costs the
	// memory documented in vision/doc.go.
	Workers int `yaml:"workers"`
	// Detector is DetectorHOG or DetectorCNN.
	Detector string `yaml:"detector"`
	// DetectWidth: frames wider than this are scaled down to this width for detection.
	DetectWidth int `yaml:"detect_width"`
}

// Default returns the measured defaults.
func Default() Config {
	return Config{
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

// The calibrated match rule of the recognizer (vision/CALIBRATION.md). The machine decides, so
// machine.Config carries the threshold and margin in force; these are its defaults.
const (
	// DefaultThreshold is the largest Euclidean descriptor distance accepted as a match, chosen
	// on enroll-test for a per-frame false accept rate of at most 1%.
	DefaultThreshold = 0.40
	// DefaultMinMargin is the least margin (distance to the nearest other user minus the match
	// distance) for a match to count.
	DefaultMinMargin = 0.05
)
