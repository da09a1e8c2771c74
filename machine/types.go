package machine

import (
	"log/slog"
	"time"

	"github.com/doorface/doorface/clock"
)

// State is a state of the door session machine.
type State string

// The states. Idle holds no session; every other state belongs to exactly one session.
const (
	Idle        State = "Idle"
	Receiving   State = "Receiving"
	Recognizing State = "Recognizing"
	Unlocking   State = "Unlocking"
	Cooldown    State = "Cooldown"
	PinFallback State = "PinFallback"
)

// States lists every state in a fixed order.
func States() []State {
	return []State{Idle, Receiving, Recognizing, PinFallback, Unlocking, Cooldown}
}

// Outcome is how a session ended.
type Outcome string

// The outcomes of a session (and of one PIN entry, see PinResult).
const (
	Granted   Outcome = "granted"
	Denied    Outcome = "denied"
	Timeout   Outcome = "timeout"
	Cancelled Outcome = "cancelled"
	LockedOut Outcome = "locked_out"
)

// The outcomes of door-event records (Method MethodDoor), written by DoorEvent: the door was
// forced open or held open too long, and the door closed again after such an alarm (its
// record carries the whole opening's duration).
const (
	ForcedOpen Outcome = "forced_open"
	HeldOpen   Outcome = "held_open"
	DoorClosed Outcome = "door_closed"
)

// Method is how a session was decided (or, when it was not granted, the path it was on).
type Method string

// The methods.
const (
	MethodFace    Method = "face"
	MethodPIN     Method = "pin"
	MethodFacePIN Method = "face+pin"
	MethodExit    Method = "exit_button"
	MethodRemote  Method = "remote" // RemoteUnlock: a signed command from the building bus
	MethodDoor    Method = "door"   // a door-event record, not a session
	MethodNone    Method = ""
)

// Identity is an enrolled user and the policy the machine applies to them.
type Identity struct {
	ID, Name string
	Policy   Policy
}

// PINOwner is the user a PIN belongs to. Duress says it is the user's duress PIN: it opens
// the door exactly like their PIN and raises a silent alarm.
type PINOwner struct {
	Identity
	Duress bool
}

// Candidate is vision's best guess for one frame: nearest enrolled user, distance, margin to
// 2nd-best user.
type Candidate struct {
	User, Name string
	Distance   float64
	Margin     float64
}

// FrameResult is what vision says about one frame.
type FrameResult struct {
	// Quality is "ok" or a rejection reason: no_face, multiple_faces, too_small, too_dark,
	// too_bright, blurry.
	Quality string
	// Match is the nearest user (any distance), nil when no face / empty gallery.
	Match *Candidate
	// Evidence is the JPEG of the frame (may be nil).
	Evidence []byte
	// Liveness is the face's P(real), 0..1, when Scored (vision scores usable faces while
	// Config.Liveness is not off).
	Liveness float64
	Scored   bool
	// Print is a small picture of the frame's pixels (vision's Frame.Print) by which the machine
	// recognizes a frame repeating an earlier frame of the session (SamePicture); nil when not
	// computed (the frame is then taken as distinct).
	Print []byte
}

// QualityOK is the FrameResult.Quality of a usable face frame; QualityNoFace of a frame without a
// face.
const (
	QualityOK     = "ok"
	QualityNoFace = "no_face"
)

// Decision is how a session was decided.
type Decision struct {
	Outcome Outcome
	Method  Method
	User    string
	Name    string
}

// Transition is published to subscribers for every state change. The transition that decides a
// session (into Unlocking when granted, into Idle otherwise) carries the Decision.
type Transition struct {
	From, To State
	Session  string
	At       time.Time
	Reason   string
	Decision *Decision
}

// Attempt is the one record every session ends in.
type Attempt struct {
	ID           string // session id
	Start, End   time.Time
	Outcome      Outcome
	Method       Method
	User, Name   string  // empty when nobody was identified
	BestUser     string  // user of the best candidate seen (even if not granted), "" if none
	BestDistance float64 // -1 when no candidate was seen
	BestMargin   float64 // -1 when no candidate was seen
	Frames       int     // frames processed in this session
	PinTries     int
	Durations    map[State]time.Duration // time spent per state up to End
	Reason       string
	Evidence     []byte // JPEG kept as evidence (wrong PIN; optionally unknown face), nil if none
	// Policy describes the policy that applied to the decided (or policy-denied) user, "" when
	// no user was identified (see Policy.String).
	Policy string
	// Duress: the PIN entered was the user's duress PIN (a silent alarm was raised).
	Duress bool
	// Mismatch is the user the face matched when the PIN entered belongs to someone else.
	Mismatch string
	// OpenFor is, in a door-event record, how long the door had been open.
	OpenFor time.Duration
	// Liveness is the session's liveness evidence.
	Liveness LivenessEvidence
}

