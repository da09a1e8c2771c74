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

// Retention bounds the evidence frames and the audit records kept.
type Retention struct {
	// MaxAge is how long evidence frames are kept; default 30 days.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxBytes caps the total size of kept evidence frames; default 512 MiB. A new frame that
	// does not fit once frames older than MaxAge are gone is not kept (its record says
	// EvidenceDropped): recent evidence is never evicted to make room.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxRecords caps the audit history; default 100,000 records (a 20,000-record file measured
	// 2.4 KB per record with indexes and bbolt's slack, so some 250 MB). Recording beyond it
	// prunes the oldest records behind a sealed checkpoint; the most recent are never pruned.
	MaxRecords int `yaml:"max_records"`
	// MaxRecordAge is how long records are kept by Prune; default 400 days. The newest
	// KeepRecords records are kept whatever their age.
	MaxRecordAge time.Duration `yaml:"max_record_age"`
	// KeepRecords is how many of the newest records age never prunes; default 1,000 (at most
	// MaxRecords).
	KeepRecords int `yaml:"keep_records"`
	// KeepFaceCrops keeps each enrolled face's crop (a small JPEG, encrypted with a key derived
	// from the PIN key) beside its template, so `doorface gallery rebuild` can make templates for
	// another recognition engine without re-enrolling anyone; default true (DefaultConfig). With
	// false no crop is stored, and switching engines means enrolling everyone again. The zero
	// Options of Open keep none.
	KeepFaceCrops bool `yaml:"keep_face_crops"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		PIN: PINPolicy{MinLength: DefaultPinMinLen},
		Retention: Retention{MaxAge: DefaultMaxEvidenceAge, MaxBytes: DefaultMaxEvidenceBytes,
			MaxRecords: DefaultMaxRecords, MaxRecordAge: DefaultMaxRecordAge, KeepRecords: DefaultKeepRecords,
			KeepFaceCrops: true},
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
	case c.Retention.MaxRecords < 0:
		return bad("retention.max_records", c.Retention.MaxRecords, "a whole number >= 0 (0 means the default)")
	case c.Retention.MaxRecordAge < 0:
		return bad("retention.max_record_age", c.Retention.MaxRecordAge, "a duration >= 0 (0 means the default)")
	case c.Retention.KeepRecords < 0 || (c.Retention.MaxRecords > 0 && c.Retention.KeepRecords > c.Retention.MaxRecords):
		return bad("retention.keep_records", c.Retention.KeepRecords, "a whole number from 0 to retention.max_records")
	}
	return nil
}
