package store

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Authentication modes a user may have (User.Mode). "" means ModeFaceOrPIN.
const (
	ModeFace       = "face"
	ModeFaceOrPIN  = "face_or_pin"
	ModeFaceAndPIN = "face_and_pin"
	ModePINOnly    = "pin_only"
)

// Modes lists the authentication modes.
var Modes = []string{ModeFace, ModeFaceOrPIN, ModeFaceAndPIN, ModePINOnly}

// duressPrefix marks a pins-bucket value as a duress PIN: "duress/" followed by the user id.
// Normal and duress PINs share the index, so a PIN is unique across both.
const duressPrefix = "duress/"

// keySchedules holds the named weekly schedules (meta bucket): JSON object name -> Schedule.
var keySchedules = []byte("schedules")

// maxSchedules and maxWindows bound the schedules: a few named schedules of a few windows each.
const (
	maxSchedules = 64
	maxWindows   = 32
)

// Window is one weekly time window of a Schedule: Days are weekday names ("mon".."sun") or
// ranges of them ("mon-fri"); From and Until are local wall-clock times "HH:MM", Until
// exclusive and allowed to be "24:00". Until at or before From makes an overnight window
// that ends the next morning.
type Window struct {
	Days  []string `json:"days"`
	From  string   `json:"from"`
	Until string   `json:"until"`
}

// Schedule is a named set of weekly windows, assignable to users (User.Schedule). The site's
// time zone (the machine's time_zone setting) says how its wall-clock times are read.
type Schedule struct {
	Name    string   `json:"name"`
	Windows []Window `json:"windows"`
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Parse checks w and returns its weekdays (indexed by time.Weekday) and its bounds in minutes
// after midnight. Errors wrap ErrInvalidSchedule.
func (w Window) Parse() (days [7]bool, from, until int, err error) {
	if len(w.Days) == 0 {
		return days, 0, 0, fmt.Errorf("store: window without days: %w", ErrInvalidSchedule)
	}
	for _, d := range w.Days {
		lo, hi, ok := strings.Cut(strings.ToLower(strings.TrimSpace(d)), "-")
		if !ok {
			hi = lo
		}
		a, b := slices.Index(dayNames, lo), slices.Index(dayNames, hi)
		if a < 0 || b < 0 {
			return days, 0, 0, fmt.Errorf("store: day %q is not mon..sun or a range such as mon-fri: %w", d, ErrInvalidSchedule)
		}
		for i := a; ; i = (i + 1) % 7 {
			days[i] = true
			if i == b {
				break
			}
		}
	}
	if from, err = parseClock(w.From, false); err != nil {
		return days, 0, 0, err
	}
	if until, err = parseClock(w.Until, true); err != nil {
		return days, 0, 0, err
	}
	if from == until {
		return days, 0, 0, fmt.Errorf("store: window %s-%s is empty: %w", w.From, w.Until, ErrInvalidSchedule)
	}
	return days, from, until, nil
}

// parseClock parses "HH:MM" (and "24:00" when end is true) into minutes after midnight.
func parseClock(s string, end bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	switch {
	case !ok || len(h) != 2 || len(m) != 2 || err1 != nil || err2 != nil || mm < 0 || mm > 59 || hh < 0:
	case hh < 24, end && hh == 24 && mm == 0:
		return hh*60 + mm, nil
	}
	return 0, fmt.Errorf("store: time %q is not HH:MM (00:00..23:59, or 24:00 as an end): %w", s, ErrInvalidSchedule)
}

// validScheduleName reports why name cannot name a schedule, "" if it can: 1..40 of a-z, 0-9,
// '-' and '_'.
func validScheduleName(name string) string {
	if name == "" || len(name) > 40 {
		return "must be 1 to 40 characters"
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "may hold only a-z, 0-9, '-' and '_'"
		}
	}
	return ""
}

// Check validates s. Errors wrap ErrInvalidSchedule.
func (s Schedule) Check() error {
	if why := validScheduleName(s.Name); why != "" {
		return fmt.Errorf("store: schedule name %q %s: %w", s.Name, why, ErrInvalidSchedule)
	}
	if len(s.Windows) > maxWindows {
		return fmt.Errorf("store: schedule %s has %d windows, at most %d: %w", s.Name, len(s.Windows), maxWindows, ErrInvalidSchedule)
	}
	for _, w := range s.Windows {
		if _, _, _, err := w.Parse(); err != nil {
			return err
		}
	}
	return nil
}

