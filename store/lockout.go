package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// Lockout is the PIN lockout state that must survive a restart: wrong PINs counted across
// sessions, how many times the lockout has escalated, and until when PIN entry is refused.
type Lockout struct {
	Failures int       `json:"failures"`
	Level    int       `json:"level"`
	Until    time.Time `json:"until"`
}

// lockoutRec is the stored form of a Lockout.
type lockoutRec struct {
	Failures int   `json:"failures"`
	Level    int   `json:"level"`
	Until    int64 `json:"until,omitempty"`
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
	return Lockout{Failures: rec.Failures, Level: rec.Level, Until: fromNanos(rec.Until)}, nil
}

// SaveLockout durably (fsync) stores the lockout state.
func (db *DB) SaveLockout(l Lockout) error {
	rec := lockoutRec{Failures: l.Failures, Level: l.Level, Until: toNanos(l.Until)}
	err := db.update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketMeta), keyLockout, rec) })
	if err != nil {
		return wrapf(err, "save lockout")
	}
	db.log.Info("lockout saved", "failures", l.Failures, "level", l.Level, "until", l.Until)
	return nil
}
