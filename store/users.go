package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxPINLen bounds a PIN's length: long enough for any keypad code, short enough to refuse junk.
const maxPINLen = 12

// User is an enrolled person. The PIN itself is never part of it: HasPIN only says one is set.
type User struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Created    time.Time `json:"created"`
	Enabled    bool      `json:"enabled"`
	ValidFrom  time.Time `json:"valid_from"`  // zero = no start
	ValidUntil time.Time `json:"valid_until"` // zero = no end; exclusive
	HasPIN     bool      `json:"has_pin"`
	// Mode is the authentication mode (one of Modes); "" means face_or_pin.
	Mode string `json:"mode"`
	// Schedule names the user's weekly schedule; "" means any time.
	Schedule string `json:"schedule"`
	// HasDuressPIN says a duress PIN is set (SetDuressPIN).
	HasDuressPIN bool `json:"has_duress_pin"`
}

// ValidAt reports whether u is enabled and inside its validity window at t.
func (u User) ValidAt(t time.Time) bool {
	if !u.Enabled {
		return false
	}
	if !u.ValidFrom.IsZero() && t.Before(u.ValidFrom) {
		return false
	}
	if !u.ValidUntil.IsZero() && !t.Before(u.ValidUntil) {
		return false
	}
	return true
}

// userRec is the stored form of a user (schema v1).
type userRec struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Created    int64  `json:"created"`
	Enabled    bool   `json:"enabled"`
	ValidFrom  int64  `json:"valid_from,omitempty"`
	ValidUntil int64  `json:"valid_until,omitempty"`
	PinMAC     []byte `json:"pin_mac,omitempty"` // HMAC-SHA256(key, pin); the key is not in the file
	Mode       string `json:"mode,omitempty"`
	Schedule   string `json:"schedule,omitempty"`
	DuressMAC  []byte `json:"duress_mac,omitempty"` // HMAC-SHA256(key, duress PIN)
}

func (r userRec) user() User {
	return User{ID: r.ID, Name: r.Name, Created: fromNanos(r.Created), Enabled: r.Enabled,
		ValidFrom: fromNanos(r.ValidFrom), ValidUntil: fromNanos(r.ValidUntil), HasPIN: len(r.PinMAC) > 0,
		Mode: r.Mode, Schedule: r.Schedule, HasDuressPIN: len(r.DuressMAC) > 0}
}

// newID returns 16 random bytes in hex.
func newID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("store: random id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// checkPIN applies the PIN policy.
func (db *DB) checkPIN(pin string) error {
	if len(pin) < db.opts.PIN.MinLength {
		return fmt.Errorf("store: PIN shorter than %d digits: %w", db.opts.PIN.MinLength, ErrPINPolicy)
	}
	if len(pin) > maxPINLen {
		return fmt.Errorf("store: PIN longer than %d digits: %w", maxPINLen, ErrPINPolicy)
	}
	for i := 0; i < len(pin); i++ {
		if pin[i] < '0' || pin[i] > '9' {
			return fmt.Errorf("store: PIN must be digits only: %w", ErrPINPolicy)
		}
	}
	return nil
}

// CreateUser enrolls an enabled user with no validity limits. pin "" means no PIN. Errors wrap
// ErrInvalidName, ErrPINPolicy (with the rule broken) or ErrPINInUse.
func (db *DB) CreateUser(name, pin string) (User, error) {
	if why := validName(name); why != "" {
		return User{}, fmt.Errorf("store: user name %s: %w", why, ErrInvalidName)
	}
	var m []byte
	if pin != "" {
		if err := db.checkPIN(pin); err != nil {
			return User{}, err
		}
		var err error
		if m, err = db.pinMAC(pin); err != nil {
			return User{}, err
		}
	}
	id, err := newID()
	if err != nil {
		return User{}, err
	}
	rec := userRec{ID: id, Name: name, Created: toNanos(db.opts.Clock.Now()), Enabled: true, PinMAC: m}
	err = db.update(func(tx *bolt.Tx) error {
		// Two people with one name cannot be told apart in the audit or at the door.
		if err := tx.Bucket(bucketUsers).ForEach(func(_, v []byte) error {
			var other userRec
			if err := json.Unmarshal(v, &other); err != nil {
				return err
			}
			if strings.EqualFold(strings.TrimSpace(other.Name), strings.TrimSpace(name)) {
				return fmt.Errorf("store: create user %q: %w (user %s)", name, ErrNameInUse, other.ID)
			}
			return nil
		}); err != nil {
			return err
		}
		if m != nil {
			pins := tx.Bucket(bucketPins)
			if pins.Get(m) != nil {
				return fmt.Errorf("store: create user: %w", ErrPINInUse)
			}
			if err := pins.Put(m, []byte(id)); err != nil {
				return err
			}
		}
		return putJSON(tx.Bucket(bucketUsers), []byte(id), rec)
	})
	if err != nil {
		return User{}, wrapf(err, "create user")
	}
	db.log.Info("user created", "user", id, "has_pin", m != nil)
	return rec.user(), nil
}

// GetUser returns the user with this id, or ErrNotFound.
func (db *DB) GetUser(id string) (User, error) {
	var rec userRec
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		rec, err = getUserRec(tx, id)
		return err
	})
	if err != nil {
		return User{}, err
	}
	return rec.user(), nil
}

