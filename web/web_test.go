package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/transport/api"
)

var (
	epoch  = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	tokens = transport.Tokens{Door: "door-token-unit-0123456789", Admin: "admin-token-unit-0123456789"}
)

func newHandler(t *testing.T, tls bool) (*Handler, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(epoch)
	h, err := New(Options{Tokens: tokens, TLS: tls, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return h, clk
}

// call runs one handler on a request and returns the recorder and the status the error (if any)
// would answer with.
func call(f func(http.ResponseWriter, *http.Request) error, r *http.Request) (*httptest.ResponseRecorder, int, string) {
	w := httptest.NewRecorder()
	err := f(w, r)
	if err == nil {
		return w, w.Code, ""
	}
	var he *transport.HTTPError
	if !errors.As(err, &he) {
		return w, 500, err.Error()
	}
	return w, he.Status, he.Code
}

func jsonReq(method, target, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// login signs in and returns the cookie and the CSRF token.
func login(t *testing.T, h *Handler) (*http.Cookie, string) {
	t.Helper()
	w, code, ecode := call(h.Login, jsonReq("POST", "/v1/login", `{"token":"`+tokens.Admin+`"}`))
	if code != 200 {
		t.Fatalf("login: %d %s", code, ecode)
	}
	var s api.WebSession
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	return w.Result().Cookies()[0], s.CSRF
}

func TestLoginCookie(t *testing.T) {
	for _, tls := range []bool{false, true} {
		h, _ := newHandler(t, tls)
		c, csrf := login(t, h)
		if c.Name != CookieName || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != tls {
			t.Errorf("tls=%v: cookie %+v", tls, c)
		}
		if c.MaxAge != int(AdminSessionTTL.Seconds()) || csrf == "" || strings.Contains(c.Value, tokens.Admin) {
			t.Errorf("tls=%v: max-age %d, csrf %q, value %q", tls, c.MaxAge, csrf, c.Value)
		}
	}
}

func TestLoginAndPairRefusals(t *testing.T) {
	h, _ := newHandler(t, false)
	cases := []struct {
		name   string
		f      func(http.ResponseWriter, *http.Request) error
		body   string
		ct     string
		origin string
		want   int
		code   string
	}{
		{"login wrong token", h.Login, `{"token":"nope"}`, "application/json", "", 401, api.CodeBadCredentials},
		{"login door token", h.Login, `{"token":"` + tokens.Door + `"}`, "application/json", "", 401, api.CodeBadCredentials},
		{"login form body", h.Login, `token=x`, "application/x-www-form-urlencoded", "", 415, api.CodeUnsupportedMediaType},
		{"login bad json", h.Login, `{`, "application/json", "", 400, api.CodeBadJSON},
		{"login from another site", h.Login, `{"token":"` + tokens.Admin + `"}`, "application/json", "http://evil.example", 403, api.CodeCSRF},
		{"pair unknown code", h.Pair, `{"code":"12345678"}`, "application/json", "", 401, api.CodeBadCredentials},
		{"pair admin token", h.Pair, `{"token":"` + tokens.Admin + `"}`, "application/json", "", 401, api.CodeBadCredentials},
		{"pair empty", h.Pair, `{}`, "application/json", "", 401, api.CodeBadCredentials},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.failures = nil // each case starts below the limit
			r := httptest.NewRequest("POST", "http://door.local/v1/x", strings.NewReader(c.body))
			r.Header.Set("Content-Type", c.ct)
			if c.origin != "" {
				r.Header.Set("Origin", c.origin)
			}
			w, code, ecode := call(c.f, r)
			if code != c.want || ecode != c.code {
				t.Fatalf("%d %s, want %d %s", code, ecode, c.want, c.code)
			}
			if len(w.Result().Cookies()) != 0 {
				t.Fatal("a refused sign-in set a cookie")
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	h, clk := newHandler(t, false)
	c, csrf := login(t, h)
	other, _ := New(Options{Tokens: transport.Tokens{Door: tokens.Door, Admin: "another-admin-token-0123"}, Clock: clk})
	forged := *c
	forged.Value = strings.Replace(c.Value, ".", "x.", 1)
	cases := []struct {
		name, method, csrf, origin, site string
		cookie                           *http.Cookie
		h                                *Handler
		advance                          time.Duration
		want                             transport.Role
		err                              bool
	}{
		{name: "no cookie", method: "GET"},
		{name: "GET needs no CSRF", method: "GET", cookie: c, want: transport.RoleAdmin},
		{name: "POST with CSRF", method: "POST", cookie: c, csrf: csrf, want: transport.RoleAdmin},
		{name: "POST same origin", method: "POST", cookie: c, csrf: csrf, origin: "http://door.local", site: "same-origin", want: transport.RoleAdmin},
		{name: "POST without CSRF", method: "POST", cookie: c, err: true},
		{name: "DELETE wrong CSRF", method: "DELETE", cookie: c, csrf: csrf + "x", err: true},
		{name: "POST from another origin", method: "POST", cookie: c, csrf: csrf, origin: "http://evil.example", err: true},
		{name: "POST cross-site fetch", method: "POST", cookie: c, csrf: csrf, site: "cross-site", err: true},
		{name: "forged cookie", method: "GET", cookie: &forged},
		{name: "tokens changed", method: "GET", cookie: c, h: other},
		{name: "expired", method: "GET", cookie: c, advance: AdminSessionTTL},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hh := h
			if tc.h != nil {
				hh = tc.h
			}
			clk.Set(epoch.Add(tc.advance))
			r := httptest.NewRequest(tc.method, "http://door.local/v1/users", nil)
			if tc.cookie != nil {
				r.AddCookie(tc.cookie)
			}
			if tc.csrf != "" {
				r.Header.Set(transport.CSRFHeader, tc.csrf)
			}
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.site != "" {
				r.Header.Set("Sec-Fetch-Site", tc.site)
			}
			role, err := hh.Authenticate(r)
			var he *transport.HTTPError
			if tc.err != (err != nil) || (err != nil && (!errors.As(err, &he) || he.Code != api.CodeCSRF || he.Status != 403)) {
				t.Fatalf("err %v, want error %v (403 csrf)", err, tc.err)
			}
			if role != tc.want {
				t.Fatalf("role %q, want %q", role, tc.want)
			}
		})
	}
}

func TestPairingCodes(t *testing.T) {
	h, clk := newHandler(t, false)
	newCode := func() string {
		w, code, _ := call(h.NewPairing, httptest.NewRequest("POST", "/v1/pairing", nil))
		var p api.Pairing
		if err := json.Unmarshal(w.Body.Bytes(), &p); code != 201 || err != nil || len(p.Code) != pairingDigits {
			t.Fatalf("new pairing: %d %v %+v", code, err, p)
		}
		return p.Code
	}
	pair := func(body string) (int, string, []*http.Cookie) {
		w, code, ecode := call(h.Pair, jsonReq("POST", "/v1/pair", body))
		return code, ecode, w.Result().Cookies()
	}

	code := newCode()
	if st, _, cookies := pair(`{"code":"` + code + `"}`); st != 200 || len(cookies) != 1 || cookies[0].MaxAge != int(DoorSessionTTL.Seconds()) {
		t.Fatalf("pair with a fresh code: %d %v", st, cookies)
	}
	if st, ec, _ := pair(`{"code":"` + code + `"}`); st != 401 || ec != api.CodeBadCredentials {
		t.Fatalf("the code worked twice: %d %s", st, ec)
	}
	old := newCode()
	clk.Advance(pairingTTL)
	if st, _, _ := pair(`{"code":"` + old + `"}`); st != 401 {
		t.Fatalf("expired code paired: %d", st)
	}
	if st, _, _ := pair(`{"token":"` + tokens.Door + `"}`); st != 200 {
		t.Fatalf("door token: %d", st)
	}

	// Five failures in a minute: refused for the rest of the minute, outstanding codes burnt.
	h.failures = nil
	live := newCode()
	for i := range maxFailures {
		if st, _, _ := pair(`{"code":"0000000` + string(rune('0'+i)) + `"}`); st != 401 {
			t.Fatalf("wrong code %d: %d", i, st)
		}
	}
	if st, ec, _ := pair(`{"code":"` + live + `"}`); st != 429 || ec != api.CodeTooManyAttempts {
		t.Fatalf("after %d failures: %d %s, want 429", maxFailures, st, ec)
	}
	if _, st, ec := call(h.Login, jsonReq("POST", "/v1/login", `{"token":"`+tokens.Admin+`"}`)); st != 429 || ec != api.CodeTooManyAttempts {
		t.Fatalf("login while limited: %d %s", st, ec)
	}
	clk.Advance(failureWindow)
	if st, _, _ := pair(`{"code":"` + live + `"}`); st != 401 {
		t.Fatalf("a code outstanding at the limit still pairs: %d", st)
	}
	if st, _, _ := pair(`{"code":"` + newCode() + `"}`); st != 200 {
		t.Fatalf("after the minute a new code pairs: %d", st)
	}

	// At most maxPairings codes are outstanding; the oldest goes first.
	h.failures = nil
	var codes []string
	for range maxPairings + 1 {
		codes = append(codes, newCode())
		clk.Advance(time.Second)
	}
	if st, _, _ := pair(`{"code":"` + codes[0] + `"}`); st != 401 {
		t.Fatalf("the oldest of %d codes still pairs: %d", maxPairings+1, st)
	}
	if st, _, _ := pair(`{"code":"` + codes[maxPairings] + `"}`); st != 200 {
		t.Fatalf("the newest code: %d", st)
	}
}

func TestPages(t *testing.T) {
	h, _ := newHandler(t, false)
	admin, _ := login(t, h)
	w, _, _ := call(h.Pair, jsonReq("POST", "/v1/pair", `{"token":"`+tokens.Door+`"}`))
	door := w.Result().Cookies()[0]
	cases := []struct {
		name, path string
		cookie     *http.Cookie
		want       int
		has, not   string
	}{
		{"door page unpaired", "/door", nil, 200, `id="pairform"`, `id="cam"`},
		{"door page paired", "/door", door, 200, `id="cam"`, `content=""`},
		{"door page with an admin session", "/door", admin, 200, `id="pairform"`, `id="cam"`},
		{"admin page signed out", "/admin", nil, 200, `id="loginform"`, `id="users"`},
		{"admin page signed in", "/admin", admin, 200, `id="users"`, `content=""`},
		{"admin page with a door session", "/admin", door, 200, `id="loginform"`, `id="users"`},
		{"script", "/assets/door.js", nil, 200, "getUserMedia", ""},
		{"template is not an asset", "/assets/door.html", nil, 404, "", ""},
		{"unknown asset", "/assets/nope.js", nil, 404, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", c.path, nil)
			if name, ok := strings.CutPrefix(c.path, "/assets/"); ok {
				r.SetPathValue("name", name)
			}
			if c.cookie != nil {
				r.AddCookie(c.cookie)
			}
			w, code, _ := call(h.Page, r)
			body := w.Body.String()
			if code != c.want || !strings.Contains(body, c.has) || (c.not != "" && strings.Contains(body, c.not)) {
				t.Fatalf("%d, want %d with %q and without %q:\n%.300s", code, c.want, c.has, c.not, body)
			}
			if csp := w.Header().Get("Content-Security-Policy"); code == 200 && !strings.Contains(csp, "script-src 'self'") {
				t.Fatalf("CSP %q", csp)
			}
		})
	}
}

// TestPageWeight keeps every script and style of the pages under the 100 KB budget, and checks
// they load nothing from another host.
func TestPageWeight(t *testing.T) {
	total := 0
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets, p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "//cdn") || strings.Contains(string(b), "https://") {
			t.Errorf("%s refers to another host", p)
		}
		if ext := path.Ext(p); ext == ".js" || ext == ".css" {
			total += len(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scripts and styles: %d bytes", total)
	if total == 0 || total > 100_000 {
		t.Fatalf("scripts and styles weigh %d bytes; the budget is 100 KB", total)
	}
}

func TestHealth(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "doorface.local"},
		NotBefore: epoch, NotAfter: epoch.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.dat"), []byte("model"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Tokens: tokens, CertFile: cert, ModelsDir: dir, DBFile: cert,
		Health: api.Health{Version: "v1", DataDir: dir, Models: []api.Model{{Name: "a.dat"}, {Name: "missing.dat"}}}})
	if err != nil {
		t.Fatal(err)
	}
	w, code, _ := call(h.Health, httptest.NewRequest("GET", "/v1/health", nil))
	var got api.Health
	if err := json.Unmarshal(w.Body.Bytes(), &got); code != 200 || err != nil {
		t.Fatalf("%d %v", code, err)
	}
	sum := sha256.Sum256(der)
	want := strings.ToUpper(hex.EncodeToString(sum[:2])) // first two bytes, "AB:CD:..."
	if !got.TLS || !strings.HasPrefix(got.CertFingerprint, want[:2]+":"+want[2:4]+":") || len(got.CertFingerprint) != 32*3-1 {
		t.Errorf("fingerprint %q, want it to start %s", got.CertFingerprint, want)
	}
	m := sha256.Sum256([]byte("model"))
	if len(got.Models) != 2 || got.Models[0].Bytes != 5 || got.Models[0].SHA256 != hex.EncodeToString(m[:]) || got.Models[1].SHA256 != "" {
		t.Errorf("models %+v", got.Models)
	}
	if got.DiskTotalBytes <= 0 || got.DiskFreeBytes <= 0 || got.DatabaseBytes <= 0 || got.Version != "v1" {
		t.Errorf("health %+v", got)
	}
}

func TestNewRefusesBadTokens(t *testing.T) {
	for _, tk := range []transport.Tokens{{}, {Door: tokens.Door, Admin: tokens.Door}, {Door: "short", Admin: tokens.Admin}} {
		if _, err := New(Options{Tokens: tk}); !errors.Is(err, transport.ErrBadTokens) {
			t.Errorf("tokens %+v: %v", tk, err)
		}
	}
}
