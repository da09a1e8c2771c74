package mqtt

import (
	"encoding/json"
	"time"
)

// Topics are the door's topics, all under <prefix>/<door_id>/.
type Topics struct {
	Availability string // retained "online" / "offline" (the last will)
	State        string // retained State
	Events       string // every Event, QoS 1, not retained
	Alarm        string // Alarm events only (a copy of their Event, same seq), QoS 1, not retained
	Diagnostic   string // retained Diagnostic
	Command      string // the door subscribes: signed Envelopes
	Result       string // the answer to each command: Result, QoS 1, not retained
}

// TopicsFor returns the topics of cfg's door.
func TopicsFor(cfg Config) Topics {
	base := cfg.Prefix + "/" + cfg.DoorID + "/"
	return Topics{
		Availability: base + "availability", State: base + "state", Events: base + "events",
		Alarm: base + "alarm", Diagnostic: base + "diagnostic", Command: base + "command",
		Result: base + "command/result",
	}
}

// Availability payloads.
const (
	Online  = "online"
	Offline = "offline"
)

// The event types (Event.Type).
const (
	TypeDecision = "decision" // a session's decision (the machine's deciding transition)
	TypeDoor     = "door"     // a door contact or exit button event
	TypeAlarm    = "alarm"    // also published on the alarm topic
	TypeCommand  = "command"  // an accepted lockdown or release
)

// The alarm kinds. forced_open and held_open come from the door contact; duress and failures are
// for the access policy (a duress PIN, N failed attempts) to raise through Bridge.Alarm.
const (
	AlarmForcedOpen = "forced_open"
	AlarmHeldOpen   = "held_open"
	AlarmDuress     = "duress"
	AlarmFailures   = "failures"
)

// Event is one payload of the events topic. Seq counts every event of the door from 1, across
// restarts: a collector that sees a number twice has a duplicate (delivery is at least once), one
// it never sees is a loss (the door's queue overflowed; Diagnostic.Dropped says how many).
// EventType is the Home Assistant event entity's event_type. No PIN, template or photo is ever
// in an event; Name only when publish_names is on.
type Event struct {
	Seq       uint64    `json:"seq"`
	Door      string    `json:"door"`
	Type      string    `json:"type"`
	EventType string    `json:"event_type"`
	At        time.Time `json:"at"`
	Session   string    `json:"session,omitempty"`
	Outcome   string    `json:"outcome,omitempty"`
	Method    string    `json:"method,omitempty"`
	User      string    `json:"user,omitempty"`
	Name      string    `json:"name,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Kind      string    `json:"kind,omitempty"`   // door events and alarms
	Detail    string    `json:"detail,omitempty"` // alarms and commands
	By        string    `json:"by,omitempty"`     // commands
}

// Alarm is raised through Bridge.Alarm.
type Alarm struct {
	Kind    string // AlarmForcedOpen, AlarmHeldOpen, AlarmDuress, AlarmFailures, or a new kind
	At      time.Time
	Session string // the session it belongs to, if any
	User    string // the user concerned (duress), if any; the name follows publish_names
	Name    string
	Detail  string // free text, never a PIN
}

// EventTypes are the event_type values the Home Assistant event entity declares.
var EventTypes = []string{
	"granted", "denied", "timeout", "cancelled", "locked_out",
	"door_opened", "door_closed", "exit_pressed",
	AlarmForcedOpen, AlarmHeldOpen, AlarmDuress, AlarmFailures,
	CmdLockdown, CmdRelease,
}

// State is the retained payload of the state topic.
type State struct {
	State         string     `json:"state"`    // the machine state (Idle, Receiving, ... Unlocking, Cooldown)
	Lock          string     `json:"lock"`     // LOCKED or UNLOCKED (Home Assistant's lock)
	Relay         string     `json:"relay"`    // locked or unlocked, as commanded
	Door          string     `json:"door"`     // open, closed or unknown (door contact)
	Lockdown      bool       `json:"lockdown"` // held in lockdown by a command
	LastGranted   string     `json:"last_granted"`
	LastGrantedAt *time.Time `json:"last_granted_at,omitempty"`
}

// Diagnostic is the retained payload of the diagnostic topic.
type Diagnostic struct {
	RelayFault string `json:"relay_fault"` // the relay's last failed write, "" when healthy
	Queued     int    `json:"queued"`      // events waiting for the broker
	Dropped    uint64 `json:"dropped"`     // events lost to a full queue since the daemon started
	Seq        uint64 `json:"seq"`         // the last sequence number given
	Version    string `json:"version,omitempty"`
}

// Result answers one command on the result topic.
type Result struct {
	Nonce string    `json:"nonce,omitempty"`
	Cmd   string    `json:"cmd,omitempty"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"` // unsigned, bad_signature, stale, replay, bad_command, lockdown, failed
	At    time.Time `json:"at"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled
	}
	return b
}
