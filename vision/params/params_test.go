package params

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateNamesTheKey(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		name string
		mut  func(*Config)
		key  string
	}{
		{"body limit", func(c *Config) { c.MaxBytes = 0 }, "max_bytes="},
		{"width", func(c *Config) { c.MaxWidth = 10 }, "max_width="},
		{"multi-face policy", func(c *Config) { c.MultiFace = "all" }, "multi_face="},
		{"workers", func(c *Config) { c.Workers = 0 }, "workers="},
		{"detector", func(c *Config) { c.Detector = "yolo" }, "detector="},
		{"brightness range", func(c *Config) { c.MinBrightness = 200; c.MaxBrightness = 100 }, "min_brightness="},
		{"sharpness", func(c *Config) { c.MinSharpness = -1 }, "min_sharpness="},
		{"detect width", func(c *Config) { c.DetectWidth = 100 }, "detect_width="},
		{"engine", func(c *Config) { c.Engine = "arcface" }, "engine="},
		{"yaw", func(c *Config) { c.MaxYaw = 0 }, "max_yaw="},
		{"pitch", func(c *Config) { c.MaxPitch = 95 }, "max_pitch="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mut(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("Validate = %v, want ErrInvalid naming %q", err, tc.key)
			}
		})
	}
}
