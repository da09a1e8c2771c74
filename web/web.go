package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/transport/api"
)

//go:embed assets
var assets embed.FS

// maxJSON bounds login and pairing bodies.
const maxJSON = 4 << 10

// Options configure a Handler. Tokens is required; the rest describe the daemon for the health
// panel and the pages. Zero Clock is the real clock; nil Logger is slog.Default().
type Options struct {
	// Tokens are the daemon's API tokens: login and pairing check against them and the cookie key
	// is derived from them.
	Tokens transport.Tokens
	// TLS marks the cookie Secure (set it when the daemon serves HTTPS).
	TLS bool
	// Heartbeat is the event stream's heartbeat interval; the door page calls the link lost when
	// nothing arrives for three of them. Default transport.DefaultHeartbeat.
	Heartbeat time.Duration

	// Health describes the daemon; Health.Models lists the model files to report (their sizes and
	// hashes are read once, on the first GET /v1/health).
	Health api.Health
	// ModelsDir holds the files named in Health.Models.
	ModelsDir string
	// CertFile is the TLS certificate (PEM) whose fingerprint the health panel shows; "" without TLS.
	CertFile string
	// DBFile is the database file whose size the health panel shows.
	DBFile string

	Clock  clock.Clock
	Logger *slog.Logger
}

// Handler is the browser side of the API; it implements transport.Web. Create it with New; it is
// safe for concurrent use.
type Handler struct {
	o    Options
	log  *slog.Logger
	key  []byte
	tmpl *template.Template

	modelsOnce sync.Once
	models     []api.Model

	// mu guards everything that follows.
	mu       sync.Mutex
	pairings map[string]time.Time // outstanding pairing code -> expiry
	failures []time.Time          // failed logins and pairings in the last failureWindow
}

var _ transport.Web = (*Handler)(nil)

// New checks the options and parses the page templates.
func New(o Options) (*Handler, error) {
	if len(o.Tokens.Door) < 16 || len(o.Tokens.Admin) < 16 || o.Tokens.Door == o.Tokens.Admin {
		return nil, fmt.Errorf("web: tokens missing, short or equal: %w", transport.ErrBadTokens)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = transport.DefaultHeartbeat
	}
	t, err := template.ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	return &Handler{o: o, log: o.Logger.With("component", "web"), key: deriveKey(o.Tokens), tmpl: t,
		pairings: map[string]time.Time{}}, nil
}

func (h *Handler) now() time.Time { return h.o.Clock.Now() }

// pageData is what the page templates see.
type pageData struct {
	Role        string // the session's role, "" when signed out
	CSRF        string // the session's CSRF token, "" when signed out
	HeartbeatMS int64
}

// securityHeaders are set on every page and asset: only this origin's scripts, styles, images
// and connections; no framing; the camera for this origin only.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"img-src 'self' blob: data:; media-src 'self' blob: mediastream:; connect-src 'self'; "+
		"form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
}

// Page implements transport.Web: GET /door and GET /admin render their page (with the session's
// CSRF token when the cookie holds the page's role); GET /assets/{name} serves a script or style.
func (h *Handler) Page(w http.ResponseWriter, r *http.Request) error {
	securityHeaders(w.Header())
	if name := r.PathValue("name"); name != "" {
		return h.asset(w, name)
	}
	page := path.Base(r.URL.Path) // "door" or "admin": the routes admit nothing else
	d := pageData{HeartbeatMS: h.o.Heartbeat.Milliseconds()}
	if s, ok := h.sessionOf(r); ok && string(s.role) == page {
		d.Role, d.CSRF = string(s.role), h.csrfToken(s)
	}
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, page+".html", d); err != nil {
		return fmt.Errorf("web: render %s: %w", page, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
	return nil
}

// asset serves one embedded script or style.
func (h *Handler) asset(w http.ResponseWriter, name string) error {
	ext := path.Ext(name)
	b, err := fs.ReadFile(assets, "assets/"+name)
	if err != nil || ext == ".html" {
		return &transport.HTTPError{Status: http.StatusNotFound, Code: api.CodeNotFound, Msg: "no such asset"}
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(ext))
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
	return nil
}

// readJSON reads a small JSON body into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errNotJSON
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSON))
	if err != nil {
		return &transport.HTTPError{Status: http.StatusRequestEntityTooLarge, Code: api.CodeTooLarge, Msg: "body too large", Err: err}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &transport.HTTPError{Status: http.StatusBadRequest, Code: api.CodeBadJSON, Msg: "body is not the expected JSON object", Err: err}
	}
	return nil
}

