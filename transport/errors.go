package transport

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/doorface/doorface/transport/api"
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

	// ErrConfig is wrapped by Config.Validate; the message names the bad key.
	ErrConfig = errors.New("transport: invalid setting")

	// ErrShuttingDown is the cause of the 503 answers given to frames after StopFrames.
	ErrShuttingDown = errors.New("transport: shutting down")
)

// HTTPError is an error a handler returns to choose the answer (the shape of tailscale's tsweb):
// Status is the HTTP status, Code the stable machine-readable code (one of api's Code
// constants), Msg the human message for the client. Err goes to the log only, never to the
// client. State, when set, is the machine state the answer reports (busy, stale_session,
// not_awaiting_pin); RetryAfter, when positive, sets the Retry-After header (whole seconds,
// rounded up) and the answer's retry_after_ms.
type HTTPError struct {
	Status     int
	Code       string
	Msg        string
	Err        error
	State      string
	RetryAfter time.Duration
}

// Error implements error. It includes the cause, so it is for logs only.
func (e *HTTPError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Msg)
}

// Unwrap returns the cause.
func (e *HTTPError) Unwrap() error { return e.Err }

// httpErr builds an HTTPError.
func httpErr(status int, code, msg string, err error) *HTTPError {
	return &HTTPError{Status: status, Code: code, Msg: msg, Err: err}
}

// errInternal is what the client sees for every error that is not an *HTTPError.
var errInternal = &HTTPError{Status: http.StatusInternalServerError, Code: api.CodeInternal, Msg: "internal error"}

// Input refusals. Frames.Decode and Users.AddFace wrap one of these (with %w) to say why an image
// was refused; inputRefusals turns each into its answer. Any other error is a 500.
var (
	// ErrBadImage: the body is not a readable JPEG or PNG image (400 bad_image).
	ErrBadImage = errors.New("not a readable JPEG or PNG image")
	// ErrImageTooLarge: the body or the image's dimensions are over the limits (413 too_large).
	ErrImageTooLarge = errors.New("image too large")
	// ErrMediaType: the content type is not an image this server takes (415).
	ErrMediaType = errors.New("unsupported media type")
	// ErrNoFace: an enrollment photo without a face (422 no_face).
	ErrNoFace = errors.New("no face in the image")
	// ErrMultipleFaces: an enrollment photo with several faces (422 multiple_faces).
	ErrMultipleFaces = errors.New("several faces in the image")
	// ErrLowQuality: an enrollment face too small, dark, bright or blurry (422 low_quality).
	ErrLowQuality = errors.New("face quality too low")
)

// Enrollment refusals.
var (
	// ErrCloserToOtherUser: a new template nearer another user than the user's own (409
	// closer_to_other_user); the wrapping message names the other user.
	ErrCloserToOtherUser = errors.New("closer to another user than to the user's own templates")
	// ErrEnrollmentActive: an enrollment at the door is already running (409).
	ErrEnrollmentActive = errors.New("an enrollment at the door is already running")
	// ErrNoEnrollment: no enrollment at the door is running (404).
	ErrNoEnrollment = errors.New("no enrollment at the door is running")
)

// PhotoError is the refusal of one photo of an enrollment request: Index counts from 1.
type PhotoError struct {
	Index int
	Err   error
}

// Error names the photo.
func (e *PhotoError) Error() string { return fmt.Sprintf("photo %d: %v", e.Index, e.Err) }

// Unwrap returns the refusal.
func (e *PhotoError) Unwrap() error { return e.Err }

// inputRefusals is the one table from an input refusal to its answer.
var inputRefusals = []struct {
	sentinel error
	status   int
	code     string
	msg      string
}{
	{ErrBadImage, http.StatusBadRequest, api.CodeBadImage, "the body is not a readable JPEG or PNG image"},
	{ErrImageTooLarge, http.StatusRequestEntityTooLarge, api.CodeTooLarge, "the image is too large"},
	{ErrMediaType, http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType, "body must be image/jpeg, image/png or text/plain (base64)"},
	{ErrNoFace, http.StatusUnprocessableEntity, api.CodeNoFace, "no face found in the image"},
	{ErrMultipleFaces, http.StatusUnprocessableEntity, api.CodeMultipleFaces, "more than one face in the image"},
	{ErrLowQuality, http.StatusUnprocessableEntity, api.CodeLowQuality, "the face is too small, dark, bright or blurry to enroll"},
}
