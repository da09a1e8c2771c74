package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/transport/api"
)

// CookieName is the name of the session cookie.
const CookieName = "doorface_session"

// Lifetimes of the sessions.
const (
	DoorSessionTTL  = 400 * 24 * time.Hour // browsers cap a cookie's life at 400 days
	AdminSessionTTL = 12 * time.Hour
)

// session is a decoded, verified session cookie.
type session struct {
	role    transport.Role
	expires time.Time
	payload string // the signed part of the cookie; the CSRF token is derived from it
}

// deriveKey derives the cookie key from both tokens: changing either signs every browser out.
func deriveKey(t transport.Tokens) []byte {
	m := hmac.New(sha256.New, []byte("doorface web session v1"))
	m.Write([]byte(t.Door))
	m.Write([]byte{0})
	m.Write([]byte(t.Admin))
	return m.Sum(nil)
}

// mac is HMAC-SHA256 under the cookie key of a purpose and a payload.
func (h *Handler) mac(purpose, payload string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// newSession makes a signed cookie value for role that expires after ttl.
func (h *Handler) newSession(role transport.Role, ttl time.Duration) (value string, s session) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails (Go 1.24+)
	exp := h.now().Add(ttl).Truncate(time.Second)
	payload := fmt.Sprintf("%s|%d|%s", role, exp.Unix(), base64.RawURLEncoding.EncodeToString(nonce[:]))
	value = base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." +
		base64.RawURLEncoding.EncodeToString(h.mac("cookie", payload))
	return value, session{role: role, expires: exp, payload: payload}
}

// parseSession verifies a cookie value; ok is false when it is malformed, forged or expired.
func (h *Handler) parseSession(value string) (session, bool) {
	p64, m64, found := strings.Cut(value, ".")
	if !found || len(value) > 512 {
		return session{}, false
	}
	pb, err1 := base64.RawURLEncoding.DecodeString(p64)
	mb, err2 := base64.RawURLEncoding.DecodeString(m64)
	if err1 != nil || err2 != nil {
		return session{}, false
	}
	payload := string(pb)
	if !hmac.Equal(mb, h.mac("cookie", payload)) {
		return session{}, false
	}
	parts := strings.Split(payload, "|")
	if len(parts) != 3 {
		return session{}, false
	}
	role := transport.Role(parts[0])
	if role != transport.RoleDoor && role != transport.RoleAdmin {
		return session{}, false
	}
	sec, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return session{}, false
	}
	exp := time.Unix(sec, 0)
	if !h.now().Before(exp) {
		return session{}, false
	}
	return session{role: role, expires: exp, payload: payload}, true
}

// csrfToken is the session's CSRF token: an HMAC of its cookie payload, so it needs no storage and
// a page from another session cannot use it.
func (h *Handler) csrfToken(s session) string {
	return base64.RawURLEncoding.EncodeToString(h.mac("csrf", s.payload))
}

// sessionOf returns the request's verified session, if any.
func (h *Handler) sessionOf(r *http.Request) (session, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return session{}, false
	}
	return h.parseSession(c.Value)
}

// errCSRF answers a change that fails the CSRF defence.
var errCSRF = &transport.HTTPError{Status: http.StatusForbidden, Code: api.CodeCSRF,
	Msg: "this change needs the page's CSRF token and must come from this site"}

// safeMethod reports whether a method changes nothing.
func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// checkOrigin refuses a request whose Origin (when sent) names another host, or whose
// Sec-Fetch-Site says it came from another site.
func checkOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("Sec-Fetch-Site %q: %w", site, errCSRF)
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return fmt.Errorf("origin %q for host %q: %w", o, r.Host, errCSRF)
	}
	return nil
}

// Authenticate implements transport.Web: the role of a valid session cookie, "" without one. A
// change made with the cookie must pass the CSRF defence (header token and origin).
func (h *Handler) Authenticate(r *http.Request) (transport.Role, error) {
	s, ok := h.sessionOf(r)
	if !ok {
		return "", nil
	}
	if safeMethod(r.Method) {
		return s.role, nil
	}
	if err := checkOrigin(r); err != nil {
		return "", err
	}
	got := r.Header.Get(transport.CSRFHeader)
	if subtle.ConstantTimeCompare([]byte(got), []byte(h.csrfToken(s))) != 1 {
		return "", errCSRF
	}
	return s.role, nil
}

// setCookie sets the session cookie (or clears it when value is "").
func (h *Handler) setCookie(w http.ResponseWriter, value string, expires time.Time) {
	c := &http.Cookie{Name: CookieName, Value: value, Path: "/", HttpOnly: true, Secure: h.o.TLS,
		SameSite: http.SameSiteStrictMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
		c.MaxAge = int(expires.Sub(h.now()).Seconds())
	}
	http.SetCookie(w, c)
}

// errLimited answers logins and pairings while too many have failed.
func errLimited(retry time.Duration) error {
	return &transport.HTTPError{Status: http.StatusTooManyRequests, Code: api.CodeTooManyAttempts,
		Msg: "too many wrong attempts; wait a minute", RetryAfter: retry}
}

// errBadCredentials answers a wrong token or pairing code.
var errBadCredentials = &transport.HTTPError{Status: http.StatusUnauthorized, Code: api.CodeBadCredentials,
	Msg: "wrong, used or expired token or pairing code"}

// Limits of the failure limiter and of pairing codes.
const (
	maxFailures   = 5
	failureWindow = time.Minute
	pairingTTL    = 5 * time.Minute
	maxPairings   = 4
	pairingDigits = 8
)

// limitedLocked returns how long logins and pairings are refused now (0: allowed). h.mu held.
func (h *Handler) limitedLocked(now time.Time) time.Duration {
	kept := h.failures[:0]
	for _, f := range h.failures {
		if now.Sub(f) < failureWindow {
			kept = append(kept, f)
		}
	}
	h.failures = kept
	if len(kept) < maxFailures {
		return 0
	}
	return failureWindow - now.Sub(kept[len(kept)-maxFailures])
}

// failLocked records a failed login or pairing; at the limit it burns every pairing code. h.mu held.
func (h *Handler) failLocked(now time.Time) {
	h.failures = append(h.failures, now)
	if len(h.failures) >= maxFailures {
		clear(h.pairings)
	}
}

// newPairingCode returns a fresh code of pairingDigits digits.
func newPairingCode() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return fmt.Sprintf("%0*d", pairingDigits, n%100_000_000)
}

// takePairingLocked consumes code if it is outstanding and unexpired. h.mu held.
func (h *Handler) takePairingLocked(code string, now time.Time) bool {
	ok := false
	for c, exp := range h.pairings {
		if !now.Before(exp) {
			delete(h.pairings, c)
			continue
		}
		if subtle.ConstantTimeCompare([]byte(c), []byte(code)) == 1 {
			delete(h.pairings, c)
			ok = true
		}
	}
	return ok
}

// errNotJSON answers login and pairing bodies that are not JSON.
var errNotJSON = &transport.HTTPError{Status: http.StatusUnsupportedMediaType, Code: api.CodeUnsupportedMediaType,
	Msg: "body must be application/json"}

// tokenEqual compares a presented secret with a configured one on SHA-256 digests, in constant time.
func tokenEqual(presented, configured string) bool {
	a, b := sha256.Sum256([]byte(presented)), sha256.Sum256([]byte(configured))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
