package store

import "errors"

// Sentinel errors of the store. Every error returned by this package that callers may want to
// react to wraps exactly one of these; test with errors.Is. The wrapping message carries the
// context (which user, which record, which file), never a PIN, key or template.
var (
	// ErrLocked means the database file is held by another process (normally the running
	// daemon) and the lock could not be taken within Options.OpenTimeout.
	ErrLocked = errors.New("database is held by another process (is the daemon running?); " +
		"stop it or export through the daemon instead")

	// ErrCorrupt means the file failed bbolt's consistency check or could not be read as a
	// bbolt file. A copy of the damaged file has been kept; the door must stay locked.
	ErrCorrupt = errors.New("database file is corrupt")

	// ErrSchemaTooNew means the file was written by a newer doorface with a schema this
	// version does not know.
	ErrSchemaTooNew = errors.New("database schema is newer than this program")

	// ErrNeedsMigration means a read-only open found an older schema; open it once read-write
	// (start the daemon) to migrate it.
	ErrNeedsMigration = errors.New("database schema is older than this program and needs a read-write open to migrate")

	// ErrKeyFile means a key file (the PIN key or the audit key) is missing, unreadable,
	// malformed, too permissive to create, or does not belong to this database; the wrapping
	// message names the file.
	ErrKeyFile = errors.New("key file problem")

	// ErrReadOnly is returned by every write on a database opened with Options.ReadOnly.
	ErrReadOnly = errors.New("database is opened read-only")

	// ErrClosed is returned after Close.
	ErrClosed = errors.New("database is closed")

	// ErrNotFound means no user, template, attempt or frame with that id exists.
	ErrNotFound = errors.New("not found")

	// ErrPruned means the attempt had an evidence frame that retention has since deleted.
	ErrPruned = errors.New("evidence frame was pruned by retention")

	// ErrInvalidName means a user name is empty, too long or contains control characters.
	ErrInvalidName = errors.New("invalid user name")

	// ErrPINPolicy means a PIN breaks the policy (digits only, Config.PIN.MinLength..maxPINLen);
	// the wrapping error says which rule.
	ErrPINPolicy = errors.New("PIN does not meet the policy")

	// ErrPINInUse means another user already has this PIN. PINs are unique so that a PIN typed
	// at the door names exactly one user.
	ErrPINInUse = errors.New("PIN is already used by another user")

	// ErrNameInUse means another user already has this name (compared without case and outer
	// spaces): two people with one name cannot be told apart in the audit.
	ErrNameInUse = errors.New("user name is already used by another user")

	// ErrInvalidValidity means a validity window ends before it starts.
	ErrInvalidValidity = errors.New("validity window ends before it starts")

	// ErrInvalidSchedule means a schedule's name, days or times are malformed.
	ErrInvalidSchedule = errors.New("invalid schedule")

	// ErrInvalidPolicy means a user's authentication mode is unknown or their schedule does
	// not exist.
	ErrInvalidPolicy = errors.New("invalid access policy")

	// ErrScheduleInUse means a schedule cannot be deleted while users have it.
	ErrScheduleInUse = errors.New("schedule is assigned to users")

	// ErrInvalidTemplate means a face descriptor is empty or holds NaN or infinite values.
	ErrInvalidTemplate = errors.New("invalid face template")

	// ErrInvalidAttempt means an attempt record lacks its session id.
	ErrInvalidAttempt = errors.New("invalid attempt record")

	// ErrDuplicateAttempt means an attempt with this session id was already recorded.
	ErrDuplicateAttempt = errors.New("attempt for this session already recorded")

	// ErrFormat means an export format other than "csv" or "jsonl" was asked for.
	ErrFormat = errors.New("unknown export format (want csv or jsonl)")

	// ErrInvalidHead means a head value is not "seq:mac" (64 hex digits).
	ErrInvalidHead = errors.New("invalid audit head value")

	// ErrExists means a destination file (for example of Compact) already exists.
	ErrExists = errors.New("file already exists")

	// ErrInvalidConfig is wrapped by Config.Validate; the message names the bad key.
	ErrInvalidConfig = errors.New("invalid store setting")
)
