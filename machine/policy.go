package machine

import (
	"fmt"
	"strings"
	"time"

	_ "time/tzdata" // zones load even where the host has no /usr/share/zoneinfo
)

// AuthMode is how a user must prove who they are at the door.
type AuthMode string

// The authentication modes. The zero value means ModeFaceOrPIN.
const (
	// ModeFace: the face alone; the user's PIN never opens the door.
	ModeFace AuthMode = "face"
	// ModeFaceOrPIN: the face, or the PIN when the face is not recognized (the default).
	ModeFaceOrPIN AuthMode = "face_or_pin"
	// ModeFaceAndPIN: the face, then the same user's PIN.
	ModeFaceAndPIN AuthMode = "face_and_pin"
	// ModePINOnly: the PIN; a recognized face only leads to the PIN pad.
	ModePINOnly AuthMode = "pin_only"
)

// Modes lists the authentication modes.
func Modes() []AuthMode { return []AuthMode{ModeFace, ModeFaceOrPIN, ModeFaceAndPIN, ModePINOnly} }

// Valid reports whether m is one of Modes or "" (the default).
func (m AuthMode) Valid() bool {
	switch m {
	case "", ModeFace, ModeFaceOrPIN, ModeFaceAndPIN, ModePINOnly:
		return true
	}
	return false
}

// orDefault is m, or ModeFaceOrPIN for "".
func (m AuthMode) orDefault() AuthMode {
	if m == "" {
		return ModeFaceOrPIN
	}
	return m
}

// Window is one weekly time window: on the given weekdays, from From (inclusive) until Until
// (exclusive), both local wall-clock minutes after midnight (0..1440). A window with Until <=
// From runs overnight: it starts on a listed day and ends the next morning.
type Window struct {
	Days  [7]bool // indexed by time.Weekday
	From  int
	Until int
}

// contains reports whether the local wall-clock time t lies inside w.
func (w Window) contains(t time.Time) bool {
	m := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	if w.From < w.Until {
		return w.Days[day] && m >= w.From && m < w.Until
	}
	prev := (day + 6) % 7
	return (w.Days[day] && m >= w.From) || (w.Days[prev] && m < w.Until)
}

// Schedule is a named set of weekly windows ("office-hours": Mon-Fri 08:00-18:00). A time is
// inside the schedule when it is inside any window; a schedule without windows allows nothing.
type Schedule struct {
	Name    string
	Windows []Window
}

// allows reports whether at, read as a wall-clock time in loc, is inside s.
func (s Schedule) allows(at time.Time, loc *time.Location) bool {
	local := at.In(loc)
	for _, w := range s.Windows {
		if w.contains(local) {
			return true
		}
	}
	return false
}

// Policy is what a user may do, evaluated by the machine at decision time. The zero Policy
// denies (Enabled is false): a directory must say a user is enabled.
type Policy struct {
	Enabled bool
	// ValidFrom and ValidUntil bound the validity window [ValidFrom, ValidUntil); zero leaves
	// that side open.
	ValidFrom, ValidUntil time.Time
	// Mode is the authentication mode; "" means ModeFaceOrPIN.
	Mode AuthMode
	// Schedule, when not nil, limits access to its weekly windows. ScheduleName names a
	// schedule the directory could not find: it denies everything (fail closed).
	Schedule     *Schedule
	ScheduleName string
}

// Policy denial reasons. A denied decision's reason is one of these, the schedule's name
// appended to ReasonOutsideSchedule and ReasonUnknownSchedule.
const (
	ReasonDisabled         = "policy:disabled"
	ReasonNotYetValid      = "policy:not_yet_valid"
	ReasonExpired          = "policy:expired"
	ReasonOutsideSchedule  = "policy:outside_schedule:"
	ReasonUnknownSchedule  = "policy:unknown_schedule:"
	ReasonModeRequiresPIN  = "policy:mode_requires_pin"
	ReasonModeRequiresFace = "policy:mode_requires_face"
	ReasonFacePINMismatch  = "policy:face_pin_mismatch"
)

// Deny returns "" when p lets its user in at `at` (the site's wall clock in loc), else the
// reason of the first rule that denies: disabled, not yet valid, expired, outside the schedule
// (or an unknown schedule).
func (p Policy) Deny(at time.Time, loc *time.Location) string {
	switch {
	case !p.Enabled:
		return ReasonDisabled
	case !p.ValidFrom.IsZero() && at.Before(p.ValidFrom):
		return ReasonNotYetValid
	case !p.ValidUntil.IsZero() && !at.Before(p.ValidUntil):
		return ReasonExpired
	case p.Schedule == nil && p.ScheduleName != "":
		return ReasonUnknownSchedule + p.ScheduleName
	case p.Schedule != nil && !p.Schedule.allows(at, loc):
		return ReasonOutsideSchedule + p.Schedule.Name
	}
	return ""
}

// String describes p for the audit record: "mode=face_or_pin" followed by the schedule and
// validity bounds when set, or "disabled".
func (p Policy) String() string {
	var b strings.Builder
	if !p.Enabled {
		b.WriteString("disabled ")
	}
	fmt.Fprintf(&b, "mode=%s", p.Mode.orDefault())
	switch {
	case p.Schedule != nil:
		fmt.Fprintf(&b, " schedule=%s", p.Schedule.Name)
	case p.ScheduleName != "":
		fmt.Fprintf(&b, " schedule=%s(unknown)", p.ScheduleName)
	}
	if !p.ValidFrom.IsZero() {
		fmt.Fprintf(&b, " valid_from=%s", p.ValidFrom.UTC().Format(time.RFC3339))
	}
	if !p.ValidUntil.IsZero() {
		fmt.Fprintf(&b, " valid_until=%s", p.ValidUntil.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// effectiveMode is the mode the machine applies to p: Config.RequireFaceAndPIN makes every
// user face_and_pin.
func (m *Machine) effectiveMode(p Policy) AuthMode {
	if m.cfg.RequireFaceAndPIN {
		return ModeFaceAndPIN
	}
	return p.Mode.orDefault()
}

// LoadZone loads a time zone by IANA name; "" and "Local" give the host's zone. The zone
// database is built into the program (time/tzdata), so it does not depend on the host's.
func LoadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return time.Local, nil
	}
	return time.LoadLocation(name)
}
