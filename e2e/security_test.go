package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/doorface/doorface/internal/testkit"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/transport/client"
)

// TestAuthEveryRouteRealDaemon calls every route of transport.Routes() on the real binary without a
// token, with malformed and wrong tokens, and with the other role's token, each with a body that
// would change something if it were accepted, and checks 401 (code unauthorized, with
// WWW-Authenticate) or 403 (forbidden), that nothing changed and that no token reached the log;
// the public route answers without one. (The one auth scan: transport's in-process copy was
// folded into it.)
func TestAuthEveryRouteRealDaemon(t *testing.T) {
	t.Parallel() // functional: no timing or memory claim, its own daemon and data
	r := newRelRig(t)
	victim := r.createUser("Victim", "24680")
	frame := testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/sheldon4.png"), 1280, 720, 360)
	b64 := []byte(base64.StdEncoding.EncodeToString(frame))
	bodies := map[string]struct {
		ct   string
		body []byte
	}{
		"POST /v1/frames":               {"image/jpeg", frame},
		"POST /image":                   {"text/plain", b64},
		"POST /save":                    {"text/plain", b64},
		"POST /v1/pin":                  {"application/json", mustJSON(map[string]string{"session": "0123456789abcdef", "pin": "24680"})},
		"POST /v1/users":                {"application/json", mustJSON(map[string]string{"name": "Mallory", "pin": "13579"})},
		"PUT /v1/users/{id}/pin":        {"application/json", mustJSON(map[string]string{"pin": "11223"})},
		"POST /v1/users/{id}/faces":     {"image/png", testkit.Photo(t, "enroll-test/sheldon1.png")},
		"PUT /v1/users/{id}/policy":     {"application/json", mustJSON(map[string]any{"enabled": false, "mode": "pin_only"})},
		"PUT /v1/users/{id}/duress-pin": {"application/json", mustJSON(map[string]string{"pin": "97531"})},
		"PUT /v1/schedules/{name}": {"application/json", mustJSON(map[string]any{"windows": []map[string]any{
			{"days": []string{"mon-sun"}, "from": "00:00", "until": "24:00"}}})},
		"DELETE /v1/schedules/{name}":           {},
		"GET /v1/schedules/{name}":              {},
		"GET /v1/schedules":                     {},
		"DELETE /v1/users/{id}":                 {},
		"GET /v1/users/{id}/templates":          {},
		"DELETE /v1/users/{id}/templates/{tid}": {},
		"POST /v1/enrollment":                   {"application/json", mustJSON(map[string]any{"user": victim, "frames": 3})},
		"GET /v1/enrollment":                    {},
		"DELETE /v1/enrollment":                 {},
		"DELETE /v1/session":                    {},
		"GET /v1/audit/{id}/frame":              {},
		"GET /v1/users/{id}":                    {},
		"GET /v1/audit/{id}":                    {},
		"GET /v1/audit/verify":                  {},
		"GET /v1/audit/head":                    {},
		"GET /v1/lockout":                       {},
		"POST /v1/lockout/reset":                {},
		"GET /v1/audit":                         {},
		"GET /v1/users":                         {},
		"GET /v1/state":                         {},
		"GET /v1/events":                        {},
		"GET /metrics":                          {},
		"GET /openapi.yaml":                     {},
		"GET /healthz":                          {},
		"POST /v1/logout":                       {},
		"POST /v1/pairing":                      {},
		"GET /v1/health":                        {},
		"unknown route placeholder":             {},
		"another unknown route here":            {},
	}
	// A schedule the scan's DELETE and PUT would change if they were accepted.
	r.admin.JSON(http.MethodPut, "/v1/schedules/always", map[string]any{"windows": []map[string]any{
		{"days": []string{"mon-fri"}, "from": "08:00", "until": "18:00"}}}, http.StatusOK, nil)
	before := r.world()
	type cred struct {
		name   string
		header string // Authorization value; "" sends none
		want   int
		roles  []transport.Role // routes it applies to
	}
	all := []transport.Role{transport.RoleDoor, transport.RoleAdmin, transport.RoleAny}
	creds := []cred{
		{"no token", "", http.StatusUnauthorized, all},
		{"wrong token", "Bearer wrong-token-0123456789abcdef", http.StatusUnauthorized, all},
		{"door token plus a byte", "Bearer " + relDoorToken + "x", http.StatusUnauthorized, all},
		{"admin token minus a byte", "Bearer " + relAdminToken[:len(relAdminToken)-1], http.StatusUnauthorized, all},
		{"token without scheme", relAdminToken, http.StatusUnauthorized, all},
		{"basic scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+relAdminToken)), http.StatusUnauthorized, all},
		{"empty bearer", "Bearer ", http.StatusUnauthorized, all},
		{"door token on admin route", "Bearer " + relDoorToken, http.StatusForbidden, []transport.Role{transport.RoleAdmin}},
		{"admin token on door route", "Bearer " + relAdminToken, http.StatusForbidden, []transport.Role{transport.RoleDoor}},
	}
	// No token of its own: each call sets the Authorization header under test.
	anon := client.New(r.d.URL(""), "", &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }})
	calls := 0
	for _, rt := range transport.Routes() {
		if rt.Role == transport.RolePublic {
			continue
		}
		b, ok := bodies[rt.String()]
		if !ok {
			t.Errorf("route %s has no body in this scan: add one", rt)
		}
		path := strings.NewReplacer("{id}", victim, "{name}", "always", "{tid}", "0123456789abcdef").Replace(rt.Pattern)
		for _, c := range creds {
			if !containsRole(c.roles, rt.Role) {
				continue
			}
			t.Run(rt.String()+"/"+c.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				// The token also rides in the query string: it must be ignored there.
				u := path + "?token=" + url.QueryEscape(relAdminToken) + "&access_token=" + url.QueryEscape(relDoorToken)
				h := map[string]string{api.SessionHeader: "0123456789abcdef"}
				if c.header != "" {
					h["Authorization"] = c.header
				}
				resp, err := anon.Send(ctx, rt.Method, u, b.ct, b.body, h)
				if err != nil {
					t.Fatal(err)
				}
				var answer api.Error
				_ = json.NewDecoder(resp.Body).Decode(&answer)
				resp.Body.Close()
				calls++
				if resp.StatusCode != c.want {
					t.Fatalf("%s %s with %s = %d, want %d", rt.Method, path, c.name, resp.StatusCode, c.want)
				}
				switch {
				case c.want == http.StatusUnauthorized && (answer.Error != api.CodeUnauthorized || resp.Header.Get("WWW-Authenticate") == ""):
					t.Fatalf("401 answer %+v, WWW-Authenticate %q", answer, resp.Header.Get("WWW-Authenticate"))
				case c.want == http.StatusForbidden && answer.Error != api.CodeForbidden:
					t.Fatalf("403 answer %+v", answer)
				}
			})
		}
	}
	// The public route needs no token.
	if code, _ := testkit.NewAPI(t, r.d.URL(""), "").Do(http.MethodGet, "/healthz", "", nil); code != http.StatusOK {
		t.Errorf("GET /healthz without a token = %d, want 200", code)
	}
	after := r.world()
	if after != before {
		t.Fatalf("unauthorized calls changed the daemon:\nbefore %+v\nafter  %+v", before, after)
	}
	if logs := r.d.Logs.String(); strings.Contains(logs, "wrong-token-0123456789abcdef") || strings.Contains(logs, relAdminToken) {
		t.Errorf("a token reached the log")
	}
	t.Logf("auth scan: %d unauthorized calls over %d routes, all refused, nothing changed", calls, len(transport.Routes())-1)
}

