package machine

import (
	"fmt"
	"time"

	"github.com/doorface/doorface/vision/params"
)

// Config holds the machine's thresholds and timeouts. Start from DefaultConfig. The yaml tags
// are the keys under the configuration file's "machine" section.
type Config struct {
	// ReceiveTimeout: no usable face in Receiving -> Idle (timeout); 5s.
	ReceiveTimeout time.Duration `yaml:"receive_timeout"`
	// K of the last N usable frames naming the same user unlock by face; 2 of 3.
	K int `yaml:"k"`
	N int `yaml:"n"`
	// Threshold: a match is strictly closer than this. The machine decides, so it owns the
	// threshold; its default is vision's calibrated value (vision/CALIBRATION.md).
	Threshold float64 `yaml:"threshold"`
	// MinMargin is the least distance gap to the 2nd-best user; smaller is ambiguous and never
	// unlocks by face. Default: vision's calibrated value.
	MinMargin float64 `yaml:"min_margin"`
	// MaxFrames: processed frames in Recognizing without decision -> PinFallback; 10.
	MaxFrames int `yaml:"max_frames"`
	// RecognizeTimeout: time in Recognizing without decision -> PinFallback; 4s.
	RecognizeTimeout time.Duration `yaml:"recognize_timeout"`
	// PinTimeout: time in PinFallback -> Idle (timeout); 20s.
	PinTimeout time.Duration `yaml:"pin_timeout"`
	// MaxPinTries: wrong PINs per session before Idle (denied); 3.
	MaxPinTries int `yaml:"max_pin_tries"`
	// LockoutAfter: wrong PINs across sessions before a lockout; 5.
	LockoutAfter int `yaml:"lockout_after"`
	// LockoutBase: the first lockout, doubling per repeated lockout; 60s.
	LockoutBase time.Duration `yaml:"lockout_base"`
	// LockoutMax caps one lockout; 0 means DefaultLockoutMax (15m); at least lockout_base, at
	// most 24h.
	LockoutMax time.Duration `yaml:"lockout_max"`
	// FailureWindow: wrong PINs and lockout levels older than this stop counting; 0 means
	// DefaultFailureWindow (1h).
	FailureWindow time.Duration `yaml:"failure_window"`
	// UnlockDuration: relay open time; 3s.
	UnlockDuration time.Duration `yaml:"unlock_duration"`
	// Cooldown: Cooldown -> Idle; 2s.
	Cooldown time.Duration `yaml:"cooldown"`
	// RequireFaceAndPIN: face+PIN mode, the PIN must belong to the user the face matched.
	RequireFaceAndPIN bool `yaml:"require_face_and_pin"`
	// EvidenceOnUnknown also keeps the best frame for denied/timeout/locked_out sessions.
	EvidenceOnUnknown bool `yaml:"evidence_on_unknown"`
	// TimeZone is the site's IANA time zone ("Asia/Seoul"), in which users' weekly schedules
	// are read; "Local" (the default) is the host's zone.
	TimeZone string `yaml:"time_zone"`
	// AlarmFailures failed sessions (denied or locked out) within AlarmWindow raise a
	// "failures" alarm; 5. 0 turns the alarm off.
	AlarmFailures int `yaml:"alarm_failures"`
	// AlarmWindow is the window of AlarmFailures; 10m.
	AlarmWindow time.Duration `yaml:"alarm_window"`
	// Liveness is what the session's liveness evidence does: LivenessEnforce (the default: a
	// face opens the door only when the session's liveness passes, and repeated frames add no
	// evidence), LivenessLog (scores and repeats are recorded, nothing else changes; for a
	// site's first week) or LivenessOff (nothing is scored).
	Liveness string `yaml:"liveness"`
	// LivenessThreshold is the least mean P(real) of the session's scored frames a face grant
	// needs; 0.9.
	LivenessThreshold float64 `yaml:"liveness_threshold"`
	// LivenessFrames is how many distinct scored frames the mean needs before it decides; 5.
	// At most max_frames (unless liveness is off).
	LivenessFrames int `yaml:"liveness_frames"`
	// ClearDistance and ClearMargin: a usable frame closer than ClearDistance to a user, with at
	// least ClearMargin to the next user, decides the face on its own (the sequential rule);
	// other matches need K of the last N. ClearDistance 0 turns the one-frame rule off.
	// Defaults: the calibrated values of the default engine (vision/CALIBRATION.md).
	ClearDistance float64 `yaml:"clear_distance"`
	ClearMargin   float64 `yaml:"clear_margin"`
}

// The values of Config.Liveness.
const (
	LivenessEnforce = "enforce"
	LivenessLog     = "log"
	LivenessOff     = "off"
)

// Liveness defaults: the models README measured that the mean of 5 frames at 0.9 refused every
// print-attack window and no live one (machine/doc.go, "Liveness").
const (
	DefaultLivenessThreshold = 0.9
	DefaultLivenessFrames    = 5
)

