// Package api holds the wire types of doorface's HTTP API: requests, responses, event data and
// error codes. The server (package transport) and every client (package transport/client, and
// through it `doorface replay`, `make bench` and the tests) share these types, so the API is its
// own contract: renaming a field in the database does not change it. transport/openapi.yaml
// documents the same shapes.
package api

import "time"

// SessionHeader names the session a frame belongs to; answers to frames carry it too.
const SessionHeader = "X-Door-Session"

// Error codes: the "error" member of every error answer. They are stable; clients switch on them.
const (
	CodeUnauthorized         = "unauthorized"           // 401: missing or unknown token
	CodeForbidden            = "forbidden"              // 403: the token's role may not call this
	CodeNotFound             = "not_found"              // 404: no such endpoint or record
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeBadRequest           = "bad_request"            // 400: the body could not be read
	CodeBadJSON              = "bad_json"               // 400: the body is not the expected JSON object
	CodeBadSession           = "bad_session"            // 400: the session id is not one doorface issues
	CodeBadPIN               = "bad_pin"                // 400: the PIN is not 4 to 12 digits
	CodeBadID                = "bad_id"                 // 400: a path or query id is malformed
	CodeBadQuery             = "bad_query"              // 400: an audit filter is malformed
	CodeBadFormat            = "bad_format"             // 400: the export format is not csv or jsonl
	CodeBadImage             = "bad_image"              // 400: the body is not a decodable JPEG or PNG
	CodeInvalidName          = "invalid_name"           // 400
	CodePINPolicy            = "pin_policy"             // 400: the PIN breaks the site's PIN policy
	CodeTooLarge             = "too_large"              // 413: body or image dimensions too large
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeNoFace               = "no_face"                // 422: enrollment photo without a face
	CodeMultipleFaces        = "multiple_faces"         // 422: enrollment photo with several faces
	CodeLowQuality           = "low_quality"            // 422: enrollment face too small, dark, bright or blurry
	CodeBusy                 = "busy"                   // 409: the door is unlocking or cooling down
	CodeLockdown             = "lockdown"               // 423: the door is held in lockdown; only the exit button opens it
	CodeNotAwaitingPIN       = "not_awaiting_pin"       // 409
	CodePINInUse             = "pin_in_use"             // 409
	CodeNameInUse            = "name_in_use"            // 409: another user has this name
	CodeStaleSession         = "stale_session"          // 410: the session is over
	CodePruned               = "pruned"                 // 410: the evidence frame was deleted by retention
	CodeQueueFull            = "queue_full"             // 429: too many frames in analysis or uploads
	CodeRateLimited          = "rate_limited"           // 429: too many requests of this kind from the token
	CodeTooManyStreams       = "too_many_streams"       // 429: too many event streams open for the token
	CodeInternal             = "internal"               // 500
	CodeAnalysisFailed       = "analysis_failed"        // 500
	CodeShuttingDown         = "shutting_down"          // 503
	CodeAnalysisCancelled    = "analysis_cancelled"     // 503
	CodeAuditUnavailable     = "audit_unavailable"      // 503: the audit cannot be written; the door stays locked
	CodeDirectoryUnavailable = "directory_unavailable"  // 503
	CodeStoreUnavailable     = "store_unavailable"      // 503
	CodeCSRF                 = "csrf"                   // 403: a browser session's change without its CSRF token, or from another origin
	CodeBadCredentials       = "bad_credentials"        // 401: login token or pairing code wrong, used or expired
	CodeTooManyAttempts      = "too_many_attempts"      // 429: too many wrong pairing codes or logins; wait
)