// ListUsers returns every user, ordered by id.
func (db *DB) ListUsers() ([]User, error) {
	var out []User
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var rec userRec
			if err := jsonUnmarshal(v, &rec); err != nil {
				return fmt.Errorf("store: user %q: %w", k, err)
			}
			out = append(out, rec.user())
			return nil
		})
	})
	return out, err
}

// DeleteUser removes a user, their PIN index entry and all their templates. Their past attempts
// stay in the history (the chain must not change).
func (db *DB) DeleteUser(id string) error {
	n := 0
	err := db.update(func(tx *bolt.Tx) error {
		rec, err := getUserRec(tx, id)
		if err != nil {
			return err
		}
		for _, m := range [][]byte{rec.PinMAC, rec.DuressMAC} {
			if len(m) > 0 {
				if err := tx.Bucket(bucketPins).Delete(m); err != nil {
					return err
				}
			}
		}
		if n, err = deleteTemplatesOf(tx, id); err != nil {
			return err
		}
		return tx.Bucket(bucketUsers).Delete([]byte(id))
	})
	if err != nil {
		return wrapf(err, "delete user "+id)
	}
	db.log.Info("user deleted", "user", id, "templates_deleted", n)
	return nil
}

// SetPIN replaces a user's PIN; "" removes it. Errors as CreateUser, plus ErrNotFound.
func (db *DB) SetPIN(id, pin string) error {
	m, err := db.replacePIN(id, pin, id, func(rec *userRec) *[]byte { return &rec.PinMAC })
	if err != nil {
		return wrapf(err, "set PIN of "+id)
	}
	db.log.Info("user PIN changed", "user", id, "has_pin", m != nil)
	return nil
}

// replacePIN checks pin against the policy and stores its MAC in the user's field (the PIN or
// the duress PIN), indexed in the pins bucket under owner; "" removes it. A MAC indexed to another
// owner is ErrPINInUse: PINs and duress PINs are unique across all users and both kinds.
func (db *DB) replacePIN(id, pin, owner string, field func(*userRec) *[]byte) ([]byte, error) {
	var m []byte
	if pin != "" {
		if err := db.checkPIN(pin); err != nil {
			return nil, err
		}
		var err error
		if m, err = db.pinMAC(pin); err != nil {
			return nil, err
		}
	}
	err := db.modifyUser(id, func(tx *bolt.Tx, rec *userRec) error {
		pins := tx.Bucket(bucketPins)
		if m != nil {
			if o := pins.Get(m); o != nil && string(o) != owner {
				return ErrPINInUse
			}
		}
		old := field(rec)
		if len(*old) > 0 {
			if err := pins.Delete(*old); err != nil {
				return err
			}
		}
		if m != nil {
			if err := pins.Put(m, []byte(owner)); err != nil {
				return err
			}
		}
		*old = m
		return nil
	})
	return m, err
}

