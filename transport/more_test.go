package transport

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/doorface/doorface/machine"
)

// TestCompatPrototypeApp plays the prototype app: base64 frames to /image until PinFallback,
// /save of a frame, wrong PINs. The attempt's evidence is the frame the session analysed, never
// the body /save sends (issue 15, evidence forgery).
func TestCompatPrototypeApp(t *testing.T) {
	e := newEnv(t, nil)
	post := func(path string, body []byte) resp {
		return e.do(req{method: "POST", path: path, token: doorToken, ct: "text/plain",
			body: []byte(base64.StdEncoding.EncodeToString(body))})
	}
	r := post("/image", jpg(t, wStranger))
	fr, _ := r.js["frame"].(map[string]any)
	if r.code != 200 || r.str("state") != "Recognizing" || fr["quality"] != "ok" || fr["match"] != nil || r.js["decision"] != nil {
		t.Fatalf("first /image: %d %s", r.code, r.raw)
	}
	session := r.str("session")
	if r = post("/image", jpg(t, wStranger)); r.str("session") != session || r.str("state") != "Recognizing" {
		t.Fatalf("second /image joined another session: %s", r.raw)
	}
	e.clk.Advance(machine.DefaultConfig().RecognizeTimeout)
	saved := jpg(t, wNoFace+100)
	if r = post("/save", saved); r.code != 200 || r.js["saved"] != true || r.str("session") != session {
		t.Fatalf("/save: %d %s", r.code, r.raw)
	}
	for i := range 3 {
		if r = e.pin(session, "99999"); r.str("outcome") != "denied" {
			t.Fatalf("wrong PIN %d: %s", i, r.raw)
		}
	}
	if st := e.m.Snapshot(); st.State != machine.Idle {
		t.Fatalf("after 3 wrong PINs: %s", st.State)
	}
	r = e.do(req{method: "GET", path: "/v1/audit/" + session + "/frame", token: adminToken})
	if r.code != 200 || bytes.Equal(r.raw, saved) || !bytes.Equal(r.raw, jpg(t, wStranger)) {
		t.Fatalf("evidence frame: %d, %d bytes, equal to /save body: %v, to the analysed frame: %v",
			r.code, len(r.raw), bytes.Equal(r.raw, saved), bytes.Equal(r.raw, jpg(t, wStranger)))
	}
	if open, opens := e.lock.state(); open || opens != 0 {
		t.Fatal("the door opened in a denied session")
	}
}

// TestFrameQueueBounded: with QueueSize 1 and a frame in analysis, the next frame gets 429 with
// Retry-After and nothing else changes; the first still completes.
func TestFrameQueueBounded(t *testing.T) {
	e := newEnv(t, func(_ *machine.Config, o *Options) { o.QueueSize = 1 })
	e.frames.gate, e.frames.entered = make(chan struct{}), make(chan struct{}, 1)
	var wg sync.WaitGroup
	var first resp
	wg.Add(1)
	go func() {
		defer wg.Done()
		first = e.frame(wAlice, "")
	}()
	<-e.frames.entered
	if d := gauge(t, e, "doorface_frame_queue_depth"); d != 1 {
		t.Fatalf("queue depth %v", d)
	}
	r := e.frame(wAlice, "")
	if r.code != 429 || r.str("error") != "queue_full" || r.hdr.Get("Retry-After") != "1" {
		t.Fatalf("second frame: %d %s Retry-After %q", r.code, r.raw, r.hdr.Get("Retry-After"))
	}
	e.frames.gate <- struct{}{}
	wg.Wait()
	if first.code != 200 || first.str("state") != "Recognizing" {
		t.Fatalf("first frame: %d %s", first.code, first.raw)
	}
	if d := gauge(t, e, "doorface_frame_queue_depth"); d != 0 {
		t.Fatalf("queue depth %v after all frames", d)
	}
}

// TestAnalysisCancelledAbandonsTicket: a client that leaves while its frame is analysed leaves
// nothing counted in the machine.
func TestAnalysisCancelledAbandonsTicket(t *testing.T) {
	e := newEnv(t, nil)
	e.frames.gate, e.frames.entered = make(chan struct{}), make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	hr, _ := http.NewRequestWithContext(ctx, "POST", e.hs.URL+"/v1/frames", bytes.NewReader(jpg(t, wAlice)))
	hr.Header.Set("Authorization", "Bearer "+doorToken)
	hr.Header.Set("Content-Type", "image/jpeg")
	done := make(chan error, 1)
	go func() {
		res, err := e.hs.Client().Do(hr)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	<-e.frames.entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client err %v", err)
	}
	// The frame was admitted (Receiving) but never counted: the next frame is seq 2 of the same
	// session and the first usable one.
	deadline := time.Now().Add(5 * time.Second)
	for gauge(t, e, "doorface_frame_queue_depth") != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(e.frames.gate)
	r := e.frame(wAlice, "")
	if fr, _ := r.js["frame"].(map[string]any); r.str("state") != "Recognizing" || fr["seq"] != 2.0 || r.js["decision"] != nil {
		t.Fatalf("after a cancelled analysis: %s", r.raw)
	}
}