// schedulesTx reads every schedule.
func schedulesTx(tx *bolt.Tx) (map[string]Schedule, error) {
	out := map[string]Schedule{}
	if v := tx.Bucket(bucketMeta).Get(keySchedules); v != nil {
		if err := jsonUnmarshal(v, &out); err != nil {
			return nil, fmt.Errorf("store: schedules: %w", err)
		}
	}
	return out, nil
}

// PutSchedule creates or replaces the schedule named s.Name. Errors wrap ErrInvalidSchedule.
func (db *DB) PutSchedule(s Schedule) error {
	if err := s.Check(); err != nil {
		return err
	}
	if s.Windows == nil {
		s.Windows = []Window{}
	}
	err := db.update(func(tx *bolt.Tx) error {
		all, err := schedulesTx(tx)
		if err != nil {
			return err
		}
		if _, ok := all[s.Name]; !ok && len(all) >= maxSchedules {
			return fmt.Errorf("store: at most %d schedules: %w", maxSchedules, ErrInvalidSchedule)
		}
		all[s.Name] = s
		return putJSON(tx.Bucket(bucketMeta), keySchedules, all)
	})
	if err != nil {
		return wrapf(err, "put schedule "+s.Name)
	}
	db.log.Info("schedule saved", "schedule", s.Name, "windows", len(s.Windows))
	return nil
}

// GetSchedule returns the schedule with this name, or ErrNotFound.
func (db *DB) GetSchedule(name string) (Schedule, error) {
	var s Schedule
	err := db.view(func(tx *bolt.Tx) error {
		all, err := schedulesTx(tx)
		if err != nil {
			return err
		}
		var ok bool
		if s, ok = all[name]; !ok {
			return fmt.Errorf("store: schedule %q: %w", name, ErrNotFound)
		}
		return nil
	})
	return s, err
}

// ListSchedules returns every schedule, ordered by name.
func (db *DB) ListSchedules() ([]Schedule, error) {
	var out []Schedule
	err := db.view(func(tx *bolt.Tx) error {
		all, err := schedulesTx(tx)
		for _, s := range all {
			out = append(out, s)
		}
		return err
	})
	slices.SortFunc(out, func(a, b Schedule) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// DeleteSchedule removes a schedule. ErrNotFound if there is none; ErrScheduleInUse while a user
// has it (a user whose schedule vanished would be denied everywhere).
func (db *DB) DeleteSchedule(name string) error {
	err := db.update(func(tx *bolt.Tx) error {
		all, err := schedulesTx(tx)
		if err != nil {
			return err
		}
		if _, ok := all[name]; !ok {
			return fmt.Errorf("store: schedule %q: %w", name, ErrNotFound)
		}
		var users []string
		if err := tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var rec userRec
			if err := jsonUnmarshal(v, &rec); err != nil {
				return fmt.Errorf("store: user %q: %w", k, err)
			}
			if rec.Schedule == name {
				users = append(users, rec.ID)
			}
			return nil
		}); err != nil {
			return err
		}
		if len(users) > 0 {
			return fmt.Errorf("store: schedule %q is assigned to %d user(s) (%s): %w", name, len(users),
				strings.Join(users, ", "), ErrScheduleInUse)
		}
		delete(all, name)
		return putJSON(tx.Bucket(bucketMeta), keySchedules, all)
	})
	if err != nil {
		return wrapf(err, "delete schedule "+name)
	}
	db.log.Info("schedule deleted", "schedule", name)
	return nil
}

// SetMode sets a user's authentication mode (one of Modes; "" restores the default,
// face_or_pin). Errors wrap ErrInvalidPolicy or ErrNotFound.
func (db *DB) SetMode(id, mode string) error {
	if mode != "" && !slices.Contains(Modes, mode) {
		return fmt.Errorf("store: mode %q is not one of %s: %w", mode, strings.Join(Modes, ", "), ErrInvalidPolicy)
	}
	err := db.modifyUser(id, func(_ *bolt.Tx, rec *userRec) error { rec.Mode = mode; return nil })
	if err != nil {
		return wrapf(err, "set mode of "+id)
	}
	db.log.Info("user mode changed", "user", id, "mode", mode)
	return nil
}