// SetEnabled enables or disables a user.
func (db *DB) SetEnabled(id string, on bool) error {
	err := db.modifyUser(id, func(_ *bolt.Tx, rec *userRec) error { rec.Enabled = on; return nil })
	if err != nil {
		return wrapf(err, "set enabled of "+id)
	}
	db.log.Info("user enabled changed", "user", id, "enabled", on)
	return nil
}

// SetValidity sets a user's validity window [from, until); a zero time leaves that side open.
func (db *DB) SetValidity(id string, from, until time.Time) error {
	if !from.IsZero() && !until.IsZero() && until.Before(from) {
		return fmt.Errorf("store: set validity of %s: %w", id, ErrInvalidValidity)
	}
	err := db.modifyUser(id, func(_ *bolt.Tx, rec *userRec) error {
		rec.ValidFrom, rec.ValidUntil = toNanos(from), toNanos(until)
		return nil
	})
	if err != nil {
		return wrapf(err, "set validity of "+id)
	}
	db.log.Info("user validity changed", "user", id, "from", from, "until", until)
	return nil
}

// LookupPIN finds the enabled user, valid at `at`, who owns pin (a duress PIN is not theirs
// here: FindPIN tells it apart). The work is constant in the
// number of users: one HMAC and one B+tree lookup. A PIN that breaks the policy simply matches
// nobody.
func (db *DB) LookupPIN(pin string, at time.Time) (User, bool, error) {
	m, err := db.pinMAC(pin)
	if err != nil {
		return User{}, false, err
	}
	var u User
	found := false
	err = db.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketPins).Get(m)
		if id == nil || strings.HasPrefix(string(id), duressPrefix) {
			return nil
		}
		rec, err := getUserRec(tx, string(id))
		if err != nil {
			return err
		}
		u, found = rec.user(), true
		return nil
	})
	if err != nil {
		return User{}, false, wrapf(err, "lookup PIN")
	}
	if !found || !u.ValidAt(at) {
		return User{}, false, nil
	}
	return u, true, nil
}

// ActiveUser returns the user with this id if it exists, is enabled and is valid at `at`.
func (db *DB) ActiveUser(id string, at time.Time) (User, bool, error) {
	u, err := db.GetUser(id)
	switch {
	case errorsIs(err, ErrNotFound):
		return User{}, false, nil
	case err != nil:
		return User{}, false, err
	case !u.ValidAt(at):
		return User{}, false, nil
	}
	return u, true, nil
}

// modifyUser loads a user, lets fn change it, and stores it, in one transaction.
func (db *DB) modifyUser(id string, fn func(tx *bolt.Tx, rec *userRec) error) error {
	return db.update(func(tx *bolt.Tx) error {
		rec, err := getUserRec(tx, id)
		if err != nil {
			return err
		}
		if err := fn(tx, &rec); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketUsers), []byte(id), rec)
	})
}

// getUserRec reads one user or returns ErrNotFound.
func getUserRec(tx *bolt.Tx, id string) (userRec, error) {
	v := tx.Bucket(bucketUsers).Get([]byte(id))
	if v == nil {
		return userRec{}, fmt.Errorf("store: user %q: %w", id, ErrNotFound)
	}
	var rec userRec
	if err := jsonUnmarshal(v, &rec); err != nil {
		return userRec{}, fmt.Errorf("store: user %q: %w", id, err)
	}
	return rec, nil
}

// putJSON stores v as JSON under k.
func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

// jsonUnmarshal decodes data (which may live in the mmap) into v; v never aliases data.
func jsonUnmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v) // copies strings and byte slices out of data
}

// wrapf adds context to err unless it already carries the package prefix.
func wrapf(err error, what string) error {
	if strings.HasPrefix(err.Error(), "store: ") {
		return err
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// errorsIs is errors.Is.
func errorsIs(err, target error) bool { return errors.Is(err, target) }
