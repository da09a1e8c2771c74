package store

import (
	"fmt"
	"time"
)

// Config holds the store's settings a person sets. Its sections are the configuration file's
// "pin" and "retention" sections (the daemon embeds Config inline). Zero values take the defaults.
type Config struct {
	PIN       PINPolicy `yaml:"pin"`
	Retention Retention `yaml:"retention"`
}

// PINPolicy is what a PIN must be.
type PINPolicy struct {
	// MinLength is the least number of digits of a PIN; default 5 (DefaultPinMinLen).
	MinLength int `yaml:"min_length"`
}

// Retention bounds the evidence frames kept.
type Retention struct {
	// MaxAge is how long evidence frames are kept; default 30 days.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxBytes caps the total size of kept evidence frames; default 512 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		PIN:       PINPolicy{MinLength: DefaultPinMinLen},
		Retention: Retention{MaxAge: DefaultMaxEvidenceAge, MaxBytes: DefaultMaxEvidenceBytes},
	}
}

// Validate reports the first bad setting by its key ("section.key=value: what is allowed").
func (c Config) Validate() error {
	bad := func(key string, v any, allowed string) error {
		return fmt.Errorf("%w: %s=%v: %s", ErrInvalidConfig, key, v, allowed)
	}
	switch {
	case c.PIN.MinLength < 4 || c.PIN.MinLength > maxPINLen:
		return bad("pin.min_length", c.PIN.MinLength, fmt.Sprintf("a whole number from 4 to %d", maxPINLen))
	case c.Retention.MaxAge <= 0:
		return bad("retention.max_age", c.Retention.MaxAge, "a positive duration such as 720h")
	case c.Retention.MaxBytes < 0:
		return bad("retention.max_bytes", c.Retention.MaxBytes, "a whole number >= 0 (0 means the default)")
	}
	return nil
}
