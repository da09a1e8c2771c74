package vision

import (
	"fmt"
	"log/slog"
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

// Defaults. The quality and matching values were measured on ../shared/faces; see CALIBRATION.md.
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
	// CALIBRATION.md.
	DefaultMaxYaw   = 40
	DefaultMaxPitch = 30
	// DefaultThreshold is the default engine's threshold (DefaultThresholds(DefaultEngine)):
	// chosen on enroll-test for a per-frame false accept rate of at most 1% (CALIBRATION.md).
	DefaultThreshold = MobileFaceNetThreshold
	// DefaultMinMargin is the least margin (distance to the nearest other user minus the match
	// distance) for a match to count, the default engine's.
	DefaultMinMargin = MobileFaceNetMinMargin
)

// Config holds every tunable of the vision pipeline. Start from DefaultConfig.
type Config struct {
	// Engine is EngineMobileFaceNet (default) or EngineDlib. Only its models are checked and
	// loaded; Threshold and MinMargin are in its metric (DefaultThresholds).
	Engine string
	// MaxBytes is the largest accepted body, after base64 decoding (default 8 MiB).
	MaxBytes int64
	// MaxWidth and MaxHeight bound the dimensions read from the image header (default 4096).
	MaxWidth, MaxHeight int
	// MultiFace is MultiFaceReject or MultiFaceLargest.
	MultiFace string
	// MinFaceSize is the least side, in pixels of the original frame, of the detected face box.
	MinFaceSize int
	// MinBrightness and MaxBrightness bound the mean gray level (0..255) of the face region.
	MinBrightness, MaxBrightness float64
	// MinSharpness is the least variance of the Laplacian of the face region, measured after
	// scaling the region to 150x150 gray so it does not depend on the frame's resolution.
	MinSharpness float64
	// MaxYaw and MaxPitch are the largest head turn and tilt, in degrees as estimated from the 5
	// landmarks, the quality gate accepts (Quality "turned_away"); mobilefacenet engine only
	// (dlib's detector finds frontal faces only).
	MaxYaw, MaxPitch float64
	// Workers is the number of go-face recognizers in the pool (default runtime.NumCPU()). Each
	// costs the memory documented in doc.go.
	Workers int
	// Detector is DetectorHOG or DetectorCNN.
	Detector string
	// DetectWidth: frames wider than this are scaled down to this width for detection (dlib
	// engine; the mobilefacenet engine detects at a fixed smaller scale, see yunetDetectWidth).
	DetectWidth int
	// Threshold is the largest descriptor distance accepted as a match.
	Threshold float64
	// MinMargin is the least margin to the second-best user for a match to be accepted.
	MinMargin float64
	// Logger receives the pipeline's log lines (default slog.Default()); never serialized.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// DefaultConfig returns the measured defaults.
func DefaultConfig() Config {
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
		Threshold:     DefaultThreshold,
		MinMargin:     DefaultMinMargin,
	}
}

// ForEngine returns c with Engine set to engine and Threshold and MinMargin set to that engine's
// calibrated values (DefaultThresholds).
func (c Config) ForEngine(engine string) Config {
	c.Engine = engine
	c.Threshold, c.MinMargin = DefaultThresholds(engine)
	return c
}

// Validate reports the first invalid field, wrapping ErrBadConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...)
	}
	if err := checkEngine(c.Engine); err != nil {
		return err
	}
	switch {
	case c.MaxYaw <= 0 || c.MaxYaw > 90 || c.MaxPitch <= 0 || c.MaxPitch > 90:
		return bad("MaxYaw/MaxPitch %g/%g must be in (0, 90] degrees", c.MaxYaw, c.MaxPitch)
	case c.MaxBytes <= 0:
		return bad("MaxBytes %d must be positive", c.MaxBytes)
	case c.MaxWidth <= 0 || c.MaxHeight <= 0:
		return bad("MaxWidth/MaxHeight %dx%d must be positive", c.MaxWidth, c.MaxHeight)
	case c.MultiFace != MultiFaceReject && c.MultiFace != MultiFaceLargest:
		return bad("MultiFace %q must be %q or %q", c.MultiFace, MultiFaceReject, MultiFaceLargest)
	case c.MinFaceSize < 0:
		return bad("MinFaceSize %d must not be negative", c.MinFaceSize)
	case c.MinBrightness < 0 || c.MaxBrightness > 255 || c.MinBrightness >= c.MaxBrightness:
		return bad("brightness range [%g, %g] must lie in 0..255 and be non-empty", c.MinBrightness, c.MaxBrightness)
	case c.MinSharpness < 0:
		return bad("MinSharpness %g must not be negative", c.MinSharpness)
	case c.Workers < 1:
		return bad("Workers %d must be at least 1", c.Workers)
	case c.Detector != DetectorHOG && c.Detector != DetectorCNN:
		return bad("Detector %q must be %q or %q", c.Detector, DetectorHOG, DetectorCNN)
	case c.DetectWidth < 160:
		return bad("DetectWidth %d must be at least 160", c.DetectWidth)
	case c.Threshold <= 0 || c.Threshold >= 2:
		return bad("Threshold %g must be in (0, 2)", c.Threshold)
	case c.MinMargin < 0:
		return bad("MinMargin %g must not be negative", c.MinMargin)
	}
	return nil
}