// Error is the body of every error answer. Error is one of the Code constants, Message is for a
// person. Some answers add State and RetryAfterMS (busy, stale_session, not_awaiting_pin).
type Error struct {
	Error        string `json:"error"`
	Message      string `json:"message"`
	State        string `json:"state,omitempty"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
}

// Match is a frame's match in an answer: only a match within the threshold and margin, never a
// near miss.
type Match struct {
	User     string  `json:"user"`
	Name     string  `json:"name"`
	Distance float64 `json:"distance"`
	Margin   float64 `json:"margin"`
}

// Frame is what the machine said about one frame.
type Frame struct {
	Seq     int    `json:"seq"`
	Quality string `json:"quality"`
	Match   *Match `json:"match"`
}

// Decision is a session's decision.
type Decision struct {
	Outcome string `json:"outcome"`
	Method  string `json:"method"`
	User    string `json:"user"`
	Name    string `json:"name"`
}

// FrameResponse answers POST /v1/frames and POST /image.
type FrameResponse struct {
	Session  string    `json:"session"`
	State    string    `json:"state"`
	Frame    Frame     `json:"frame"`
	Decision *Decision `json:"decision"`
	// Enrollment is set, and State is StateEnrolling, while the door enrolls a user.
	Enrollment *EnrollmentFrame `json:"enrollment,omitempty"`
}

// PinRequest is the body of POST /v1/pin.
type PinRequest struct {
	Session string `json:"session"`
	PIN     string `json:"pin"`
}

// PinResponse answers POST /v1/pin.
type PinResponse struct {
	Outcome      string    `json:"outcome"`
	State        string    `json:"state"`
	AttemptsLeft int       `json:"attempts_left"`
	RetryAfterS  int64     `json:"retry_after_s"`
	Decision     *Decision `json:"decision"`
}

// State answers GET /v1/state and DELETE /v1/session.
type State struct {
	State        string  `json:"state"`
	Session      *string `json:"session"`
	Since        string  `json:"since"`
	Relay        string  `json:"relay"`
	RelayFault   string  `json:"relay_fault"`
	Door         string  `json:"door"`
	RetryAfterMS int64   `json:"retry_after_ms"`
	// Light is the status light's colour per LED ("#rrggbb"), as people at the door see it.
	Light []string `json:"light,omitempty"`
}

// SaveResponse answers POST /save.
type SaveResponse struct {
	Saved   bool   `json:"saved"`
	Session string `json:"session"`
	State   string `json:"state"`
}

// User is a user in admin answers. PINs and templates are never returned.
type User struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Created    time.Time  `json:"created"`
	Enabled    bool       `json:"enabled"`
	ValidFrom  *time.Time `json:"valid_from,omitempty"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	HasPIN     bool       `json:"has_pin"`
	// Mode is the authentication mode (ModeFace...); "" is shown as face_or_pin.
	Mode string `json:"mode"`
	// Schedule names the user's weekly schedule, "" for any time.
	Schedule     string `json:"schedule"`
	HasDuressPIN bool   `json:"has_duress_pin"`
	// Templates is the number of face templates (of every engine); GET /v1/users/{id} only.
	Templates *int `json:"templates,omitempty"`
}

// UserList answers GET /v1/users.
type UserList struct {
	Users []User `json:"users"`
}

// CreateUserRequest is the body of POST /v1/users.
type CreateUserRequest struct {
	Name string `json:"name"`
	PIN  string `json:"pin"`
}

// SetPINRequest is the body of PUT /v1/users/{id}/pin; "" removes the PIN.
type SetPINRequest struct {
	PIN string `json:"pin"`
}

// FaceResponse answers POST /v1/users/{id}/faces: the new templates' ids, never descriptors.
// Template is the first (the only one for a single photo); Templates lists one per photo, in
// the order sent.
type FaceResponse struct {
	Template  string   `json:"template"`
	Templates []string `json:"templates"`
	Warnings  []string `json:"warnings"`
}

// Attempt is one audit record, as GET /v1/audit/{id} answers it.
type Attempt struct {
	Seq            uint64             `json:"seq"`
	ID             string             `json:"id"`
	Start          time.Time          `json:"start"`
	End            time.Time          `json:"end"`
	Outcome        string             `json:"outcome"`
	Method         string             `json:"method"`
	User           string             `json:"user"`
	Name           string             `json:"name"`
	BestUser       string             `json:"best_user"`
	BestDistance   float64            `json:"best_distance"`
	BestMargin     float64            `json:"best_margin"`
	Frames         int                `json:"frames"`
	PinTries       int                `json:"pin_tries"`
	Durations      map[string]float64 `json:"durations"`
	Reason         string             `json:"reason"`
	Evidence       string             `json:"evidence"` // evidence key (its file name in exports); "" if none
	EvidencePruned bool               `json:"evidence_pruned"`
	PrevHash       string             `json:"prev_hash"`
	Hash           string             `json:"hash"`
	// Policy is the access policy that applied to the decided user ("mode=face_or_pin
	// schedule=office-hours"); Duress says their duress PIN was entered; Mismatch is the user
	// the face matched when the PIN was another's; OpenForS is a door-event record's open time.
	Policy   string  `json:"policy"`
	Duress   bool    `json:"duress"`
	Mismatch string  `json:"mismatch"`
	OpenForS float64 `json:"open_for_s"`
	// Liveness is the session's liveness evidence (nil when no face decision asked for it).
	Liveness *Liveness `json:"liveness,omitempty"`
}

