// Package transport is doorface's HTTP API: the door tablet's frame, PIN and event-stream endpoints and
// the installer's admin endpoints.
//
// # What it owns
//
// Routing, authentication (door and admin bearer tokens), request size limits, the JSON and
// Server-Sent Events encodings, the mapping of errors to status codes, the Prometheus metrics of
// the request path, the token file, and the OpenAPI document (openapi.yaml, embedded and served at
// GET /openapi.yaml).
//
// # What it must not do
//
// It must not decide anything about the door: every decision is the state machine's (package
// machine). It must not decode images itself or link cgo: vision sits behind the Frames and Users
// interfaces that main wires in. It must not touch GPIO or the database file directly (the store
// sits behind Users and Audit). It must never put a token, PIN or face template in a log line or
// an answer.
//
// # Routes and roles
//
// [Routes] is the one table the router is built from; each entry names its [Role]. Every route but
// GET /healthz needs "Authorization: Bearer <token>". The token is hashed and compared with both
// tokens in constant time (crypto/subtle): no or an unknown token answers 401, the other role's
// token 403. GET /v1/state, GET /v1/events and GET /openapi.yaml take either token.
//
// # Browsers
//
// A browser cannot send a bearer header on an EventSource and must never carry a token in a URL,
// so Options.Web (package web) may be wired: it serves the door and admin pages and their
// sign-in routes (GET /door, GET /admin, GET /assets/{name}, POST /v1/login, POST /v1/pair, POST
// /v1/pairing, POST /v1/logout, GET /v1/health), and a request without an Authorization header
// is asked of Web.Authenticate, which maps its session cookie to a role and refuses a change
// without the session's CSRF token (403 csrf). A request with an Authorization header is judged
// by it alone. Without a Web those routes answer 404 and cookies mean nothing.
//
// # A frame's path
//
// POST /v1/frames (and the prototype's POST /image) checks the session header and content type,
// answers 409 at once while the door is Unlocking or in Cooldown, takes a slot of a bounded queue
// (Options.QueueSize; full answers 429 with Retry-After: 1, so memory is bounded by QueueSize
// bodies), reads the body under http.MaxBytesReader (413), decodes it (bad images never reach the
// machine), then Admit, Analyze, Submit. A frame whose analysis fails or whose client leaves is
// abandoned, so it counts nothing. The answer carries the state the frame caused.
//
// While an enrollment at the door runs (POST /v1/enrollment, Options.Enroller), a decoded frame
// goes to Enroller.Offer before Admit: no session is opened, the machine never sees the frame and
// the answer's state is "Enrolling". The enrollment's progress is "event: enrollment"
// (PublishEnrollment) on every stream.
//
// # Errors
//
// Handlers return an error; one adapter (Server.wrap) writes it. An [*HTTPError] chooses the
// status, the code and the message; its Cause goes only to the log. Any other error is a plain
// 500 {"error":"internal"}. Every rejection is logged with route, status, code and, when known,
// session.
//
// # Events
//
// One broker goroutine reads the machine's subscription and fans each transition out, encoded
// once, to every stream through a small per-client channel. A client whose channel is full is
// dropped (its stream ends; it reconnects and reads GET /v1/state); neither the broker nor the
// machine ever waits for a client, and every write to a client has a deadline. Door hardware
// events (PublishDoorEvent) pass through the same goroutine after the transitions already waiting,
// so a door opening is never reported before the Unlocking that caused it. There is no replay of
// missed events (Last-Event-ID is ignored); each stream opens with "event: snapshot".
//
// # Shutdown
//
// Serve stops when its context ends: StopFrames (frames answer 503 shutting_down), the event
// streams end, then http.Server.Shutdown within Options.ShutdownTimeout, then Close.
//
// # Tokens
//
// LoadOrCreateTokens: tokens given in config or environment win; otherwise dataDir/tokens.json
// (mode 0600; a file readable by others is refused) is read, or created with two random 32-byte
// tokens that the caller prints once.
package transport
