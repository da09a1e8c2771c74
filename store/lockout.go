package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MethodAdmin and OutcomeLockoutReset mark the record ResetLockout appends: an administrator's
// action, not an attempt (like MethodDoor records, it is not counted as a session).
const (
	MethodAdmin         = "admin"
	OutcomeLockoutReset = "lockout_reset"
)

// Lockout is the PIN lockout state that must survive a restart: wrong PINs counted in the
// current failure window (from Since), how many lockouts in a row, and until when PIN entry is
// refused. The machine decides what the fields mean (see machine's doc, "PIN lockout").
type Lockout struct {
	Failures int       `json:"failures"`
	Level    int       `json:"level"`
	Until    time.Time `json:"until"`
	Since    time.Time `json:"since"`
}

// lockoutRec is the stored form of a Lockout.
type lockoutRec struct {
	Failures int   `json:"failures"`
	Level    int   `json:"level"`
	Until    int64 `json:"until,omitempty"`
	Since    int64 `json:"since,omitempty"`
}

// LoadLockout returns the saved lockout state; the zero Lockout when none was saved.
func (db *DB) LoadLockout() (Lockout, error) {
	var rec lockoutRec
	err := db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keyLockout)
		if v == nil {
			return nil
		}
		return jsonUnmarshal(v, &rec)
	})
	if err != nil {
		return Lockout{}, wrapf(err, "load lockout")
	}
	return Lockout{Failures: rec.Failures, Level: rec.Level, Until: fromNanos(rec.Until), Since: fromNanos(rec.Since)}, nil
}

// SaveLockout durably (fsync) stores the lockout state.
func (db *DB) SaveLockout(l Lockout) error {
	rec := lockoutRec{Failures: l.Failures, Level: l.Level, Until: toNanos(l.Until), Since: toNanos(l.Since)}
	err := db.update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketMeta), keyLockout, rec) })
	if err != nil {
		return wrapf(err, "save lockout")
	}
	db.log.Info("lockout saved", "failures", l.Failures, "level", l.Level, "until", l.Until)
	return nil
}

// ResetLockout is the administrator's reset of the PIN lockout: in one fsync'd transaction it
// clears the saved lockout and appends an audit record (ID "lockout-reset-<unix nanos>", Method
// MethodAdmin, Outcome OutcomeLockoutReset, Reason naming by and the state cleared). It returns
// the state it cleared. by names who reset it (an admin token's name, "cli"); at is the time of
// the reset (zero: now).
func (db *DB) ResetLockout(by string, at time.Time) (Lockout, error) {
	if at.IsZero() {
		at = db.opts.Clock.Now()
	}
	var was Lockout
	var rec Attempt
	err := db.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		var r lockoutRec
		if v := meta.Get(keyLockout); v != nil {
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
		}
		was = Lockout{Failures: r.Failures, Level: r.Level, Until: fromNanos(r.Until), Since: fromNanos(r.Since)}
		until := "none"
		if !was.Until.IsZero() {
			until = was.Until.UTC().Format(time.RFC3339)
		}
		var err error
		rec, err = db.appendTx(tx, Attempt{
			ID: fmt.Sprintf("lockout-reset-%d", at.UnixNano()), Start: at, End: at, Outcome: OutcomeLockoutReset,
			Method: MethodAdmin, BestDistance: -1, BestMargin: -1,
			Reason: fmt.Sprintf("PIN lockout reset by %s (was: %d failures, level %d, locked until %s)",
				by, was.Failures, was.Level, until),
		}, nil, nil)
		if err != nil {
			return err
		}
		return putJSON(meta, keyLockout, lockoutRec{})
	})
	if err != nil {
		return Lockout{}, wrapf(err, "reset lockout")
	}
	db.log.Warn("PIN lockout reset", "by", by, "seq", rec.Seq, "was_level", was.Level, "was_until", was.Until)
	return was, nil
}
