package transport

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors of the transport package. Errors returned by New and LoadOrCreateTokens wrap
// exactly one of these; test with errors.Is.
var (
	// ErrMissingDependency is wrapped by New when a required field of Options is nil.
	ErrMissingDependency = errors.New("transport: missing dependency")

	// ErrBadTokens is wrapped by New and LoadOrCreateTokens when a token is empty, too short, or
	// the door and admin tokens are equal.
	ErrBadTokens = errors.New("transport: bad tokens")

	// ErrTokenFile is wrapped by LoadOrCreateTokens when the token file cannot be read, parsed,
	// created, or is readable by other users.
	ErrTokenFile = errors.New("transport: token file problem")

	// ErrShuttingDown is the cause of the 503 answers given to frames after StopFrames.
	ErrShuttingDown = errors.New("transport: shutting down")
)

// HTTPError is an error a handler returns to choose the answer: Code is the HTTP status, Err the
// stable machine-readable code ("busy", "stale_session", ...), Msg the human message for the
// client. Cause goes to the log only, never to the client. Fields are extra JSON members of the
// answer (for example "state" and "retry_after_ms" of a busy answer); RetryAfter, when positive,
// sets the Retry-After header (whole seconds, rounded up).
type HTTPError struct {
	Code       int
	Err        string
	Msg        string
	Cause      error
	Fields     map[string]any
	RetryAfter time.Duration
}

// Error implements error. It includes the cause, so it is for logs only.
func (e *HTTPError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Code, e.Err, e.Msg, e.Cause)
	}
	return fmt.Sprintf("%d %s: %s", e.Code, e.Err, e.Msg)
}

// Unwrap returns the cause.
func (e *HTTPError) Unwrap() error { return e.Cause }

// httpErr builds an HTTPError.
func httpErr(code int, errCode, msg string, cause error) *HTTPError {
	return &HTTPError{Code: code, Err: errCode, Msg: msg, Cause: cause}
}

// errInternal is what the client sees for every error that is not an *HTTPError.
var errInternal = &HTTPError{Code: http.StatusInternalServerError, Err: "internal", Msg: "internal error"}

// coder is implemented by vision's input and enrollment errors (and the fakes of the tests).
type coder interface{ Code() string }
