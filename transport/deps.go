package transport

import (
	"context"
	"io"
	"time"

	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/transport/api"
)

// Door is the session state machine; *machine.Machine satisfies it.
type Door interface {
	Admit(session string) (machine.Ticket, error)
	Submit(t machine.Ticket, r machine.FrameResult) (machine.Status, error)
	Abandon(t machine.Ticket)
	EnterPIN(session, pin string) (machine.PinResult, error)
	KeepEvidence(session string) error
	Cancel(session string) error
	Snapshot() machine.Snapshot
	Lockout() machine.Lockout
	ResetLockout(by string) (machine.Lockout, error)
	Subscribe(buffer int) (<-chan machine.Transition, func())
	// SubscribeAlarms carries the machine's alarms, published to admin event streams only.
	SubscribeAlarms(buffer int) (<-chan machine.Alarm, func())
}

// Frame is a decoded image, opaque to transport, owned by the caller of Frames.Decode, who closes
// it. It analyses itself for a session (the results and any state kept between frames belong to
// that session only) and gives its JPEG bytes for evidence (POST /save).
type Frame interface {
	Analyze(ctx context.Context, session string) (machine.FrameResult, error)
	JPEG() ([]byte, error)
	Close()
}

// Frames turns request bodies into frames; main wires vision behind it. Decode's refusals wrap
// ErrBadImage, ErrImageTooLarge or ErrMediaType. contentType is "image/jpeg", "image/png" or
// "text/plain" (base64 of either).
type Frames interface {
	Decode(body []byte, contentType string) (Frame, error)
}

// Users manages enrolled users; main wires the store and the vision gallery behind it and maps
// the store's records to wire types. AddFaces's refusals wrap ErrNoFace, ErrMultipleFaces or
// ErrLowQuality (422), an input refusal as for Frames.Decode, or ErrCloserToOtherUser (409),
// inside a *PhotoError naming the photo. store's sentinel errors map to 404 (ErrNotFound), 400
// (ErrInvalidName, ErrPINPolicy) and 409 (ErrPINInUse).
type Users interface {
	CreateUser(name, pin string) (api.User, error)
	ListUsers() ([]api.User, error)
	// GetUser includes the user's template count.
	GetUser(id string) (api.User, error)
	DeleteUser(id string) error
	SetPIN(id, pin string) error
	// AddFaces enrolls every photo for the user, or none: a refused photo stores nothing.
	// force stores a template even when it is nearer another user than the user's own.
	AddFaces(ctx context.Context, userID string, photos []Photo, force bool) (api.FaceResponse, error)
	// Templates lists the user's templates; DeleteTemplate deletes one (and the gallery's copy).
	Templates(userID string) ([]api.Template, error)
	DeleteTemplate(userID, templateID string) error
	Policies
}

// Photo is one enrollment photo of a request: its bytes and content type, as for Frames.Decode.
type Photo struct {
	Body        []byte
	ContentType string
}

// Enroller runs an enrollment at the door (POST /v1/enrollment); main wires it. While one is
// active, Offer takes every frame the tablet posts instead of the door machine: no door session
// is opened and the door cannot open. Start's errors wrap ErrEnrollmentActive (409) or the
// store's ErrNotFound (404); Cancel's ErrNoEnrollment (404).
type Enroller interface {
	Start(req api.EnrollmentRequest) (api.Enrollment, error)
	Cancel() (api.Enrollment, error)
	Status() api.Enrollment
	// Offer analyses f for the active enrollment and says what it made of it; handled is false
	// (and nothing happened) when no enrollment is active.
	Offer(ctx context.Context, f Frame) (res api.EnrollmentFrame, handled bool, err error)
}

// Audit is the attempt history; main wires the store behind it. Export streams the records as
// JSON Lines or CSV (the export file format) and returns how many it wrote.
type Audit interface {
	Export(w io.Writer, format string, f api.AuditFilter) (int, error)
	GetAttempt(id string) (api.Attempt, error)
	Frame(attemptID string) ([]byte, error)
	Verify() (api.VerifyReport, error)
	Head() (api.AuditHead, error)
}

// Board reports the door hardware: Relay is "locked" or "unlocked", Door is "closed", "open" or
// "unknown". RelayFault is the last failed relay pin write, or "" when the last write succeeded:
// the relay is then recorded as locked while the hardware retries the locked level, and the
// installer must see that.
type Board interface {
	Relay() string
	RelayFault() string
	Door() string
	// Light is the status light's colour per LED ("#rrggbb").
	Light() []string
}

// DoorEvent is a hardware event pushed to event streams as "event: door". Kind is one of
// door_opened, door_closed, held_open, forced_open, exit_pressed.
type DoorEvent struct {
	Kind string
	At   time.Time
}