// writeJSON writes v as a JSON answer.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// startSession sets a new session cookie for role and answers its CSRF token.
func (h *Handler) startSession(w http.ResponseWriter, role transport.Role, ttl time.Duration) {
	value, s := h.newSession(role, ttl)
	h.setCookie(w, value, s.expires)
	writeJSON(w, http.StatusOK, api.WebSession{Role: string(role), CSRF: h.csrfToken(s), Expires: s.expires.UTC()})
}

// Login implements transport.Web: POST /v1/login with the admin token.
func (h *Handler) Login(w http.ResponseWriter, r *http.Request) error {
	if err := checkOrigin(r); err != nil {
		return err
	}
	var req api.LoginRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	now := h.now()
	h.mu.Lock()
	if d := h.limitedLocked(now); d > 0 {
		h.mu.Unlock()
		return errLimited(d)
	}
	ok := tokenEqual(req.Token, h.o.Tokens.Admin)
	if !ok {
		h.failLocked(now)
	}
	h.mu.Unlock()
	if !ok {
		return errBadCredentials
	}
	h.log.Info("admin signed in", "client", r.RemoteAddr)
	h.startSession(w, transport.RoleAdmin, AdminSessionTTL)
	return nil
}

// Logout implements transport.Web: POST /v1/logout clears the cookie. The cookie itself stays
// valid until it expires (sessions are stateless); change a token to end every session.
func (h *Handler) Logout(w http.ResponseWriter, _ *http.Request) error {
	h.setCookie(w, "", time.Time{})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Pair implements transport.Web: POST /v1/pair with a one-time pairing code or the door token.
func (h *Handler) Pair(w http.ResponseWriter, r *http.Request) error {
	if err := checkOrigin(r); err != nil {
		return err
	}
	var req api.PairRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	now := h.now()
	h.mu.Lock()
	if d := h.limitedLocked(now); d > 0 {
		h.mu.Unlock()
		return errLimited(d)
	}
	ok, how := false, ""
	switch {
	case req.Code != "":
		ok, how = h.takePairingLocked(req.Code, now), "code"
	case req.Token != "":
		ok, how = tokenEqual(req.Token, h.o.Tokens.Door), "token"
	}
	if !ok {
		h.failLocked(now)
	}
	h.mu.Unlock()
	if !ok {
		return errBadCredentials
	}
	h.log.Info("door page paired", "with", how, "client", r.RemoteAddr)
	h.startSession(w, transport.RoleDoor, DoorSessionTTL)
	return nil
}

// NewPairing implements transport.Web: POST /v1/pairing makes a one-time code valid for five
// minutes. At most four codes are outstanding; a new one replaces the oldest.
func (h *Handler) NewPairing(w http.ResponseWriter, _ *http.Request) error {
	now := h.now()
	code := newPairingCode()
	exp := now.Add(pairingTTL)
	h.mu.Lock()
	for c, e := range h.pairings {
		if !now.Before(e) {
			delete(h.pairings, c)
		}
	}
	for len(h.pairings) >= maxPairings {
		oldest, first := "", time.Time{}
		for c, e := range h.pairings {
			if oldest == "" || e.Before(first) {
				oldest, first = c, e
			}
		}
		delete(h.pairings, oldest)
	}
	h.pairings[code] = exp
	h.mu.Unlock()
	h.log.Info("pairing code created", "expires", exp.UTC().Format(time.RFC3339))
	writeJSON(w, http.StatusCreated, api.Pairing{Code: code, Expires: exp.UTC()})
	return nil
}
