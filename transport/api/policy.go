package api

import "time"

// Access policy (issue 17): per-user enabled flag, validity window, authentication mode and
// weekly schedule, the duress PIN, named schedules, and the alarm events of admin streams.

// Authentication modes (User.Mode, Policy.Mode). "" means ModeFaceOrPIN.
const (
	ModeFace       = "face"         // the face alone
	ModeFaceOrPIN  = "face_or_pin"  // the face, or the PIN (the default)
	ModeFaceAndPIN = "face_and_pin" // the face, then the same user's PIN
	ModePINOnly    = "pin_only"     // the PIN
)

// Error codes of the policy endpoints.
const (
	CodeBadPolicy     = "bad_policy"      // 400: unknown mode, unknown schedule, or a validity window that ends before it starts
	CodeBadSchedule   = "bad_schedule"    // 400: a schedule's name, days or times are malformed
	CodeScheduleInUse = "schedule_in_use" // 409: the schedule is assigned to users
)

// Policy is a user's access policy: the body of PUT /v1/users/{id}/policy, which replaces the
// whole policy (read it from GET /v1/users/{id} first). A nil ValidFrom or ValidUntil leaves
// that side of the validity window open; Schedule "" means any time.
type Policy struct {
	Enabled    bool       `json:"enabled"`
	ValidFrom  *time.Time `json:"valid_from,omitempty"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	Mode       string     `json:"mode"`
	Schedule   string     `json:"schedule"`
}

// DuressPINRequest is the body of PUT /v1/users/{id}/duress-pin; "" removes the duress PIN.
type DuressPINRequest struct {
	PIN string `json:"pin"`
}

// Window is one weekly window of a schedule: Days as "mon".."sun" or ranges ("mon-fri"),
// From and Until local wall-clock times "HH:MM" in the site's time zone (Until exclusive,
// "24:00" allowed; Until at or before From runs overnight).
type Window struct {
	Days  []string `json:"days"`
	From  string   `json:"from"`
	Until string   `json:"until"`
}

// Schedule is a named weekly schedule (GET/PUT /v1/schedules/{name}).
type Schedule struct {
	Name    string   `json:"name"`
	Windows []Window `json:"windows"`
}

// ScheduleList answers GET /v1/schedules.
type ScheduleList struct {
	Schedules []Schedule `json:"schedules"`
}

// EventAlarm names the alarm events of GET /v1/events. They reach only streams opened with the
// admin token: the door tablet never sees one.
const EventAlarm = "alarm" // data: AlarmEvent

// Alarm kinds (AlarmEvent.Kind).
const (
	AlarmDuress     = "duress"      // a duress PIN opened the door
	AlarmMismatch   = "mismatch"    // the PIN entered belongs to another user than the face
	AlarmFailures   = "failures"    // machine.alarm_failures failed sessions within machine.alarm_window
	AlarmForcedOpen = "forced_open" // the door opened while locked
	AlarmHeldOpen   = "held_open"   // the door stayed open too long
)

// AlarmEvent is the data of "event: alarm".
type AlarmEvent struct {
	Kind string `json:"kind"`
	At   string `json:"at"`
	// Session is the session or door-event record (GET /v1/audit/{id}) it belongs to.
	Session  string  `json:"session,omitempty"`
	User     string  `json:"user,omitempty"`
	Name     string  `json:"name,omitempty"`
	Detail   string  `json:"detail"`
	Count    int     `json:"count,omitempty"`
	OpenForS float64 `json:"open_for_s,omitempty"`
}