// Liveness is a session's presentation-attack evidence: the machine's mode (enforce, log, off),
// the result (passed, failed, undecided), the P(real) of each scored distinct frame, their mean
// (-1 when none) and how many frames repeated an earlier one.
type Liveness struct {
	Mode    string    `json:"mode"`
	Result  string    `json:"result,omitempty"`
	Scores  []float64 `json:"scores,omitempty"`
	Mean    float64   `json:"mean"`
	Repeats int       `json:"repeats"`
}

// AuditFilter selects audit records (GET /v1/audit's query). Zero fields select everything.
type AuditFilter struct {
	Since, Until time.Time
	Outcome      string
	User         string
}

// VerifyReport answers GET /v1/audit/verify.
type VerifyReport struct {
	Records     int    `json:"records"`
	OK          bool   `json:"ok"`
	FirstBroken uint64 `json:"first_broken"`
	Problem     string `json:"problem"`
	Head        string `json:"head"`
	// HeadValue is the verified head as "seq:mac": keep it off the device to check the history
	// (or an export) later with `doorface audit verify --head`.
	HeadValue string `json:"head_value"`
	// Anchored says the chain was also checked against an exported head.
	Anchored bool `json:"anchored"`
}

// AuditHead answers GET /v1/audit/head: the audit chain's head, to keep off the device.
type AuditHead struct {
	Seq   uint64 `json:"seq"`
	MAC   string `json:"mac"`
	Value string `json:"value"` // "seq:mac", what `doorface audit verify --head` takes
}

// Lockout answers GET /v1/lockout and POST /v1/lockout/reset (the lockout that was cleared).
type Lockout struct {
	Failures int       `json:"failures"`
	Level    int       `json:"level"`
	Until    time.Time `json:"until"`
	Active   bool      `json:"active"`
}

// Event names of GET /v1/events (Server-Sent Events).
const (
	EventSnapshot = "snapshot" // data: State, first on every stream
	EventState    = "state"    // data: StateEvent
	EventDecision = "decision" // data: DecisionEvent
	EventDoor     = "door"     // data: DoorEvent
)

// StateEvent is the data of "event: state".
type StateEvent struct {
	State   string  `json:"state"`
	From    string  `json:"from"`
	Session *string `json:"session"`
	At      string  `json:"at"`
	Reason  string  `json:"reason"`
}

// DecisionEvent is the data of "event: decision".
type DecisionEvent struct {
	Session string `json:"session"`
	Outcome string `json:"outcome"`
	Method  string `json:"method"`
	User    string `json:"user"`
	Name    string `json:"name"`
	At      string `json:"at"`
	// Reason says why, e.g. "policy:outside_schedule:office-hours" for a denial by policy.
	Reason string `json:"reason"`
}

// DoorEvent is the data of "event: door". Kind is door_opened, door_closed, held_open,
// forced_open or exit_pressed.
type DoorEvent struct {
	Kind string `json:"kind"`
	At   string `json:"at"`
}

// CSRFHeader is the header a browser session sends with every change; its value is
// WebSession.CSRF.
const CSRFHeader = "X-Doorface-CSRF"

// LoginRequest is the body of POST /v1/login: the admin token, typed once.
type LoginRequest struct {
	Token string `json:"token"`
}

// PairRequest is the body of POST /v1/pair: a pairing code from the admin page, or the door token
// typed once.
type PairRequest struct {
	Code  string `json:"code,omitempty"`
	Token string `json:"token,omitempty"`
}

// WebSession answers POST /v1/login and POST /v1/pair; the session itself is in an HttpOnly
// cookie. CSRF goes in the X-Doorface-CSRF header of every change the session makes.
type WebSession struct {
	Role    string    `json:"role"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// Pairing answers POST /v1/pairing: a one-time code the door page takes once, before Expires.
type Pairing struct {
	Code    string    `json:"code"`
	Expires time.Time `json:"expires"`
}

// Model is one model file in Health.
type Model struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"` // "" when the file is missing
}

// Health answers GET /v1/health: what the installer checks on the admin page.
type Health struct {
	Version         string  `json:"version"`
	Commit          string  `json:"commit"`
	Go              string  `json:"go"`
	Models          []Model `json:"models"`
	TLS             bool    `json:"tls"`
	CertFingerprint string  `json:"cert_fingerprint"` // SHA-256 of the leaf certificate, "" without TLS
	DataDir         string  `json:"data_dir"`
	DatabaseBytes   int64   `json:"database_bytes"`
	DiskFreeBytes   int64   `json:"disk_free_bytes"`
	DiskTotalBytes  int64   `json:"disk_total_bytes"`
}
