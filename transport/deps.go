package transport

import (
	"context"
	"io"
	"time"

	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/store"
)

// Door is the session state machine; *machine.Machine satisfies it.
type Door interface {
	Admit(session string) (machine.Ticket, error)
	Submit(t machine.Ticket, r machine.FrameResult) (machine.Status, error)
	Abandon(t machine.Ticket)
	EnterPIN(session, pin string) (machine.PinResult, error)
	AttachEvidence(session string, jpeg []byte) error
	Cancel(session string) error
	Snapshot() machine.Snapshot
	Subscribe(buffer int) (<-chan machine.Transition, func())
}

// Frame is a decoded image owned by the caller of Frames.Decode, who closes it. A Frame that also
// has a method JPEG() ([]byte, error) (as vision's does) can be attached as evidence by POST /save.
type Frame interface{ Close() }

// Frames turns request bodies into frame results; main wires vision.Decode, the pipeline's
// Analyze and the gallery's Match behind it. Errors of Decode that implement
// interface{ Code() string } are input errors: "bad_image" (400), "too_large" (413),
// "unsupported_media_type" (415). contentType is "image/jpeg", "image/png" or "text/plain"
// (base64 of either).
type Frames interface {
	Decode(body []byte, contentType string) (Frame, error)
	// Analyze runs after the machine admitted the frame to session: results, and any state kept
	// between frames (such as where the last face was), belong to that session only.
	Analyze(ctx context.Context, session string, f Frame) (machine.FrameResult, error)
}

// Users manages enrolled users; main wires the store and the vision gallery behind it. Errors
// of AddFace with Code() "no_face", "multiple_faces" or "low_quality" answer 422; input codes as
// for Frames.Decode. store's sentinel errors map to 404 (ErrNotFound), 400 (ErrInvalidName,
// ErrPINPolicy) and 409 (ErrPINInUse).
type Users interface {
	CreateUser(name, pin string) (store.User, error)
	ListUsers() ([]store.User, error)
	GetUser(id string) (store.User, error)
	DeleteUser(id string) error
	SetPIN(id, pin string) error
	AddFace(ctx context.Context, userID string, body []byte, contentType string) (templateID string, warnings []string, err error)
}

// Audit is the attempt history; *store.DB satisfies it.
type Audit interface {
	Export(w io.Writer, format string, f store.Filter, frameDir string) (int, error)
	GetAttempt(id string) (store.Attempt, error)
	Frame(attemptID string) ([]byte, error)
	Verify() (store.VerifyReport, error)
}

// Board reports the door hardware: Relay is "locked" or "unlocked", Door is "closed", "open" or
// "unknown". RelayFault is the last failed relay pin write, or "" when the last write succeeded:
// the relay is then recorded as locked while the hardware retries the locked level, and the
// installer must see that.
type Board interface {
	Relay() string
	RelayFault() string
	Door() string
}

// DoorEvent is a hardware event pushed to event streams as "event: door". Kind is one of
// door_opened, door_closed, held_open, forced_open, exit_pressed.
type DoorEvent struct {
	Kind string
	At   time.Time
}
