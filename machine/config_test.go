package machine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		field  string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"1 of 1", func(c *Config) { c.K, c.N = 1, 1 }, ""},
		{"zero receive timeout", func(c *Config) { c.ReceiveTimeout = 0 }, "receive_timeout"},
		{"negative recognize timeout", func(c *Config) { c.RecognizeTimeout = -time.Second }, "recognize_timeout"},
		{"zero PIN timeout", func(c *Config) { c.PinTimeout = 0 }, "pin_timeout"},
		{"zero lockout base", func(c *Config) { c.LockoutBase = 0 }, "lockout_base"},
		{"zero unlock", func(c *Config) { c.UnlockDuration = 0 }, "unlock_duration"},
		{"zero cooldown", func(c *Config) { c.Cooldown = 0 }, "cooldown"},
		{"K zero", func(c *Config) { c.K = 0 }, "k"},
		{"N below K", func(c *Config) { c.K, c.N = 3, 2 }, "n"},
		{"MaxFrames below K", func(c *Config) { c.MaxFrames = 1 }, "max_frames"},
		{"zero threshold", func(c *Config) { c.Threshold = 0 }, "threshold"},
		{"threshold too far", func(c *Config) { c.Threshold = 2 }, "threshold"},
		{"negative margin", func(c *Config) { c.MinMargin = -0.1 }, "min_margin"},
		{"no PIN tries", func(c *Config) { c.MaxPinTries = 0 }, "max_pin_tries"},
		{"no lockout count", func(c *Config) { c.LockoutAfter = 0 }, "lockout_after"},
		{"zero lockout bounds take defaults", func(c *Config) { c.LockoutMax, c.FailureWindow = 0, 0 }, ""},
		{"lockout cap below base", func(c *Config) { c.LockoutMax = 30 * time.Second }, "lockout_max"},
		{"lockout cap over a day", func(c *Config) { c.LockoutMax = 25 * time.Hour }, "lockout_max"},
		{"negative failure window", func(c *Config) { c.FailureWindow = -time.Second }, "failure_window"},
		{"liveness log", func(c *Config) { c.Liveness = LivenessLog }, ""},
		{"liveness off", func(c *Config) { c.Liveness = LivenessOff }, ""},
		{"liveness unknown", func(c *Config) { c.Liveness = "on" }, "liveness"},
		{"liveness threshold 1", func(c *Config) { c.LivenessThreshold = 1 }, "liveness_threshold"},
		{"liveness threshold 0", func(c *Config) { c.LivenessThreshold = 0 }, "liveness_threshold"},
		{"no liveness frames", func(c *Config) { c.LivenessFrames = 0 }, "liveness_frames"},
		{"liveness frames over max_frames", func(c *Config) { c.LivenessFrames = c.MaxFrames + 1 }, "liveness_frames"},
		{"one-frame rule off", func(c *Config) { c.ClearDistance = 0 }, ""},
		{"clear distance beyond threshold", func(c *Config) { c.ClearDistance = c.Threshold + 0.01 }, "clear_distance"},
		{"clear margin below min margin", func(c *Config) { c.ClearMargin = c.MinMargin / 2 }, "clear_margin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field+"=") {
				t.Fatalf("Validate = %v, want an ErrInvalidConfig naming %s", err, tc.field)
			}
		})
	}
}

func TestNew(t *testing.T) {
	full := func() Deps {
		r := newRig(t, DefaultConfig(), Lockout{})
		return Deps{Clock: r.clk, Lock: r.lock, Sink: r.sink, Directory: r.dir, Lockouts: r.lo}
	}
	tests := []struct {
		name  string
		cfg   func(*Config)
		deps  func(*Deps)
		isErr error
	}{
		{"ok without logger", nil, func(*Deps) {}, nil},
		{"bad config", func(c *Config) { c.K = 0 }, func(*Deps) {}, ErrInvalidConfig},
		{"no clock", nil, func(d *Deps) { d.Clock = nil }, ErrMissingDependency},
		{"no lock", nil, func(d *Deps) { d.Lock = nil }, ErrMissingDependency},
		{"no sink", nil, func(d *Deps) { d.Sink = nil }, ErrMissingDependency},
		{"no directory", nil, func(d *Deps) { d.Directory = nil }, ErrMissingDependency},
		{"no lockout store", nil, func(d *Deps) { d.Lockouts = nil }, ErrMissingDependency},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			d := full()
			tc.deps(&d)
			m, err := New(cfg, d)
			if !errors.Is(err, tc.isErr) || (err == nil) != (m != nil) {
				t.Fatalf("New = %v, %v; want error %v", m, err, tc.isErr)
			}
		})
	}
}

func TestLockoutFor(t *testing.T) {
	tests := []struct {
		level int
		want  time.Duration
	}{
		{0, time.Minute}, {1, 2 * time.Minute}, {2, 4 * time.Minute}, {10, 1024 * time.Minute},
		{1000, maxLockout},
	}
	for _, tc := range tests {
		if got := lockoutFor(time.Minute, maxLockout, tc.level); got != tc.want {
			t.Errorf("lockoutFor(1m, %v, %d) = %v, want %v", maxLockout, tc.level, got, tc.want)
		}
	}
	// The default cap: 1, 2, 4, 8, then 15 minutes however often it repeats.
	for level, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		15 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		if got := lockoutFor(time.Minute, DefaultLockoutMax, level); got != want {
			t.Errorf("lockoutFor(1m, %v, %d) = %v, want %v", DefaultLockoutMax, level, got, want)
		}
	}
}
