package web_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/doorface/doorface/internal/testkit"
	"github.com/doorface/doorface/transport/api"
)

// Tokens of the browser tests' daemon.
const (
	doorToken  = "door-token-web-0123456789abcdef"
	adminToken = "admin-token-web-0123456789abcdef"
)

// screensDir is where the tests write a screenshot of every page state (git-ignored).
var screensDir = filepath.Join("testdata", "screens")

// chromium returns the path of Debian's chromium; missing, it fails the test in CI and skips it
// elsewhere (scripts/deps.sh installs it).
func chromium(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" {
			t.Fatalf("chromium not installed (scripts/deps.sh installs it): %v", err)
		}
		t.Skipf("chromium not installed (run scripts/deps.sh): %v", err)
	}
	return p
}

// browser is one headless Chromium with its own profile; camera, when set, is the Y4M file its
// fake capture device plays.
type browser struct {
	t    *testing.T
	name string
	ctx  context.Context
	stop func()
}

// newBrowser starts Chromium. Its JavaScript exceptions and console errors go to the test log.
func newBrowser(t *testing.T, name, camera string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Headless,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 640),
	}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	if camera != "" {
		opts = append(opts,
			chromedp.Flag("use-fake-ui-for-media-stream", true),
			chromedp.Flag("use-fake-device-for-media-stream", true),
			chromedp.Flag("use-file-for-fake-video-capture", camera))
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, name: name, ctx: ctx}
	b.stop = func() { cancel(); acancel() }
	t.Cleanup(b.stop)
	// The first Run starts the browser; it must not carry a timeout (that would end the browser),
	// so it is bounded by a watchdog instead.
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx, chromedp.Navigate("about:blank")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: start chromium: %v", name, err)
		}
	case <-time.After(60 * time.Second):
		b.stop()
		t.Fatalf("%s: chromium did not start within 60s", name)
	}
	go chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			desc := ""
			if e.ExceptionDetails.Exception != nil {
				desc = e.ExceptionDetails.Exception.Description
			}
			t.Logf("%s: JS exception: %s %s (%s:%d)", name, e.ExceptionDetails.Text, desc, e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber)
		case *runtime.EventConsoleAPICalled:
			if e.Type == "error" || e.Type == "warning" {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				t.Logf("%s: console.%s: %s", name, e.Type, strings.Join(parts, " "))
			}
		}
	})
	return b
}

// do runs steps within timeout.
func (b *browser) do(timeout time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

// eval evaluates a JavaScript expression (promises awaited) within 10 s.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: eval %s: %v", b.name, expr, err)
	}
	return v
}

// waitJS waits up to timeout for a JavaScript expression to be truthy; the failure shows what
// the page said then.
func (b *browser) waitJS(timeout time.Duration, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		page := eval[string](b, `document.body.dataset.view + ' | ' + document.body.innerText.slice(0, 200) + ' | frames: ' + JSON.stringify(window.__answers || [])`)
		b.shot("failed-" + b.name)
		b.t.Fatalf("%s: waiting for %s: %v\npage: %s", b.name, expr, err, page)
	}
}

// text is the visible text of the element with that id.
func (b *browser) text(id string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`document.getElementById(%q).textContent`, id))
}