// TestStopFramesAndServe: StopFrames answers frames 503 shutting_down while the rest works;
// Serve ends event streams and returns promptly when its context ends.
func TestStopFramesAndServe(t *testing.T) {
	e := newEnv(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln) }()
	e.hs.URL = "http://" + ln.Addr().String() // talk to Serve's listener from now on
	events := e.openEvents(context.Background())

	e.srv.StopFrames()
	if r := e.frame(wAlice, ""); r.code != 503 || r.str("error") != "shutting_down" {
		t.Fatalf("frame after StopFrames: %d %s", r.code, r.raw)
	}
	if r := e.do(req{method: "GET", path: "/v1/state", token: doorToken}); r.code != 200 {
		t.Fatalf("state after StopFrames: %d", r.code)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	for ev := range events {
		if ev.name != ":" {
			t.Fatalf("event after shutdown: %v", ev)
		}
	}
	if d := time.Since(start); d > DefaultShutdownTimeout {
		t.Fatalf("shutdown took %s", d)
	}
	t.Logf("shutdown with an open event stream took %s", time.Since(start))
}

// TestNewRejectsBadOptions covers New's validation.
func TestNewRejectsBadOptions(t *testing.T) {
	e := newEnv(t, nil)
	good := Options{Door: e.m, Frames: e.frames, Users: fakeUsers{e.db, e.frames}, Audit: fakeAudit{e.db},
		Tokens: Tokens{Door: doorToken, Admin: adminToken}}
	cases := []struct {
		name string
		mod  func(o *Options)
		want error
	}{
		{"no door", func(o *Options) { o.Door = nil }, ErrMissingDependency},
		{"no frames", func(o *Options) { o.Frames = nil }, ErrMissingDependency},
		{"no users", func(o *Options) { o.Users = nil }, ErrMissingDependency},
		{"no audit", func(o *Options) { o.Audit = nil }, ErrMissingDependency},
		{"equal tokens", func(o *Options) { o.Tokens.Admin = o.Tokens.Door }, ErrBadTokens},
		{"empty token", func(o *Options) { o.Tokens.Door = "" }, ErrBadTokens},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := good
			c.mod(&o)
			if _, err := New(o); !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
	t.Run("shared registry refused", func(t *testing.T) {
		o := good
		o.Registry = e.reg
		if _, err := New(o); err == nil {
			t.Fatal("second server on the same registry accepted")
		}
	})
}

// TestOpenAPIDocumentsEveryRoute parses openapi.yaml and checks that every route of the table is
// documented with its method and that nothing undocumented-in-the-router is described.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	seen := map[string]bool{}
	for _, rt := range Routes() {
		t.Run(rt.String(), func(t *testing.T) {
			op, ok := doc.Paths[rt.Pattern][strings.ToLower(rt.Method)].(map[string]any)
			if !ok {
				t.Fatalf("not documented")
			}
			responses, _ := op["responses"].(map[string]any)
			if len(responses) == 0 {
				t.Fatal("no responses documented")
			}
			if rt.Role != RolePublic && responses["401"] == nil {
				t.Fatal("401 not documented for a route that needs a token")
			}
			if sec, ok := op["security"].([]any); rt.Role == RolePublic && (!ok || len(sec) != 0) {
				t.Fatal("public route not marked security: []")
			}
		})
		seen[strings.ToLower(rt.Method)+" "+rt.Pattern] = true
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			if !seen[method+" "+path] {
				t.Errorf("documented %s %s is not in the router", method, path)
			}
		}
	}
	// The file in the repository is the embedded one.
	onDisk, err := os.ReadFile(filepath.Join(".", "openapi.yaml"))
	if err != nil || !bytes.Equal(onDisk, OpenAPI()) {
		t.Fatalf("openapi.yaml differs from the embedded document: %v", err)
	}
}

// TestRealPhotos posts real photos of ../shared/faces (read in place) through the frame,
// compatibility and enrollment paths.
func TestRealPhotos(t *testing.T) {
	e := newEnv(t, nil)
	dir := filepath.Join("..", "..", "shared", "faces", "enroll-test")
	jpegPhoto, err := os.ReadFile(filepath.Join(dir, "bona.jpg"))
	if err != nil {
		t.Fatalf("real photos are required: %v", err)
	}
	pngPhoto, err := os.ReadFile(filepath.Join(dir, "howard1.png"))
	if err != nil {
		t.Fatalf("real photos are required: %v", err)
	}
	r := e.do(req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/jpeg", body: jpegPhoto})
	if r.code != 200 || r.str("session") == "" {
		t.Fatalf("real JPEG frame: %d %s", r.code, r.raw)
	}
	r = e.do(req{method: "POST", path: "/image", token: doorToken, body: []byte(base64.StdEncoding.EncodeToString(pngPhoto))})
	if r.code != 200 || r.str("session") == "" {
		t.Fatalf("real PNG via /image: %d %s", r.code, r.raw)
	}
	r = e.do(req{method: "POST", path: "/v1/users/" + e.alice.ID + "/faces", token: adminToken, ct: "image/jpeg", body: jpegPhoto})
	if r.code != 201 || r.str("template") == "" {
		t.Fatalf("real JPEG enrollment: %d %s", r.code, r.raw)
	}
}
