package vision

import "github.com/doorface/doorface/vision/params"

// Config holds every tunable of the vision pipeline; its home is package params (pure Go, so the
// daemon's configuration can hold it without cgo). Start from DefaultConfig.
type Config = params.Config

// Multi-face policies and detectors, the values of Config.MultiFace and Config.Detector.
const (
	MultiFaceReject  = params.MultiFaceReject
	MultiFaceLargest = params.MultiFaceLargest
	DetectorHOG      = params.DetectorHOG
	DetectorCNN      = params.DetectorCNN
)

// Recognition engines, the values of Config.Engine, and their descriptor lengths.
const (
	EngineMobileFaceNet = params.EngineMobileFaceNet
	EngineDlib          = params.EngineDlib
	DefaultEngine       = params.DefaultEngine
	DlibDims            = params.DlibDims
	MobileFaceNetDims   = params.MobileFaceNetDims
)

// The calibrated match rules (CALIBRATION.md); the machine, which decides, takes the selected
// engine's as its defaults.
const (
	DlibThreshold          = params.DlibThreshold
	DlibMinMargin          = params.DlibMinMargin
	MobileFaceNetThreshold = params.MobileFaceNetThreshold
	MobileFaceNetMinMargin = params.MobileFaceNetMinMargin
	DefaultThreshold       = params.DefaultThreshold
	DefaultMinMargin       = params.DefaultMinMargin
)

// DefaultConfig returns the measured defaults.
func DefaultConfig() Config { return params.Default() }

// DefaultThresholds returns the calibrated match threshold and margin of an engine; zeros for an
// unknown engine.
func DefaultThresholds(engine string) (threshold, margin float64) {
	return params.DefaultThresholds(engine)
}

// DefaultClear returns the sequential rule's calibrated one-frame bounds of an engine (distance
// 0: off).
func DefaultClear(engine string) (distance, margin float64) { return params.DefaultClear(engine) }

// Dims returns the descriptor length of an engine, 0 for an unknown one.
func Dims(engine string) int { return params.Dims(engine) }
