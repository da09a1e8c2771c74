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

// DefaultThreshold and DefaultMinMargin are the calibrated match rule (CALIBRATION.md); the
// machine, which decides, takes them as its defaults.
const (
	DefaultThreshold = params.DefaultThreshold
	DefaultMinMargin = params.DefaultMinMargin
)

// DefaultConfig returns the measured defaults.
func DefaultConfig() Config { return params.Default() }
