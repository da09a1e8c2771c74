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
		{"zero receive timeout", func(c *Config) { c.ReceiveTimeout = 0 }, "ReceiveTimeout"},
		{"negative recognize timeout", func(c *Config) { c.RecognizeTimeout = -time.Second }, "RecognizeTimeout"},
		{"zero PIN timeout", func(c *Config) { c.PinTimeout = 0 }, "PinTimeout"},
		{"zero lockout base", func(c *Config) { c.LockoutBase = 0 }, "LockoutBase"},
		{"zero unlock", func(c *Config) { c.UnlockDuration = 0 }, "UnlockDuration"},
		{"zero cooldown", func(c *Config) { c.Cooldown = 0 }, "Cooldown"},
		{"K zero", func(c *Config) { c.K = 0 }, "K"},
		{"N below K", func(c *Config) { c.K, c.N = 3, 2 }, "N"},
		{"MaxFrames below K", func(c *Config) { c.MaxFrames = 1 }, "MaxFrames"},
		{"zero threshold", func(c *Config) { c.Threshold = 0 }, "Threshold"},
		{"negative margin", func(c *Config) { c.MinMargin = -0.1 }, "MinMargin"},
		{"no PIN tries", func(c *Config) { c.MaxPinTries = 0 }, "MaxPinTries"},
		{"no lockout count", func(c *Config) { c.LockoutAfter = 0 }, "LockoutAfter"},
		{"zero lockout bounds take defaults", func(c *Config) { c.LockoutMax, c.FailureWindow = 0, 0 }, ""},
		{"lockout cap below base", func(c *Config) { c.LockoutMax = 30 * time.Second }, "LockoutMax"},
		{"lockout cap over a day", func(c *Config) { c.LockoutMax = 25 * time.Hour }, "LockoutMax"},
		{"negative failure window", func(c *Config) { c.FailureWindow = -time.Second }, "FailureWindow"},
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
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field+" ") {
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