func containsRole(rs []transport.Role, r transport.Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// hostileValues are tried on every parameter.
var hostileValues = []struct{ name, v string }{
	{"traversal", "../../etc/passwd"},
	{"traversal deep", "../../../../../../../../tmp/doorface-pwned"},
	{"encoded traversal", "%2e%2e%2f%2e%2e%2fetc%2fpasswd"},
	{"double encoded", "%252e%252e%252fetc"},
	{"backslash traversal", `..\..\windows\win.ini`},
	{"absolute", "/etc/passwd"},
	{"NUL", "abc\x00def"},
	{"NUL traversal", "../\x00../etc/passwd"},
	{"newline", "abc\r\nX-Injected: 1"},
	{"shell", "$(touch /tmp/doorface-pwned)"},
	{"backticks", "`id`;rm -rf /"},
	{"sql", "' OR '1'='1' --"},
	{"10KB", strings.Repeat("A", 10<<10)},
	{"10KB digits", strings.Repeat("7", 10<<10)},
	{"unicode dots", "\u2024\u2024\u2215etc"},
}

// TestHostileParametersRealDaemon tries every hostile value on every path parameter, query
// parameter, X-Door-Session and JSON field, as raw requests, and checks 4xx, no file created,
// nothing changed, and the daemon healthy.
func TestHostileParametersRealDaemon(t *testing.T) {
	t.Parallel() // functional: no timing or memory claim, its own daemon and data
	r := newRelRig(t)
	uid := r.createUser("Target", "97531")
	before := r.world()
	admin := map[string]string{"Authorization": "Bearer " + relAdminToken}
	door := map[string]string{"Authorization": "Bearer " + relDoorToken}
	with := func(h map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	type probe struct {
		name   string
		method string
		target func(v string) string
		header func(v string) map[string]string
		body   func(v string) []byte
	}
	esc := url.PathEscape
	q := url.QueryEscape
	jsonCT := func(h map[string]string) map[string]string { return with(h, "Content-Type", "application/json") }
	tiny := testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/sheldon4.png"), 320, 180, 90)
	probes := []probe{
		// Path parameters, escaped (reach the handler) and raw (as an attacker types them).
		{"GET user", "GET", func(v string) string { return "/v1/users/" + esc(v) }, func(string) map[string]string { return admin }, nil},
		{"GET user raw", "GET", func(v string) string { return "/v1/users/" + v }, func(string) map[string]string { return admin }, nil},
		{"DELETE user", "DELETE", func(v string) string { return "/v1/users/" + esc(v) }, func(string) map[string]string { return admin }, nil},
		{"PUT pin", "PUT", func(v string) string { return "/v1/users/" + esc(v) + "/pin" }, func(string) map[string]string { return jsonCT(admin) },
			func(string) []byte { return mustJSON(map[string]string{"pin": "86420"}) }},
		{"POST faces", "POST", func(v string) string { return "/v1/users/" + esc(v) + "/faces" }, func(string) map[string]string { return with(admin, "Content-Type", "image/jpeg") },
			func(string) []byte { return tiny }},
		{"GET attempt", "GET", func(v string) string { return "/v1/audit/" + esc(v) }, func(string) map[string]string { return admin }, nil},
		{"GET attempt raw", "GET", func(v string) string { return "/v1/audit/" + v }, func(string) map[string]string { return admin }, nil},
		{"GET evidence", "GET", func(v string) string { return "/v1/audit/" + esc(v) + "/frame" }, func(string) map[string]string { return admin }, nil},
		// Query parameters.
		{"audit user", "GET", func(v string) string { return "/v1/audit?user=" + q(v) }, func(string) map[string]string { return admin }, nil},
		{"audit outcome", "GET", func(v string) string { return "/v1/audit?outcome=" + q(v) }, func(string) map[string]string { return admin }, nil},
		{"audit since", "GET", func(v string) string { return "/v1/audit?since=" + q(v) }, func(string) map[string]string { return admin }, nil},
		{"audit until", "GET", func(v string) string { return "/v1/audit?until=" + q(v) }, func(string) map[string]string { return admin }, nil},
		{"audit format", "GET", func(v string) string { return "/v1/audit?format=" + q(v) }, func(string) map[string]string { return admin }, nil},
		{"cancel session query", "DELETE", func(v string) string { return "/v1/session?session=" + q(v) }, func(string) map[string]string { return door }, nil},
		// X-Door-Session.
		{"frame session header", "POST", func(string) string { return "/v1/frames" }, func(v string) map[string]string {
			return with(door, "Content-Type", "image/jpeg", "X-Door-Session", v)
		}, func(string) []byte { return tiny }},
		{"image session header", "POST", func(string) string { return "/image" }, func(v string) map[string]string {
			return with(door, "Content-Type", "text/plain", "X-Door-Session", v)
		}, func(string) []byte { return []byte(base64.StdEncoding.EncodeToString(tiny)) }},
		{"save session header", "POST", func(string) string { return "/save" }, func(v string) map[string]string {
			return with(door, "Content-Type", "text/plain", "X-Door-Session", v)
		}, func(string) []byte { return []byte(base64.StdEncoding.EncodeToString(tiny)) }},
		{"cancel session header", "DELETE", func(string) string { return "/v1/session" }, func(v string) map[string]string {
			return with(door, "X-Door-Session", v)
		}, nil},
		// JSON fields.
		{"pin session", "POST", func(string) string { return "/v1/pin" }, func(string) map[string]string { return jsonCT(door) },
			func(v string) []byte { return mustJSON(map[string]string{"session": v, "pin": "97531"}) }},
		{"pin pin", "POST", func(string) string { return "/v1/pin" }, func(string) map[string]string { return jsonCT(door) },
			func(v string) []byte { return mustJSON(map[string]string{"session": "0123456789abcdef", "pin": v}) }},
		{"user name", "POST", func(string) string { return "/v1/users" }, func(string) map[string]string { return jsonCT(admin) },
			func(v string) []byte { return mustJSON(map[string]string{"name": v}) }},
		{"user pin", "POST", func(string) string { return "/v1/users" }, func(string) map[string]string { return jsonCT(admin) },
			func(v string) []byte { return mustJSON(map[string]string{"name": "Eve", "pin": v}) }},
		{"set pin", "PUT", func(string) string { return "/v1/users/" + uid + "/pin" }, func(string) map[string]string { return jsonCT(admin) },
			func(v string) []byte { return mustJSON(map[string]string{"pin": v}) }},
	}
	tried := 0
	for _, p := range probes {
		for _, hv := range hostileValues {
			t.Run(p.name+"/"+hv.name, func(t *testing.T) {
				target := p.target(hv.v)
				if strings.ContainsAny(target, " \x00\r\n") {
					// Not even a valid request line: the server must still refuse it.
					target = strings.NewReplacer(" ", "%20").Replace(target)
				}
				h := p.header(hv.v)
				var body []byte
				if p.body != nil {
					body = p.body(hv.v)
				}
				code := rawRequest(t, r.d.Addr, p.method, target, h, body)
				tried++
				switch {
				case code >= 400 && code < 500:
				case code == http.StatusTemporaryRedirect && (strings.Contains(target, "..") || strings.Contains(target, "//")):
					// A raw traversal in the path is cleaned by the router and redirected to
					// the cleaned API path, before any handler or token check: nothing read.
				case code == http.StatusCreated && p.name == "user name":
					// A name is display text, never a path, file name or command: one without
					// control characters and at most 128 bytes is kept verbatim. Check that,
					// then remove the user so the world is unchanged.
					checkVerbatimName(t, r, hv.v)
				default:
					t.Fatalf("%s %q = %d, want 4xx", p.method, truncate(target), code)
				}
			})
		}
	}
	after := r.world()
	if after != before {
		t.Fatalf("hostile parameters changed the daemon:\nbefore %+v\nafter  %+v", before, after)
	}
	if _, err := http.Get(r.d.URL("/healthz")); err != nil {
		t.Fatalf("daemon unhealthy after the hostile inputs: %v", err)
	}
	for _, p := range []string{"/tmp/doorface-pwned", "/etc/doorface-pwned"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists", p)
		}
	}
	t.Logf("hostile parameters: %d requests (%d values x %d parameters), refused (4xx, or a router redirect for raw dot segments; names kept verbatim as text), nothing changed", tried, len(hostileValues), len(probes))
}

// checkVerbatimName finds the user just created with name v, checks the name came back byte for
// byte, and deletes the user.
func checkVerbatimName(t *testing.T, r *relRig, v string) {
	t.Helper()
	var list struct{ Users []struct{ ID, Name string } }
	r.admin.JSON(http.MethodGet, "/v1/users", nil, http.StatusOK, &list)
	for _, u := range list.Users {
		if u.Name == v {
			if code, b := r.admin.Do(http.MethodDelete, "/v1/users/"+u.ID, "", nil); code != http.StatusNoContent {
				t.Fatalf("delete %s: %d %s", u.ID, code, b)
			}
			return
		}
	}
	t.Fatalf("name %q was accepted but not stored verbatim: %+v", v, list.Users)
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
