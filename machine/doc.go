// Package machine is the door session state machine of doorface: it decides, for one door and one
// session at a time, whether the door opens.
//
// # What it owns
//
// The states Idle, Receiving, Recognizing, Unlocking, Cooldown and PinFallback; the per-attempt
// state of a session (frames seen, k-of-n votes, best candidate and evidence frame, PIN tries,
// per-state durations), which lives in one session value and is dropped entirely when the machine
// returns to Idle; every timeout, driven by an injected [clock.Clock]; the PIN lockout counter
// (persisted through a [LockoutStore]); and the one [Attempt] record every session ends in.
//
// The transition table is [Rules]. It is the only place transitions are declared: it configures the
// underlying github.com/looplab/fsm machine, which refuses any transition not in the table, and
// [Mermaid] renders it for the README (golden file testdata/states.mmd).
//
// # What it must not do
//
// It knows no HTTP, GPIO, camera or bbolt: the relay is a [Lock], the audit is an [AttemptSink], users
// and PINs come from a [Directory]. It never judges image quality or computes face distances (vision
// does; the machine only receives [FrameResult] values). It never sleeps and never reads the wall
// clock directly. It never logs a PIN, a token or a face template, and never puts the name of a
// near-miss candidate in a [Status].
//
// # Staleness
//
// Every input carries the id of the session it belongs to ([Ticket], EnterPIN, KeepEvidence,
// Cancel). An input naming any session other than the current one returns [ErrStaleSession] and
// changes nothing; results of frames still being analysed when their session ended are discarded.
// Every timer carries a generation number and does nothing if the machine has moved on since it was
// armed. Session ids are 128 random bits from crypto/rand.
//
// # Fail closed
//
// A granted attempt is recorded durably (AttemptSink.RecordAttempt) before the decision is published
// and before Lock.Unlock is called; if the record fails the session is denied and the door stays
// locked. If Lock.Unlock fails the machine calls Lock.Lock and goes to Cooldown. New commands
// Lock.Lock before anything else, and Shutdown locks the door.
//
// # PIN lockout
//
// The lockout is one counter for the door, not one per user: a wrong PIN names nobody, so a
// per-user count cannot be kept, and a per-session one resets with every new session. A global
// lockout means a stranger at the door can make the PIN fallback refuse everyone, so it is
// bounded (issue 15) to keep that denial short:
//
//   - LockoutAfter (5) wrong PINs within FailureWindow (1h, counted from the first of them) start
//     a lockout; older failures stop counting.
//   - The first lockout lasts LockoutBase (60s) and each further one doubles it, at most
//     LockoutMax (15m, never more than 24h): 1, 2, 4, 8, 15, 15... minutes. The escalation is
//     forgotten once FailureWindow has passed since the last lockout ended.
//   - A lockout read at start (from an older version, or edited into the file) ends at most
//     LockoutMax later.
//   - A correct PIN outside a lockout clears everything; during a lockout no PIN is checked.
//   - [Machine.ResetLockout] is the administrator's reset (API and CLI), audited by a
//     [LockoutResetter] store.
//
// So a stranger who leaves locks the PIN fallback for at most 15 minutes, and face recognition is
// never locked out. A stranger who stays can keep typing; that is visible in the audit and the
// lockout metrics, and the cap keeps each lockout to minutes.
//
// # Remote unlock and lockdown
//
// [Machine.RemoteUnlock] is the building bus's unlock (an authenticated command, checked by the
// caller): it opens the door exactly as the exit button does, recorded granted with method
// remote and who asked, the record written before the relay opens. [Machine.SetLockdown] holds
// the door: frames, PINs and remote unlocks get [ErrLockdown] until it is released; the exit
// button still opens the door (nobody is locked in). The lockdown lives in memory; its owner (the
// MQTT bridge) persists it and sets it again at start.
//
// # Access policy
//
// The [Directory] returns users with their [Policy] whatever it says; the machine judges it at
// decision time on its clock, reading weekly [Schedule] windows as wall-clock times in
// Config.TimeZone (so a window stays 08:00-18:00 across a DST change). [Policy.Deny] names the
// first rule that refuses (ReasonDisabled, ReasonNotYetValid, ReasonExpired,
// ReasonOutsideSchedule + name); that reason is the decision's, on the transition and in the
// record, whose Policy field describes the policy that applied.
//
//   - A usable frame matching a user the policy refuses votes apart ("!" + id) and never names the
//     user in a Status. K such votes end the session denied in face+PIN mode, and otherwise fall
//     back to the PIN: unless a PIN then opens the door, the session is denied with the reason.
//   - K votes for an admitted user grant by face in modes face and face_or_pin, and lead to the
//     PIN (reason ReasonModeRequiresPIN) in face_and_pin and pin_only; Config.RequireFaceAndPIN
//     makes every user face_and_pin.
//   - A PIN whose owner the policy or mode refuses (ReasonModeRequiresFace: a face user, or a
//     face_and_pin user without their face) answers like a wrong PIN: it counts towards the tries
//     and the lockout, and the session ends denied with the reason if no PIN opens the door.
//
// # Alarms
//
// Alarms go to [Machine.SubscribeAlarms] subscribers only, never on the transition stream, so
// nothing at the door shows them: a duress PIN (it opens the door exactly as the PIN does; the
// record says Duress), a PIN of another user than the face matched (the record's Mismatch;
// refused when the face's user is face_and_pin), Config.AlarmFailures denied or locked-out
// sessions within Config.AlarmWindow, and the door contact's forced_open and held_open
// ([Machine.DoorEvent]), each also written as a door-event record (Method MethodDoor, with
// OpenFor), the closing after them as a DoorClosed record with the whole opening's duration.
//
// # Face decision and liveness
//
// A usable frame within Threshold and MinMargin votes for its user. The face is decided by one
// clear frame (distance below ClearDistance, margin at least ClearMargin) or by K of the last N
// votes (the sequential rule; vision/CALIBRATION.md has the bounds and their cost). With Liveness
// "enforce" a decided face then waits until LivenessFrames distinct frames carry a liveness score
// (FrameResult.Scored); their mean must be at least LivenessThreshold, else the session falls back
// to the PIN with ReasonLivenessFailed (ReasonLivenessUndecided when the frame limit or timeout
// comes first), the evidence frame kept and the face counting for nothing. A frame whose Print
// repeats an earlier frame of the session (SamePicture) is counted and adds no vote and no score.
// "log" records the scores, repeats and what enforce would have decided, and changes nothing; "off"
// computes nothing. The record carries Attempt.Liveness. The defaults (5 frames, 0.9) are the
// models README's measurement: the mean of 5 frames at 0.9 refused every print-attack window and no
// live one.
//
// # Concurrency
//
// All methods are safe for concurrent use. One mutex serialises the machine, including calls to its
// collaborators (they are expected to be fast). Transitions are published to subscribers with a
// non-blocking send: a slow subscriber loses events (counted by [Machine.Dropped]) and never delays
// the door.
package machine
