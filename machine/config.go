package machine

import (
	"fmt"
	"time"
)

// Config holds the machine's thresholds and timeouts. Start from DefaultConfig.
type Config struct {
	ReceiveTimeout    time.Duration // no usable face in Receiving -> Idle (timeout); 5s
	K, N              int           // unlock by face when K of the last N usable frames name the same user; 2 of 3
	Threshold         float64       // a match is strictly closer than this (as vision calibrates it); 0.5 (main overrides from vision calibration)
	MinMargin         float64       // min distance gap to the 2nd-best user; smaller is ambiguous and never unlocks by face; 0.04
	MaxFrames         int           // processed frames in Recognizing without decision -> PinFallback; 10
	RecognizeTimeout  time.Duration // time in Recognizing without decision -> PinFallback; 4s
	PinTimeout        time.Duration // time in PinFallback -> Idle (timeout); 20s
	MaxPinTries       int           // wrong PINs per session before Idle (denied); 3
	LockoutAfter      int           // wrong PINs across sessions before a lockout; 5
	LockoutBase       time.Duration // first lockout, doubling per repeated lockout; 60s
	LockoutMax        time.Duration // cap on one lockout; 0 = DefaultLockoutMax (15m); at least LockoutBase
	FailureWindow     time.Duration // wrong PINs and lockout levels older than this stop counting; 0 = DefaultFailureWindow (1h)
	UnlockDuration    time.Duration // relay open time; 3s
	Cooldown          time.Duration // Cooldown -> Idle; 2s
	RequireFaceAndPIN bool          // face+PIN mode: the PIN must belong to the user the face matched
	EvidenceOnUnknown bool          // also keep the best frame for denied/timeout/locked_out sessions
}

// Lockout bounds used when Config.LockoutMax or Config.FailureWindow is zero (see the package
// documentation, section "PIN lockout").
const (
	DefaultLockoutMax    = 15 * time.Minute
	DefaultFailureWindow = time.Hour
)

// DefaultConfig returns the defaults of issue 3, with the lockout bounds of issue 15.
func DefaultConfig() Config {
	return Config{
		ReceiveTimeout:   5 * time.Second,
		K:                2,
		N:                3,
		Threshold:        0.5,
		MinMargin:        0.04,
		MaxFrames:        10,
		RecognizeTimeout: 4 * time.Second,
		PinTimeout:       20 * time.Second,
		MaxPinTries:      3,
		LockoutAfter:     5,
		LockoutBase:      60 * time.Second,
		LockoutMax:       DefaultLockoutMax,
		FailureWindow:    DefaultFailureWindow,
		UnlockDuration:   3 * time.Second,
		Cooldown:         2 * time.Second,
	}
}

// Validate reports the first bad field, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(field, why string, v any) error {
		return fmt.Errorf("%w: %s %s (got %v)", ErrInvalidConfig, field, why, v)
	}
	durations := []struct {
		name string
		d    time.Duration
	}{
		{"ReceiveTimeout", c.ReceiveTimeout},
		{"RecognizeTimeout", c.RecognizeTimeout},
		{"PinTimeout", c.PinTimeout},
		{"LockoutBase", c.LockoutBase},
		{"UnlockDuration", c.UnlockDuration},
		{"Cooldown", c.Cooldown},
	}
	for _, d := range durations {
		if d.d <= 0 {
			return bad(d.name, "must be positive", d.d)
		}
	}
	switch {
	case c.K < 1:
		return bad("K", "must be at least 1", c.K)
	case c.N < c.K:
		return bad("N", "must be at least K", c.N)
	case c.MaxFrames < c.K:
		return bad("MaxFrames", "must be at least K", c.MaxFrames)
	case !(c.Threshold > 0):
		return bad("Threshold", "must be positive", c.Threshold)
	case !(c.MinMargin >= 0):
		return bad("MinMargin", "must not be negative", c.MinMargin)
	case c.MaxPinTries < 1:
		return bad("MaxPinTries", "must be at least 1", c.MaxPinTries)
	case c.LockoutAfter < 1:
		return bad("LockoutAfter", "must be at least 1", c.LockoutAfter)
	case c.LockoutMax < 0:
		return bad("LockoutMax", "must not be negative", c.LockoutMax)
	case c.LockoutMax > 0 && c.LockoutMax < c.LockoutBase:
		return bad("LockoutMax", "must be at least LockoutBase", c.LockoutMax)
	case c.LockoutMax > maxLockout:
		return bad("LockoutMax", "must be at most 24h", c.LockoutMax)
	case c.FailureWindow < 0:
		return bad("FailureWindow", "must not be negative", c.FailureWindow)
	}
	return nil
}

// withLockoutDefaults fills the zero lockout bounds with their defaults.
func (c Config) withLockoutDefaults() Config {
	if c.LockoutMax == 0 {
		c.LockoutMax = max(DefaultLockoutMax, c.LockoutBase)
	}
	if c.FailureWindow == 0 {
		c.FailureWindow = DefaultFailureWindow
	}
	return c
}
