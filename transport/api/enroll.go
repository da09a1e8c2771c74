package api

import "time"

// Error codes of enrollment (see the list in api.go).
const (
	// CodeCloserToOtherUser (409): a new template is nearer another user's templates than the
	// user's own; the message names the other user. Repeat with ?force=true to store it anyway.
	CodeCloserToOtherUser = "closer_to_other_user"
	// CodeEnrollmentActive (409): an enrollment at the door is already running.
	CodeEnrollmentActive = "enrollment_active"
	// CodeNoEnrollment (404): DELETE /v1/enrollment with no enrollment running.
	CodeNoEnrollment = "no_enrollment"
)

// StateEnrolling is FrameResponse.State while the door enrolls a user: the frame went to the
// enrollment, no door session was opened and the door cannot open.
const StateEnrolling = "Enrolling"

// EventEnrollment is the event of GET /v1/events that reports an enrollment at the door's
// progress (data: EnrollmentEvent), on every stream.
const EventEnrollment = "enrollment"

// Enrollment outcomes (Enrollment.Outcome, EnrollmentEvent.Outcome); "" while it runs.
const (
	EnrollmentCompleted = "completed"
	EnrollmentCancelled = "cancelled"
	EnrollmentTimeout   = "timeout"
	EnrollmentFailed    = "failed"
)

// Template is one face template of a user, as GET /v1/users/{id}/templates lists it: never its
// descriptor. Crop says a face crop is kept, from which `doorface gallery rebuild` recomputes
// it for another engine; the templates of one photo under several engines share Source.
type Template struct {
	ID      string    `json:"id"`
	Engine  string    `json:"engine"`
	Created time.Time `json:"created"`
	Crop    bool      `json:"crop"`
	Source  string    `json:"source,omitempty"`
}

// TemplateList answers GET /v1/users/{id}/templates.
type TemplateList struct {
	Templates []Template `json:"templates"`
}

// EnrollmentRequest is the body of POST /v1/enrollment: enroll User at the door from Frames
// distinct frames (default 5, 1 to 10) within TimeoutS seconds (default 60, at most 600).
type EnrollmentRequest struct {
	User     string `json:"user"`
	Frames   int    `json:"frames,omitempty"`
	TimeoutS int    `json:"timeout_s,omitempty"`
}

// Enrollment answers POST, GET and DELETE /v1/enrollment.
type Enrollment struct {
	Active bool   `json:"active"`
	User   string `json:"user"`
	Name   string `json:"name"`
	// Have is the number of distinct good frames kept so far, Want the number asked for.
	Have int `json:"have"`
	Want int `json:"want"`
	// Seen counts the frames offered, kept or not.
	Seen     int       `json:"seen"`
	Deadline time.Time `json:"deadline"`
	// Outcome is "" while Active, else one of the Enrollment* outcomes; Templates are the
	// templates stored by a completed enrollment.
	Outcome   string   `json:"outcome,omitempty"`
	Templates []string `json:"templates,omitempty"`
}

// EnrollmentEvent is the data of "event: enrollment": Have of Want frames kept; Done once it
// ended (Outcome says how).
type EnrollmentEvent struct {
	User    string `json:"user"`
	Name    string `json:"name"`
	Have    int    `json:"have"`
	Want    int    `json:"want"`
	Done    bool   `json:"done"`
	Outcome string `json:"outcome,omitempty"`
	At      string `json:"at"`
}

// EnrollmentFrame is what the enrollment said about one frame (FrameResponse.Enrollment).
// Quality is the frame's verdict: "ok", a Quality of the frame path (no_face, blurry,
// turned_away, ...), or "closer_to_other_user" / "different_person" for a face that is not
// the user's; Kept says the frame is among the kept ones.
type EnrollmentFrame struct {
	User    string `json:"user"`
	Have    int    `json:"have"`
	Want    int    `json:"want"`
	Kept    bool   `json:"kept"`
	Quality string `json:"quality"`
	Done    bool   `json:"done"`
}