// LivenessEvidence is what a session's record keeps of its liveness check.
type LivenessEvidence struct {
	// Mode is the Config.Liveness the session ran under.
	Mode string
	// Scores are the P(real) of the session's scored distinct frames, in order (the frames the
	// mean used).
	Scores []float64
	// Mean is their mean, -1 when no frame was scored.
	Mean float64
	// Result is LivenessPassed, LivenessFailed or LivenessUndecided, "" when no face decision
	// asked for it (in log mode: what enforce would have decided).
	Result string
	// Repeats counts the frames that repeated an earlier frame of the session (not distinct
	// captures): in enforce mode they added nothing to the face vote or the liveness mean.
	Repeats int
}

// Lock is the door relay.
type Lock interface {
	// Unlock opens the door for d.
	Unlock(d time.Duration) error
	// Lock closes the door now.
	Lock() error
}

// AttemptSink is the audit store.
type AttemptSink interface {
	// BeginAttempt writes a durable "session in progress" marker; an error refuses the session
	// (fail closed).
	BeginAttempt(id string, start time.Time) error
	// RecordAttempt writes the record durably (fsync) before returning; an error means the door is
	// NOT opened and the session is denied.
	RecordAttempt(a Attempt) error
	// DiscardAttempt drops the durable "session in progress" marker of a session that ends with no
	// record: one in which no face was ever seen and no PIN entered (blank frames, a camera facing
	// a wall), which is counted instead (Machine.Unrecorded), so the history is not flooded.
	DiscardAttempt(id string) error
	// EndUnlock clears the durable "door unlocked" marker of a granted session (set with its
	// granted record). The machine calls it once the relay is locked again after Unlocking
	// (unlock time over, failed unlock, shutdown, or RelayRelocked after a failed relock), never
	// while the door may be open. An error is logged; the door stays locked.
	EndUnlock(id string) error
}

// Directory answers questions about enrolled users. It returns users whatever their policy:
// the machine evaluates the policy at decision time, on its clock.
type Directory interface {
	// LookupPIN returns the user owning this PIN or duress PIN.
	LookupPIN(pin string) (PINOwner, bool, error)
	// User returns the user with this id and their policy.
	User(userID string) (Identity, bool, error)
}

// Lockout is the PIN lockout counter kept across sessions and restarts.
type Lockout struct {
	Failures int       // wrong PINs in the current window, since the last lockout or correct PIN
	Level    int       // lockouts in a row; the next one lasts LockoutBase<<Level, at most LockoutMax
	Until    time.Time // PINs are refused before this instant
	Since    time.Time // start of the failure window (the first of Failures); zero when Failures is 0
}

// LockoutStore persists the Lockout.
type LockoutStore interface {
	LoadLockout() (Lockout, error)
	SaveLockout(Lockout) error
	// ResetLockout clears the lockout and audits who did it, in one durable write (the bbolt
	// store appends a chained record).
	ResetLockout(was Lockout, by string, at time.Time) error
}

// Deps are the machine's collaborators. Logger may be nil (slog.Default()); the rest are
// required.
type Deps struct {
	Clock     clock.Clock
	Lock      Lock
	Sink      AttemptSink
	Directory Directory
	Lockouts  LockoutStore
	Logger    *slog.Logger
}

// Ticket names one frame admitted into a session.
type Ticket struct {
	Session string
	Seq     int
}

// Status answers one submitted frame.
type Status struct {
	Session string
	State   State
	Seq     int
	Quality string
	// Match is non-nil only if this frame matched an active user within Threshold and MinMargin;
	// a near-miss name is never leaked.
	Match *Candidate
	// Decision is non-nil once the session is decided.
	Decision *Decision
}

// PinResult answers one PIN entry. Outcome is granted, denied or locked_out.
type PinResult struct {
	Outcome      Outcome
	State        State
	AttemptsLeft int
	RetryAfter   time.Duration
	Decision     *Decision
}

// Snapshot is the machine's state at one instant. RetryAfter is the time until Idle in Unlocking
// and Cooldown, the remaining PIN lockout in PinFallback, and zero otherwise.
type Snapshot struct {
	State      State
	Session    string
	Since      time.Time
	RetryAfter time.Duration
	// Lockdown is true while SetLockdown holds the door: only the exit button opens it.
	Lockdown bool
}
