package transport

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/transport/api"
)

// fakeWeb stands in for package web (which imports transport): cookie "s" names the role, and a
// change needs the header X-Doorface-CSRF: ok. Its handlers answer 200 {"web": "<route>"}.
type fakeWeb struct{}

func (fakeWeb) Authenticate(r *http.Request) (Role, error) {
	c, err := r.Cookie("s")
	if err != nil || (c.Value != string(RoleDoor) && c.Value != string(RoleAdmin)) {
		return "", nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get(CSRFHeader) != "ok" {
		return "", &HTTPError{Status: http.StatusForbidden, Code: api.CodeCSRF, Msg: "csrf"}
	}
	return Role(c.Value), nil
}

func fakeWebAnswer(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"web": r.Method + " " + r.URL.Path})
	return nil
}

func (fakeWeb) Login(w http.ResponseWriter, r *http.Request) error      { return fakeWebAnswer(w, r) }
func (fakeWeb) Logout(w http.ResponseWriter, r *http.Request) error     { return fakeWebAnswer(w, r) }
func (fakeWeb) Pair(w http.ResponseWriter, r *http.Request) error       { return fakeWebAnswer(w, r) }
func (fakeWeb) NewPairing(w http.ResponseWriter, r *http.Request) error { return fakeWebAnswer(w, r) }
func (fakeWeb) Health(w http.ResponseWriter, r *http.Request) error     { return fakeWebAnswer(w, r) }
func (fakeWeb) Page(w http.ResponseWriter, r *http.Request) error       { return fakeWebAnswer(w, r) }

// TestWebSessions checks how transport uses Options.Web: a session cookie stands for its role on
// every route, a change that fails Web's CSRF check is refused before its handler runs, a bearer
// header wins over a cookie, and without a Web the page routes do not exist.
func TestWebSessions(t *testing.T) {
	e := newEnv(t, func(_ *machine.Config, o *Options) { o.Web = fakeWeb{} })
	bare := newEnv(t, nil)
	cases := []struct {
		name, method, path, cookie, csrf, auth string
		bare                                   bool
		want                                   int
		code                                   string
	}{
		{name: "door cookie reads state", method: "GET", path: "/v1/state", cookie: "door", want: 200},
		{name: "door cookie on an admin route", method: "GET", path: "/v1/users", cookie: "door", want: 403, code: api.CodeForbidden},
		{name: "admin cookie lists users", method: "GET", path: "/v1/users", cookie: "admin", want: 200},
		{name: "admin cookie makes a pairing code", method: "POST", path: "/v1/pairing", cookie: "admin", csrf: "ok", want: 200},
		{name: "admin change without CSRF", method: "POST", path: "/v1/users", cookie: "admin", want: 403, code: api.CodeCSRF},
		{name: "door change without CSRF", method: "POST", path: "/v1/pin", cookie: "door", want: 403, code: api.CodeCSRF},
		{name: "door logout without CSRF", method: "POST", path: "/v1/logout", cookie: "door", want: 403, code: api.CodeCSRF},
		{name: "unknown cookie", method: "GET", path: "/v1/state", cookie: "root", want: 401, code: api.CodeUnauthorized},
		{name: "bearer wins over cookie", method: "GET", path: "/v1/users", cookie: "admin", auth: "Bearer " + doorToken, want: 403, code: api.CodeForbidden},
		{name: "bad bearer is not rescued by a cookie", method: "GET", path: "/v1/state", cookie: "admin", auth: "Bearer nope", want: 401, code: api.CodeUnauthorized},
		{name: "pages are public", method: "GET", path: "/door", want: 200},
		{name: "no Web: no pages", method: "GET", path: "/door", bare: true, want: 404, code: api.CodeNotFound},
		{name: "no Web: no login", method: "POST", path: "/v1/login", bare: true, want: 404, code: api.CodeNotFound},
		{name: "no Web: cookies mean nothing", method: "GET", path: "/v1/state", cookie: "admin", bare: true, want: 401, code: api.CodeUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := e
			if c.bare {
				env = bare
			}
			before := len(mustUsers(t, env))
			hr, _ := http.NewRequest(c.method, env.hs.URL+c.path, strings.NewReader(`{"name":"Mallory"}`))
			hr.Header.Set("Content-Type", "application/json")
			if c.cookie != "" {
				hr.AddCookie(&http.Cookie{Name: "s", Value: c.cookie})
			}
			if c.csrf != "" {
				hr.Header.Set(CSRFHeader, c.csrf)
			}
			if c.auth != "" {
				hr.Header.Set("Authorization", c.auth)
			}
			res, err := env.hs.Client().Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body api.Error
			_ = json.NewDecoder(res.Body).Decode(&body)
			if res.StatusCode != c.want || body.Error != c.code {
				t.Fatalf("%s %s = %d %q, want %d %q", c.method, c.path, res.StatusCode, body.Error, c.want, c.code)
			}
			if after := len(mustUsers(t, env)); after != before {
				t.Fatalf("users %d -> %d", before, after)
			}
		})
	}
}

// mustUsers lists the users through the store.
func mustUsers(t *testing.T, e *env) []string {
	t.Helper()
	us, err := e.db.ListUsers()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(us))
	for _, u := range us {
		ids = append(ids, u.ID)
	}
	return ids
}
