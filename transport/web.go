package transport

import (
	"net/http"

	"github.com/doorface/doorface/transport/api"
)

// CSRFHeader is the header a browser session must send with every request that changes
// something; its value is the session's CSRF token (api.WebSession.CSRF).
const CSRFHeader = api.CSRFHeader

// Web is the browser side of the API: the embedded pages and the cookie sessions that let a
// browser act as the door or the admin (a browser's EventSource cannot send a bearer header, and
// a token must never appear in a URL). Package web implements it; main wires it in Options.Web.
// With a nil Web the page and session routes answer 404 and only bearer tokens authenticate.
//
// Every method but Authenticate is a route's handler: it returns an error (an *HTTPError chooses
// the answer) like the server's own handlers, and runs behind the same authentication, access log
// and metrics.
type Web interface {
	// Authenticate returns the role of the request's session cookie, or "" when it carries none
	// or an invalid one. When the cookie is valid and the method changes something (not GET or
	// HEAD) it also checks the CSRF defence and returns an *HTTPError (403 csrf) when it fails.
	Authenticate(r *http.Request) (Role, error)
	// Login is POST /v1/login (public): the admin token in the body buys an admin session cookie.
	Login(w http.ResponseWriter, r *http.Request) error
	// Logout is POST /v1/logout: it clears the session cookie.
	Logout(w http.ResponseWriter, r *http.Request) error
	// Pair is POST /v1/pair (public): a one-time pairing code (or the door token) buys a door
	// session cookie.
	Pair(w http.ResponseWriter, r *http.Request) error
	// NewPairing is POST /v1/pairing (admin): a new one-time pairing code.
	NewPairing(w http.ResponseWriter, r *http.Request) error
	// Health is GET /v1/health (admin): version, models, certificate, disk.
	Health(w http.ResponseWriter, r *http.Request) error
	// Page serves GET /door, GET /admin and GET /assets/{name}.
	Page(w http.ResponseWriter, r *http.Request) error
}

// errNoWeb answers the web routes when no Web is wired.
var errNoWeb = httpErr(http.StatusNotFound, api.CodeNotFound, "no such endpoint", nil)

// web returns the wired Web or the 404 error.
func (s *Server) web() (Web, error) {
	if s.o.Web == nil {
		return nil, errNoWeb
	}
	return s.o.Web, nil
}

// webRoute adapts one of Web's handlers to a route's handler.
func webRoute(f func(Web, http.ResponseWriter, *http.Request) error) handlerFunc {
	return func(s *Server, w http.ResponseWriter, r *http.Request) error {
		wb, err := s.web()
		if err != nil {
			return err
		}
		return f(wb, w, r)
	}
}

// cookieRole asks Web for the role of the request's session cookie: "" without a Web or a
// valid cookie; an error when the cookie is valid but the CSRF check of a change failed.
func (s *Server) cookieRole(r *http.Request) (Role, error) {
	if s.o.Web == nil {
		return "", nil
	}
	return s.o.Web.Authenticate(r)
}
