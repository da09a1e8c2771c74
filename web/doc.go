// Package web is doorface's browser side: the door page a tablet shows full screen in kiosk mode
// (/door) and the installer's admin page (/admin), embedded in the binary (go:embed: no CDN, works
// with no internet), and the cookie sessions that let a browser call the API.
//
// # Why cookies
//
// A browser's EventSource cannot send an Authorization header, and a token must never appear in a
// URL (it would land in history, logs and Referer headers). So a browser signs in once: the admin
// page posts the admin token to POST /v1/login; the door page posts a one-time pairing code (made
// on the admin page with POST /v1/pairing) or the door token to POST /v1/pair. Either answer sets
// one HttpOnly, SameSite=Strict session cookie (Secure when the daemon serves TLS) and returns the
// session's CSRF token. [Handler.Authenticate] is what transport asks for the role of a request
// without a bearer header.
//
// # The session cookie
//
// The cookie is stateless: role, expiry and a random nonce, signed with HMAC-SHA256 under a key
// derived from both API tokens. It survives a daemon restart (a paired tablet stays paired), and
// changing either token signs every browser out. A door session lasts 400 days (the longest a
// browser keeps a cookie), an admin session 12 hours.
//
// # CSRF
//
// A change (any method but GET and HEAD) made with the cookie must carry the X-Doorface-CSRF
// header with the session's CSRF token (an HMAC of the cookie, embedded in the page), and an
// Origin header, when sent, must name this host. SameSite=Strict keeps the cookie off cross-site
// requests in the first place. Login and pairing, which have no session yet, check Origin and
// require a JSON body (a cross-site form cannot send one without a CORS preflight, which doorface
// never grants). Wrong login tokens and pairing codes are limited: after 5 failures within a
// minute every further try is refused for a minute, and the outstanding pairing codes are burnt.
//
// A browser holds one session: signing in as admin in the browser a door page runs in replaces
// its door session (the door page then shows the pairing form again).
//
// The failure limit is global, not per client: someone on the network who keeps guessing keeps
// the admin out too, for a minute at a time, and the log shows it ("request rejected", 401
// bad_credentials, with the client address).
//
// # What it must not do
//
// It decides nothing about the door and holds no state of it: the pages read the same API as any
// client. It never logs a token, code, cookie or CSRF token.
package web