// SetSchedule assigns the named schedule to a user; "" removes it (any time). A name that is
// no schedule wraps ErrInvalidPolicy.
func (db *DB) SetSchedule(id, name string) error {
	err := db.modifyUser(id, func(tx *bolt.Tx, rec *userRec) error {
		if name != "" {
			all, err := schedulesTx(tx)
			if err != nil {
				return err
			}
			if _, ok := all[name]; !ok {
				return fmt.Errorf("store: no schedule named %q: %w", name, ErrInvalidPolicy)
			}
		}
		rec.Schedule = name
		return nil
	})
	if err != nil {
		return wrapf(err, "set schedule of "+id)
	}
	db.log.Info("user schedule changed", "user", id, "schedule", name)
	return nil
}

// SetDuressPIN sets a user's duress PIN; "" removes it. It follows the PIN policy and is
// unique across every PIN and duress PIN (ErrPINInUse, also when it is the user's own PIN).
func (db *DB) SetDuressPIN(id, pin string) error {
	m, err := db.replacePIN(id, pin, duressPrefix+id, func(rec *userRec) *[]byte { return &rec.DuressMAC })
	if err != nil {
		return wrapf(err, "set duress PIN of "+id)
	}
	db.log.Info("user duress PIN changed", "user", id, "has_duress_pin", m != nil)
	return nil
}

// FindPIN returns the user owning pin as their PIN or (duress true) their duress PIN, whatever
// their policy: the machine judges the policy. One HMAC and one B+tree lookup.
func (db *DB) FindPIN(pin string) (u User, duress, found bool, err error) {
	m, err := db.pinMAC(pin)
	if err != nil {
		return User{}, false, false, err
	}
	err = db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPins).Get(m)
		if v == nil {
			return nil
		}
		id, isDuress := strings.CutPrefix(string(v), duressPrefix)
		rec, err := getUserRec(tx, id)
		if err != nil {
			return err
		}
		u, duress, found = rec.user(), isDuress, true
		return nil
	})
	if err != nil {
		return User{}, false, false, wrapf(err, "find PIN")
	}
	return u, duress, found, nil
}

// UserPolicy is a user's whole access policy, as SetPolicy writes it in one transaction.
type UserPolicy struct {
	Enabled               bool
	ValidFrom, ValidUntil time.Time // zero leaves that side open; ValidUntil exclusive
	Mode                  string    // one of Modes, "" for face_or_pin
	Schedule              string    // a schedule's name, "" for any time
}

// SetPolicy replaces a user's enabled flag, validity window, mode and schedule at once. Errors
// wrap ErrInvalidValidity, ErrInvalidPolicy (unknown mode or schedule) or ErrNotFound.
func (db *DB) SetPolicy(id string, p UserPolicy) error {
	if !p.ValidFrom.IsZero() && !p.ValidUntil.IsZero() && p.ValidUntil.Before(p.ValidFrom) {
		return fmt.Errorf("store: set policy of %s: %w", id, ErrInvalidValidity)
	}
	if p.Mode != "" && !slices.Contains(Modes, p.Mode) {
		return fmt.Errorf("store: mode %q is not one of %s: %w", p.Mode, strings.Join(Modes, ", "), ErrInvalidPolicy)
	}
	err := db.modifyUser(id, func(tx *bolt.Tx, rec *userRec) error {
		if p.Schedule != "" {
			all, err := schedulesTx(tx)
			if err != nil {
				return err
			}
			if _, ok := all[p.Schedule]; !ok {
				return fmt.Errorf("store: no schedule named %q: %w", p.Schedule, ErrInvalidPolicy)
			}
		}
		rec.Enabled, rec.Mode, rec.Schedule = p.Enabled, p.Mode, p.Schedule
		rec.ValidFrom, rec.ValidUntil = toNanos(p.ValidFrom), toNanos(p.ValidUntil)
		return nil
	})
	if err != nil {
		return wrapf(err, "set policy of "+id)
	}
	db.log.Info("user policy changed", "user", id, "enabled", p.Enabled, "mode", p.Mode, "schedule", p.Schedule,
		"valid_from", p.ValidFrom, "valid_until", p.ValidUntil)
	return nil
}
