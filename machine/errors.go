package machine

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrStaleSession is returned when an input names a session that is not the current one (another
	// session, an unknown id, or a session that has ended). The input changed nothing.
	ErrStaleSession = errors.New("machine: stale session")

	// ErrNotAwaitingPIN is returned by EnterPIN and KeepEvidence when the current session is not
	// in PinFallback.
	ErrNotAwaitingPIN = errors.New("machine: not awaiting a PIN")

	// ErrClosed is returned by every input after Shutdown.
	ErrClosed = errors.New("machine: closed")

	// ErrUnknownTicket is returned by Submit for a ticket of the current session that was never
	// issued or was already submitted or abandoned. The result is discarded.
	ErrUnknownTicket = errors.New("machine: unknown or already used ticket")

	// ErrAuditFailed is returned (wrapping the sink's error) when the attempt record of a granted
	// session could not be written: the session was denied and the door stayed locked.
	ErrAuditFailed = errors.New("machine: audit write failed")

	// ErrBeginFailed is returned by Admit and ExitRequest (wrapping the sink's error) when the
	// "session in progress" marker could not be written: no session was started.
	ErrBeginFailed = errors.New("machine: begin attempt failed")

	// ErrUnlockFailed is returned by ExitRequest (wrapping the lock's error) when the relay could
	// not be opened; the machine locked it again and went to Cooldown.
	ErrUnlockFailed = errors.New("machine: unlock failed")

	// ErrInvalidConfig is wrapped by Config.Validate; the message names the bad field.
	ErrInvalidConfig = errors.New("machine: invalid config")

	// ErrMissingDependency is wrapped by New when a required field of Deps is nil.
	ErrMissingDependency = errors.New("machine: missing dependency")

	// ErrDirectory is returned (wrapping the directory's error) when a PIN could not be looked up.
	// The PIN was neither accepted nor counted as wrong.
	ErrDirectory = errors.New("machine: directory lookup failed")

	// ErrLockoutStore is returned by ResetLockout (wrapping the store's error) when the reset
	// could not be saved; it holds in memory until a restart.
	ErrLockoutStore = errors.New("machine: lockout store write failed")

	// ErrLockdown is returned by Admit, EnterPIN and RemoteUnlock while the door is held in
	// lockdown (SetLockdown): nothing but the exit button opens it until it is released.
	ErrLockdown = errors.New("machine: door in lockdown")

	// ErrInternal means the machine tried a transition its own table does not allow: a bug. The
	// door is not opened.
	ErrInternal = errors.New("machine: internal error")
)

// BusyError is returned while the door is Unlocking or in Cooldown: the input was answered with the
// state, not queued. RetryAfter is the time until the machine is back in Idle.
type BusyError struct {
	State      State
	RetryAfter time.Duration
}

// Error implements error.
func (e *BusyError) Error() string {
	return fmt.Sprintf("machine: busy (%s), retry after %s", e.State, e.RetryAfter)
}