// Lockout bounds used when Config.LockoutMax or Config.FailureWindow is zero (see the package
// documentation, section "PIN lockout").
const (
	DefaultLockoutMax    = 15 * time.Minute
	DefaultFailureWindow = time.Hour
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		ReceiveTimeout:   5 * time.Second,
		K:                2,
		N:                3,
		Threshold:        params.DefaultThreshold,
		MinMargin:        params.DefaultMinMargin,
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
		TimeZone:         "Local",
		AlarmFailures:    5,
		AlarmWindow:      10 * time.Minute,

		Liveness:          LivenessEnforce,
		LivenessThreshold: DefaultLivenessThreshold,
		LivenessFrames:    DefaultLivenessFrames,
		ClearDistance:     params.DefaultClearDistance,
		ClearMargin:       params.DefaultClearMargin,
	}
}

// Validate reports the first bad setting by its key ("key=value: what is allowed"), wrapping
// ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(key string, v any, allowed string) error {
		return fmt.Errorf("%w: %s=%v: %s", ErrInvalidConfig, key, v, allowed)
	}
	durations := []struct {
		key string
		d   time.Duration
	}{
		{"receive_timeout", c.ReceiveTimeout},
		{"recognize_timeout", c.RecognizeTimeout},
		{"pin_timeout", c.PinTimeout},
		{"lockout_base", c.LockoutBase},
		{"unlock_duration", c.UnlockDuration},
		{"cooldown", c.Cooldown},
	}
	for _, d := range durations {
		if d.d <= 0 {
			return bad(d.key, d.d, "a positive duration such as 500ms, 5s or 2m")
		}
	}
	switch {
	case c.K < 1:
		return bad("k", c.K, "a whole number >= 1")
	case c.N < c.K:
		return bad("n", c.N, fmt.Sprintf("a whole number >= k (%d)", c.K))
	case c.MaxFrames < c.N:
		return bad("max_frames", c.MaxFrames, fmt.Sprintf("a whole number >= n (%d)", c.N))
	case !(c.Threshold > 0 && c.Threshold < 2):
		return bad("threshold", c.Threshold, "a distance between 0 and 2 (see `doorface calibrate`)")
	case !(c.MinMargin >= 0):
		return bad("min_margin", c.MinMargin, "a distance >= 0")
	case c.MaxPinTries < 1:
		return bad("max_pin_tries", c.MaxPinTries, "a whole number >= 1")
	case c.LockoutAfter < 1:
		return bad("lockout_after", c.LockoutAfter, "a whole number >= 1")
	case c.LockoutMax < 0:
		return bad("lockout_max", c.LockoutMax, "a duration >= 0 (0 means 15m)")
	case c.LockoutMax > 0 && c.LockoutMax < c.LockoutBase:
		return bad("lockout_max", c.LockoutMax, "at least lockout_base ("+c.LockoutBase.String()+")")
	case c.LockoutMax > maxLockout:
		return bad("lockout_max", c.LockoutMax, "at most 24h")
	case c.FailureWindow < 0:
		return bad("failure_window", c.FailureWindow, "a duration >= 0 (0 means 1h)")
	case c.AlarmFailures < 0:
		return bad("alarm_failures", c.AlarmFailures, "a whole number >= 0 (0 turns the alarm off)")
	case c.AlarmFailures > 0 && c.AlarmWindow <= 0:
		return bad("alarm_window", c.AlarmWindow, "a positive duration such as 10m")
	case c.Liveness != LivenessEnforce && c.Liveness != LivenessLog && c.Liveness != LivenessOff:
		return bad("liveness", c.Liveness, "enforce, log or off")
	case !(c.LivenessThreshold > 0 && c.LivenessThreshold < 1):
		return bad("liveness_threshold", c.LivenessThreshold, "a probability between 0 and 1 (see `doorface liveness`)")
	case c.Liveness != LivenessOff && (c.LivenessFrames < 1 || c.LivenessFrames > c.MaxFrames):
		return bad("liveness_frames", c.LivenessFrames, fmt.Sprintf("a whole number from 1 to max_frames (%d)", c.MaxFrames))
	case !(c.ClearDistance >= 0 && c.ClearDistance <= c.Threshold):
		return bad("clear_distance", c.ClearDistance, fmt.Sprintf("a distance from 0 (off) to threshold (%g)", c.Threshold))
	case c.ClearDistance > 0 && !(c.ClearMargin >= c.MinMargin):
		return bad("clear_margin", c.ClearMargin, fmt.Sprintf("a distance >= min_margin (%g)", c.MinMargin))
	}
	if _, err := LoadZone(c.TimeZone); err != nil {
		return bad("time_zone", c.TimeZone, "an IANA time zone such as Asia/Seoul or Europe/Berlin, or Local")
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