// shot writes a screenshot of the viewport to testdata/screens/<name>.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("%s: screenshot %s: %v", b.name, name, err)
	}
	if err := os.MkdirAll(screensDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screensDir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// docShot writes a small JPEG of the viewport to testdata/screens/<name>.jpg: the candidates for
// the README's screenshots (docs/). The camera preview is blurred first: the test photos are of
// real people.
func (b *browser) docShot(name string) {
	b.t.Helper()
	// Through the CSSOM: the pages' Content-Security-Policy refuses an injected <style>.
	eval[bool](b, `new Promise(r => { document.querySelectorAll('#cam, img.thumb').forEach(e => e.style.filter = 'blur(14px)');
	  requestAnimationFrame(() => requestAnimationFrame(() => r(true))); })`)
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	q := int64(60)
	shot, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Format: page.CaptureScreenshotFormatJpeg, Quality: &q})
		if err != nil {
			return nil, err
		}
		return r.Data, nil
	})
	eval[bool](b, `(document.querySelectorAll('#cam, img.thumb').forEach(e => e.style.filter = ''), true)`)
	if err != nil {
		b.t.Fatalf("%s: screenshot %s: %v", b.name, name, err)
	}
	if err := os.WriteFile(filepath.Join(screensDir, name+".jpg"), shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// views records every view the door page shows (body data-view), for the test to read.
const recordViews = `(() => { window.__views = [document.body.dataset.view];
  new MutationObserver(() => { const v = document.body.dataset.view;
    if (window.__views[window.__views.length - 1] !== v) window.__views.push(v); })
  .observe(document.body, {attributes: true, attributeFilter: ['data-view']}); return true; })()`

// countFrames counts the page's POST /v1/frames calls in window.__frames and keeps the last
// answers (quality, match) in window.__answers.
const countFrames = `(() => { window.__frames = 0; window.__answers = []; const f = window.fetch;
  window.fetch = function (u) {
    if (String(u).indexOf('/v1/frames') < 0) return f.apply(this, arguments);
    window.__frames++;
    return f.apply(this, arguments).then(r => { r.clone().json().then(a => {
      window.__answers.push(a.frame ? a.state + ' ' + a.frame.quality + ' ' + JSON.stringify(a.frame.match) : JSON.stringify(a));
      window.__answers = window.__answers.slice(-12); }).catch(() => {}); return r; });
  };
  return true; })()`

// TestBrowserPages drives the real pages in headless Chromium against the real daemon: the
// admin signs in, creates a user and enrolls photos, pairs door tablets; an enrolled face at the
// door page is welcomed and the relay unlocks; a stranger gets the PIN keypad, a wrong then the
// right PIN; the audit shows the evidence thumbnail and verifies; a change without the CSRF token
// is refused; several faces are named as the reason; a stopped daemon shows "server unreachable" and the page recovers after a restart.
func TestBrowserPages(t *testing.T) {
	chromium(t)
	models := testkit.Models(t)
	faces := testkit.Faces(t)
	root := t.TempDir()
	data := filepath.Join(root, "data")
	env := testkit.Env("DOORFACE_DOOR_TOKEN="+doorToken, "DOORFACE_ADMIN_TOKEN="+adminToken,
		"DOORFACE_MACHINE_UNLOCK_DURATION=3s", "DOORFACE_MACHINE_COOLDOWN=1s", "DOORFACE_MACHINE_MAX_FRAMES=4",
		"DOORFACE_HTTP_HEARTBEAT=1s",
		// The camera here plays photos of photos, which liveness rightly refuses: this test is about
		// the pages (liveness has its own tests through the daemon, e2e/liveness_test.go).
		"DOORFACE_MACHINE_LIVENESS=off",
		// One clear frame would decide at once: the test wants to see the page's "recognizing"
		// view before the welcome, so the decision waits for 2 of 3 frames here.
		"DOORFACE_MACHINE_CLEAR_DISTANCE=0")
	args := testkit.Args("--data", data, "--models", models, "--hw", "sim")
	d := testkit.StartDaemon(t, env, args)
	base := d.URL("")
	adminAPI := testkit.NewAPI(t, base, adminToken)

	// The cameras: an enrolled person, a stranger, a group, an empty hallway.
	sheldonCam := filepath.Join(root, "sheldon.y4m")
	y4mFromJPEG(t, sheldonCam, testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/sheldon5.png"), 640, 480, 300))
	strangerCam := filepath.Join(root, "stranger.y4m")
	y4mFromJPEG(t, strangerCam, testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/joy.jpg"), 640, 480, 320))
	groupCam := filepath.Join(root, "group.y4m")
	y4mFromJPEG(t, groupCam, testkit.CameraFrame(t, testkit.Photo(t, "groups/bbt3.jpg"), 640, 480, 640))
	emptyCam := filepath.Join(root, "empty.y4m")
	y4mFromJPEG(t, emptyCam, testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/joy.jpg"), 640, 480, 4))

	// 1. Admin: sign in with the admin token.
	admin := newBrowser(t, "admin", "")
	admin.do(20*time.Second, "open admin page", chromedp.Navigate(base+"/admin"), chromedp.WaitVisible(chromedp.ID("token")))
	admin.shot("admin-signin")
	if got := eval[string](admin, `document.cookie`); got != "" {
		t.Fatalf("cookie visible to scripts before sign-in: %q", got)
	}
	admin.do(20*time.Second, "sign in", chromedp.SendKeys(chromedp.ID("token"), adminToken),
		chromedp.Click(chromedp.CSS("#loginform button")), chromedp.WaitVisible(chromedp.ID("users-sec")))
	if got := eval[string](admin, `document.cookie`); got != "" {
		t.Fatalf("the session cookie is readable by scripts (not HttpOnly): %q", got)
	}
	admin.waitJS(10*time.Second, `document.getElementById('link').dataset.link === 'connected'`)

	// 2. Create a user with a PIN and enroll three photos through the file input.
	admin.do(20*time.Second, "create user", chromedp.SendKeys(chromedp.ID("nu-name"), "Sheldon"),
		chromedp.SendKeys(chromedp.ID("nu-pin"), "31415"), chromedp.Click(chromedp.CSS("#newuser button")))
	admin.waitJS(10*time.Second, `[...document.querySelectorAll('#users tbody tr')].some(r => r.cells[0].textContent === 'Sheldon')`)
	uid := eval[string](admin, `[...document.querySelectorAll('#users tbody tr')].find(r => r.cells[0].textContent === 'Sheldon').dataset.user`)
	var photos []string
	for _, p := range []string{"sheldon1.png", "sheldon2.png", "sheldon3.png"} {
		photos = append(photos, filepath.Join(faces, "enroll-test", p))
	}
	admin.do(20*time.Second, "choose photos", chromedp.SetUploadFiles(chromedp.ID("photos-"+uid), photos))
	admin.waitJS(60*time.Second, `document.getElementById('msg').textContent.indexOf('3 photo(s) enrolled for Sheldon') >= 0`)
	admin.shot("admin-users")
	if u := unlabelled(admin); len(u) != 0 {
		t.Errorf("admin page controls without a label: %q", u)
	}

	// 3. CSRF: the same signed-in browser, without the token or from a page that lacks it, is refused
	// and nothing changes.
	usersBefore := len(listUsers(t, adminAPI))
	for _, c := range []struct{ name, headers string }{
		{"no token", `{'Content-Type': 'application/json'}`},
		{"wrong token", `{'Content-Type': 'application/json', 'X-Doorface-CSRF': 'forged'}`},
	} {
		got := eval[string](admin, `fetch('/v1/users', {method: 'POST', headers: `+c.headers+`, body: JSON.stringify({name: 'Mallory'})})
		  .then(r => r.json().then(j => r.status + ' ' + j.error))`)
		if got != "403 "+api.CodeCSRF {
			t.Errorf("CSRF %s: POST /v1/users answered %q, want 403 csrf", c.name, got)
		}
	}
	if n := len(listUsers(t, adminAPI)); n != usersBefore {
		t.Fatalf("users %d -> %d after refused changes", usersBefore, n)
	}
	if got := eval[int](admin, `fetch('/v1/users', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-Doorface-CSRF': document.querySelector('meta[name=doorface-csrf]').content}, body: JSON.stringify({name: 'Amy'})}).then(r => r.status)`); got != http.StatusCreated {
		t.Fatalf("POST /v1/users with the page's CSRF token = %d, want 201", got)
	}

	// 4. Pair a door tablet with a code from the admin page; the enrolled face is welcomed.
	code := pairingCode(t, admin)
	door := newBrowser(t, "door", sheldonCam)
	door.do(20*time.Second, "open door page", chromedp.Navigate(base+"/door"), chromedp.WaitVisible(chromedp.ID("code")))
	door.shot("door-pairing")
	door.do(20*time.Second, "pair", chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Click(chromedp.CSS("#pairform button")),
		chromedp.WaitVisible(chromedp.ID("headline")))
	if strings.Contains(eval[string](door, `location.href`), code) {
		t.Fatal("the pairing code is in the URL")
	}
	eval[bool](door, recordViews)
	eval[bool](door, countFrames)
	door.waitJS(45*time.Second, `document.body.dataset.view === 'welcome'`)
	door.shot("door-welcome")
	door.docShot("docs-door")
	if h := door.text("headline"); h != "Welcome, Sheldon" {
		t.Errorf("welcome headline = %q", h)
	}
	d.WaitLog(t, 5*time.Second, "relay unlocked")
	if views := eval[[]string](door, `window.__views`); !contains(views, "recognizing") && !contains(views, "quality") {
		t.Errorf("views before the welcome = %v, want recognizing first", views)
	}
	// The admin page shows the decision live, with its record (distance, margin).
	admin.waitJS(15*time.Second, `document.querySelector('#decisions tr[data-outcome=granted]') !== null`)
	row := eval[[]string](admin, `[...document.querySelector('#decisions tr[data-outcome=granted]').cells].map(c => c.textContent)`)
	if len(row) != 8 || row[3] != "Sheldon" || row[5] == "–" || row[6] == "–" {
		t.Errorf("granted decision row = %q, want the name, distance and margin", row)
	}
	admin.do(10*time.Second, "scroll to door", chromedp.ScrollIntoView(chromedp.ID("door-sec")))
	admin.shot("admin-door")
	eval[bool](admin, `(window.scrollTo(0, 0), true)`)
	admin.docShot("docs-admin")
	door.stop()
	adminAPI.WaitState("Idle", 15*time.Second)

	// 5. A stranger, paired with the door token typed once: PIN keypad, wrong PIN, right PIN.
	stranger := newBrowser(t, "stranger", strangerCam)
	stranger.do(20*time.Second, "open door page", chromedp.Navigate(base+"/door"), chromedp.WaitVisible(chromedp.ID("code")))
	stranger.do(20*time.Second, "pair with token", chromedp.SendKeys(chromedp.ID("code"), doorToken),
		chromedp.Click(chromedp.CSS("#pairform button")), chromedp.WaitVisible(chromedp.ID("headline")))
	stranger.waitJS(60*time.Second, `document.body.dataset.view === 'pin' && !document.getElementById('pin').hidden`)
	stranger.shot("door-pin")
	if u := unlabelled(stranger); len(u) != 0 {
		t.Errorf("door page controls without a label: %q", u)
	}
	for _, k := range "00000" {
		stranger.do(5*time.Second, "key", chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-key="%c"]`, k))))
	}
	stranger.do(5*time.Second, "OK", chromedp.Click(chromedp.CSS(`[data-key="ok"]`)))
	stranger.waitJS(10*time.Second, `document.getElementById('pinmsg').textContent === 'Wrong PIN — 2 attempts left'`)
	stranger.shot("door-pin-wrong")
	// The right PIN from the keyboard.
	stranger.do(10*time.Second, "type PIN", chromedp.SendKeys(chromedp.ID("pinval"), "31415\r"))
	stranger.waitJS(10*time.Second, `document.body.dataset.view === 'welcome'`)
	if h := stranger.text("headline"); h != "Welcome, Sheldon" {
		t.Errorf("after the right PIN: headline %q", h)
	}
	stranger.stop()
	adminAPI.WaitState("Idle", 15*time.Second)

	// 6. Several people in front of the camera: the quality reason, in words and colour.
	group := newBrowser(t, "group", groupCam)
	group.do(20*time.Second, "open door page", chromedp.Navigate(base+"/door"), chromedp.WaitVisible(chromedp.ID("code")))
	group.do(20*time.Second, "pair with token", chromedp.SendKeys(chromedp.ID("code"), doorToken),
		chromedp.Click(chromedp.CSS("#pairform button")), chromedp.WaitVisible(chromedp.ID("headline")))
	group.waitJS(30*time.Second, `document.body.dataset.view === 'quality' && document.getElementById('detail').textContent === 'One person at a time, please'`)
	group.shot("door-several-faces")
	group.stop()
	adminAPI.WaitState("Idle", 15*time.Second)

	// 7. Audit: the PIN session's row with its evidence thumbnail; verify; export.
	admin.do(10*time.Second, "show audit", chromedp.Click(chromedp.CSS("#filter button")))
	admin.waitJS(15*time.Second, `[...document.querySelectorAll('#audit img.thumb')].some(i => i.complete && i.naturalWidth > 0)`)
	admin.do(10*time.Second, "scroll to audit", chromedp.ScrollIntoView(chromedp.ID("audit-sec")))
	admin.shot("admin-audit")
	admin.do(10*time.Second, "verify", chromedp.Click(chromedp.ID("verify")))
	admin.waitJS(20*time.Second, `document.getElementById('verified').dataset.ok === 'true'`)
	if got := eval[string](admin, `fetch(document.getElementById('exp-csv').href).then(r => r.text()).then(t => t.split('\n')[0].slice(0, 10))`); !strings.HasPrefix(got, "seq,") {
		t.Errorf("CSV export starts %q", got)
	}
	admin.do(10*time.Second, "scroll to health", chromedp.ScrollIntoView(chromedp.ID("health-sec")))
	admin.waitJS(30*time.Second, `document.getElementById('health').textContent.indexOf('face_detection_yunet_2022mar.onnx') >= 0`)
	admin.shot("admin-health")

	// 7b. Disable Sheldon on the admin page (the access policy), then enable him again: the users
	// table follows each change.
	admin.do(10*time.Second, "scroll to users", chromedp.ScrollIntoView(chromedp.ID("users-sec")))
	clickUserButton := func(label string) string {
		return `(() => { const r = [...document.querySelectorAll('#users tbody tr')].find(r => r.cells[0].textContent === 'Sheldon');
			const b = r && [...r.querySelectorAll('button')].find(b => b.textContent === '` + label + `');
			if (b) { b.click(); } return !!b; })()`
	}
	enabledIs := func(v string) string {
		return `[...document.querySelectorAll('#users tbody tr')].some(r => r.cells[0].textContent === 'Sheldon' && r.cells[3].textContent === '` + v + `')`
	}
	admin.waitJS(10*time.Second, clickUserButton("Disable"))
	admin.waitJS(10*time.Second, enabledIs("no"))
	admin.shot("admin-user-disabled")
	admin.waitJS(10*time.Second, clickUserButton("Enable"))
	admin.waitJS(10*time.Second, enabledIs("yes"))

	// 8. The daemon stops: the door page says so and sends no frames; it recovers after a restart
	// on the same address with the same pairing (the cookie survives the restart).
	hall := newBrowser(t, "hallway", emptyCam)
	code = pairingCode(t, admin)
	hall.do(20*time.Second, "open door page", chromedp.Navigate(base+"/door"), chromedp.WaitVisible(chromedp.ID("code")))
	hall.do(20*time.Second, "pair", chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Click(chromedp.CSS("#pairform button")),
		chromedp.WaitVisible(chromedp.ID("headline")))
	hall.waitJS(10*time.Second, `document.getElementById('link').dataset.link === 'connected'`)
	hall.shot("door-idle")
	eval[bool](hall, countFrames)
	hall.waitJS(10*time.Second, `window.__frames > 0`) // idle frames flow while connected
	if err := d.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.WaitExit(t, 20*time.Second); code != 0 {
		t.Fatalf("daemon exit code %d", code)
	}
	hall.waitJS(15*time.Second, `document.getElementById('link').dataset.link === 'unreachable' && document.body.dataset.view === 'down'`)
	hall.shot("door-unreachable")
	if h := hall.text("link"); h != "Server unreachable" {
		t.Errorf("link text = %q", h)
	}
	eval[bool](hall, `(window.__frames = 0, true)`)
	time.Sleep(3 * time.Second)
	if n := eval[int](hall, `window.__frames`); n != 0 {
		t.Errorf("%d frames posted while the server was unreachable", n)
	}
	d2 := testkit.StartDaemon(t, env, args, testkit.Addr(d.Addr))
	hall.waitJS(30*time.Second, `document.getElementById('link').dataset.link === 'connected' && document.body.dataset.view !== 'down'`)
	hall.shot("door-recovered")
	hall.waitJS(10*time.Second, `window.__frames > 0`)

	// 9. Korean on demand.
	hall.do(5*time.Second, "switch language", chromedp.Click(chromedp.ID("lang")))
	if l, lang := hall.text("link"), eval[string](hall, `document.documentElement.lang`); l != "연결됨" || lang != "ko" {
		t.Errorf("after switching to Korean: link %q, lang %q", l, lang)
	}
	if h := hall.text("headline"); !strings.ContainsFunc(h, func(r rune) bool { return r >= 0xAC00 && r <= 0xD7A3 }) {
		t.Errorf("headline %q has no Hangul", h)
	}
	hall.shot("door-ko")
	_ = d2
}

// unlabelled lists the page's inputs, selects and buttons that have no label, aria-label or text:
// a screen reader could not name them.
func unlabelled(b *browser) []string {
	b.t.Helper()
	return eval[[]string](b, `[...document.querySelectorAll('input, select, button')]
	  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
	  .map(e => e.id || e.outerHTML.slice(0, 80))`)
}

// pairingCode asks the admin page for a new pairing code.
func pairingCode(t *testing.T, admin *browser) string {
	t.Helper()
	eval[bool](admin, `(document.getElementById('paircode').dataset.code = '', true)`)
	admin.do(10*time.Second, "pairing code", chromedp.ScrollIntoView(chromedp.ID("pair")), chromedp.Click(chromedp.ID("pair")))
	admin.waitJS(10*time.Second, `/^[0-9]{8}$/.test(document.getElementById('paircode').dataset.code || '')`)
	return eval[string](admin, `document.getElementById('paircode').dataset.code`)
}

func listUsers(t *testing.T, a testkit.API) []api.User {
	t.Helper()
	var l api.UserList
	a.JSON(http.MethodGet, "/v1/users", nil, http.StatusOK, &l)
	return l.Users
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
