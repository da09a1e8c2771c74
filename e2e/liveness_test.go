package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorface/doorface/internal/testkit"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport/api"
)

// The liveness tests run the real daemon with liveness as configured (enforce by default) on the
// pad/ samples: phone frames of a live person, a printed photo and a phone screen, stored
// sideways with EXIF orientation 6. Each person is enrolled from the very image that is then
// presented: recognition is not under test here (the distance is near 0), liveness is.

// livenessRig is a daemon with the liveness setting env gives (default enforce) and default frame
// limits (liveness needs 5 frames, max_frames 10).
func livenessRig(t *testing.T, env ...string) *relRig {
	t.Helper()
	models := testkit.Models(t)
	root := t.TempDir()
	data := filepath.Join(root, "data")
	r := &relRig{t: t, root: root, data: data, models: models}
	r.env = append([]string{
		"DOORFACE_DOOR_TOKEN=" + relDoorToken, "DOORFACE_ADMIN_TOKEN=" + relAdminToken,
		"DOORFACE_MACHINE_UNLOCK_DURATION=1s", "DOORFACE_MACHINE_COOLDOWN=300ms", "DOORFACE_VISION_WORKERS=1",
	}, env...)
	r.args = []string{"--data", data, "--models", models, "--hw", "sim"}
	r.start()
	return r
}

// enrollPad creates a user with pin and enrolls them from pad/<file>.
func (r *relRig) enrollPad(name, pin, file string) string {
	r.t.Helper()
	uid := r.admin.CreateUser(name, pin)
	if code, b := r.admin.Do(http.MethodPost, "/v1/users/"+uid+"/faces", "image/jpeg", testkit.Photo(r.t, "pad/"+file)); code != http.StatusCreated {
		r.t.Fatalf("enroll %s from %s: %d %s", name, file, code, b)
	}
	return uid
}

// captures returns n frames of one still scene as a camera gives them: the file as sent by the
// phone (EXIF orientation 6), then upright copies with independent sensor noise (Gaussian,
// sigma 3 gray levels per channel) at JPEG quality 90: distinct captures of the same picture.
func captures(t *testing.T, file string, n int) [][]byte {
	t.Helper()
	raw := testkit.Photo(t, "pad/"+file)
	src, err := jpeg.Decode(bytes.NewReader(raw)) // Go's decoder ignores EXIF: rotate by hand
	if err != nil {
		t.Fatal(err)
	}
	b := src.Bounds()
	up := image.NewRGBA(image.Rect(0, 0, b.Dy(), b.Dx()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			up.Set(b.Max.Y-1-y, x-b.Min.X, src.At(x, y)) // orientation 6: rotate 90 degrees clockwise
		}
	}
	out := [][]byte{raw}
	for i := 1; i < n; i++ {
		rng := rand.New(rand.NewPCG(uint64(i), 19))
		noisy := image.NewRGBA(up.Bounds())
		for j, v := range up.Pix {
			if j%4 == 3 {
				noisy.Pix[j] = 255
				continue
			}
			noisy.Pix[j] = uint8(min(255, max(0, float64(v)+rng.NormFloat64()*3+0.5)))
		}
		out = append(out, encodeJPEG(t, noisy, 90))
	}
	return out
}

func encodeJPEG(t *testing.T, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// play posts frames at 10 fps into one session until it is decided or leaves recognition, and
// returns the last answer and the time from the first frame's post to that answer.
func (r *relRig) play(frames [][]byte) (api.FrameResponse, time.Duration) {
	r.t.Helper()
	session := ""
	var last api.FrameResponse
	start := time.Now()
	for i, f := range frames {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		code, resp := r.door.PostFrame(f, session)
		if code != http.StatusOK {
			r.t.Fatalf("frame %d: status %d", i, code)
		}
		session, last = resp.Session, resp
		if resp.Decision != nil || resp.State == "PinFallback" || resp.State == "Unlocking" {
			return last, time.Since(start)
		}
	}
	return last, time.Since(start)
}

// records returns the audit records (JSONL export) by session id.
func (r *relRig) records() map[string]store.Attempt {
	r.t.Helper()
	code, body := r.admin.Do(http.MethodGet, "/v1/audit?format=jsonl", "", nil)
	if code != http.StatusOK {
		r.t.Fatalf("audit export: %d %s", code, body)
	}
	out := map[string]store.Attempt{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var a store.Attempt
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			r.t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out[a.ID] = a
	}
	return out
}

// reasons collects the reasons of the state events of the stream into the returned function's
// answer.
func reasons(t *testing.T, r *relRig) func() []string {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := r.admin.Events(ctx)
	var got []string
	return func() []string {
		deadline := time.After(2 * time.Second)
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					return got
				}
				if ev.Name == api.EventState {
					var s api.StateEvent
					if err := ev.Decode(&s); err == nil {
						got = append(got, s.Reason)
					}
				}
			case <-deadline:
				return got
			case <-time.After(300 * time.Millisecond):
				return got
			}
		}
	}
}

// TestLivenessEnforcedRealDaemon: with liveness enforced (the default), the live face is granted
// by face, and the print and the screen, each of an enrolled person, are refused: the session goes
// to the PIN with reason liveness_failed on the event stream, the PIN still opens the door, and
// the records carry the scores. It measures first frame -> relay with liveness on.
func TestLivenessEnforcedRealDaemon(t *testing.T) {
	r := livenessRig(t)
	r.enrollPad("Live", "135790", "live1.jpg")
	r.enrollPad("Print", "246801", "print1.jpg")
	r.enrollPad("Screen", "975310", "screen1.jpg")
	events := reasons(t, r)

	var latencies []time.Duration
	for i := 0; i < 3; i++ {
		resp, took := r.play(captures(t, "live1.jpg", 8))
		if resp.Decision == nil || resp.Decision.Outcome != "granted" || resp.Decision.Method != "face" || resp.State != "Unlocking" {
			t.Fatalf("live session %d: %+v, want granted by face", i, resp)
		}
		latencies = append(latencies, took)
		r.door.WaitState("Idle", 5*time.Second)
	}
	slices.Sort(latencies)
	t.Logf("liveness enforced: first frame -> relay open at 10 fps: %v (sorted, 3 sessions)", latencies)

	for _, tc := range []struct{ file, pin string }{{"print1.jpg", "246801"}, {"screen1.jpg", "975310"}} {
		t.Run(tc.file, func(t *testing.T) {
			resp, _ := r.play(captures(t, tc.file, 10))
			if resp.State != "PinFallback" || resp.Decision != nil {
				t.Fatalf("%s session: %+v, want PinFallback", tc.file, resp)
			}
			if got := events(); !slices.Contains(got, "liveness_failed") {
				t.Fatalf("state event reasons %q, want liveness_failed", got)
			}
			if code, p := r.door.EnterPIN(resp.Session, tc.pin); code != http.StatusOK || p.Outcome != "granted" {
				t.Fatalf("PIN after refused liveness: %d %+v", code, p)
			}
			rec := r.records()[resp.Session]
			if rec.Method != "pin" || rec.Liveness == nil || rec.Liveness.Result != "failed" || len(rec.Liveness.Scores) < 5 ||
				rec.Liveness.Mean >= 0.9 || rec.Evidence == "" {
				t.Fatalf("record %+v liveness %+v: want method pin, liveness failed over >= 5 scores, evidence kept", rec, rec.Liveness)
			}
			t.Logf("%s: scores %.3f, mean %.3f", tc.file, rec.Liveness.Scores, rec.Liveness.Mean)
			// The decision record through the API carries the same evidence.
			if a, err := r.admin.C.Attempt(context.Background(), resp.Session); err != nil || a.Liveness == nil ||
				a.Liveness.Result != "failed" || len(a.Liveness.Scores) != len(rec.Liveness.Scores) {
				t.Fatalf("GET /v1/audit/%s: %+v liveness %+v, %v", resp.Session, a, a.Liveness, err)
			}
			r.door.WaitState("Idle", 5*time.Second)
		})
	}
	// The live sessions' records: passed, 5 distinct scored frames.
	passed := 0
	for _, a := range r.records() {
		if a.Method == "face" && a.Liveness != nil && a.Liveness.Result == "passed" && len(a.Liveness.Scores) >= 5 && a.Liveness.Mean >= 0.9 {
			passed++
		}
	}
	if passed != 3 {
		t.Fatalf("%d live records with passed liveness, want 3", passed)
	}
}

// TestRepeatedPhotoRealDaemon: a session of one photo of an enrolled user sent again and again,
// and of small edits of it (grayscale, JPEG quality 30, a crop, a small rotation), is never
// granted by face; the PIN still opens the door. The photo is one of the enroll-test photos
// (a photo of a photo) as a camera frame.
func TestRepeatedPhotoRealDaemon(t *testing.T) {
	r := livenessRig(t)
	uid := r.admin.CreateUser("Sheldon", "864200")
	if code, b := r.admin.Do(http.MethodPost, "/v1/users/"+uid+"/faces", "image/png", testkit.Photo(t, "enroll-test/sheldon1.png")); code != http.StatusCreated {
		t.Fatalf("enroll: %d %s", code, b)
	}
	frame := testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/sheldon1.png"), 640, 480, 220)
	img, err := jpeg.Decode(bytes.NewReader(frame))
	if err != nil {
		t.Fatal(err)
	}
	gray := image.NewGray(img.Bounds())
	draw.Draw(gray, gray.Bounds(), img, image.Point{}, draw.Src)
	crop := image.NewRGBA(img.Bounds())
	draw.Draw(crop, crop.Bounds(), &image.Uniform{color.RGBA{118, 118, 118, 255}}, image.Point{}, draw.Src)
	draw.Draw(crop, crop.Bounds(), img, image.Pt(12, 8), draw.Src) // shifted by a crop
	rot := image.NewRGBA(img.Bounds())
	b := img.Bounds()
	for y := 0; y < b.Dy(); y++ { // a shear of 1 px per 40 rows: about 1.4 degrees
		for x := 0; x < b.Dx(); x++ {
			rot.Set(x, y, img.At(min(b.Dx()-1, x+y/40), y))
		}
	}
	sessions := map[string][][]byte{
		"the same frame 10 times": slices.Repeat([][]byte{frame}, 10),
		"small edits": {frame, encodeJPEG(t, gray, 90), encodeJPEG(t, img, 30), encodeJPEG(t, crop, 90),
			encodeJPEG(t, rot, 90), frame, encodeJPEG(t, gray, 90), encodeJPEG(t, img, 30), encodeJPEG(t, crop, 90), encodeJPEG(t, rot, 90)},
	}
	for name, frames := range sessions {
		t.Run(name, func(t *testing.T) {
			resp, _ := r.play(frames)
			if resp.State != "PinFallback" {
				t.Fatalf("%+v, want PinFallback (never granted by face)", resp)
			}
			if code, p := r.door.EnterPIN(resp.Session, "864200"); code != http.StatusOK || p.Outcome != "granted" {
				t.Fatalf("PIN: %d %+v", code, p)
			}
			rec := r.records()[resp.Session]
			if rec.Method != "pin" || rec.Liveness == nil || rec.Liveness.Result == "passed" {
				t.Fatalf("record %+v liveness %+v", rec, rec.Liveness)
			}
			t.Logf("%s: liveness %+v", name, *rec.Liveness)
			if name == "the same frame 10 times" && (rec.Liveness.Repeats < 8 || len(rec.Liveness.Scores) != 1) {
				t.Fatalf("repeats %d, scores %d: want the repeats counted and not scored", rec.Liveness.Repeats, len(rec.Liveness.Scores))
			}
			r.door.WaitState("Idle", 5*time.Second)
		})
	}
}

// TestLivenessModesRealDaemon: log mode decides as off does (the print of an enrolled person is
// granted) and records what enforce would have said; off records nothing of liveness.
func TestLivenessModesRealDaemon(t *testing.T) {
	for _, mode := range []string{"log", "off"} {
		t.Run(mode, func(t *testing.T) {
			r := livenessRig(t, "DOORFACE_MACHINE_LIVENESS="+mode)
			r.enrollPad("Print", "246801", "print1.jpg")
			resp, _ := r.play(captures(t, "print1.jpg", 10))
			if resp.Decision == nil || resp.Decision.Outcome != "granted" || resp.Decision.Method != "face" {
				t.Fatalf("%+v, want granted by face (liveness %s does not act)", resp, mode)
			}
			rec := r.records()[resp.Session]
			switch mode {
			case "log":
				if rec.Liveness == nil || rec.Liveness.Mode != "log" || len(rec.Liveness.Scores) == 0 || rec.Liveness.Mean >= 0.9 {
					t.Fatalf("log record liveness %+v: want the print's low scores", rec.Liveness)
				}
			case "off":
				if rec.Liveness != nil {
					t.Fatalf("off record liveness %+v, want none", rec.Liveness)
				}
			}
		})
	}
}

// TestLivenessModelMissingRealDaemon: with liveness on, a missing liveness model stops the
// daemon at start with one error naming the file; with liveness off it starts without it.
func TestLivenessModelMissingRealDaemon(t *testing.T) {
	models := testkit.Models(t)
	dir := t.TempDir()
	for _, name := range []string{"face_detection_yunet_2022mar.onnx", "mobilefacenet_sirius.onnx", "minifasnet_v2.onnx"} {
		if err := os.Symlink(filepath.Join(models, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(testkit.Binary(t), "serve", "--listen", testkit.FreePort(t), "--insecure-http",
		"--data", t.TempDir(), "--models", dir, "--hw", "sim")
	cmd.Env = append(os.Environ(), "DOORFACE_DOOR_TOKEN="+relDoorToken, "DOORFACE_ADMIN_TOKEN="+relAdminToken)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("daemon started without minifasnet_v1se.onnx:\n%s", out.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("daemon still running without minifasnet_v1se.onnx:\n%s", out.String())
	}
	var errs []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, `"level":"ERROR"`) {
			errs = append(errs, l)
		}
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "minifasnet_v1se.onnx") || !strings.Contains(errs[0], "liveness") {
		t.Fatalf("want one error naming minifasnet_v1se.onnx and liveness, got %d:\n%s", len(errs), strings.Join(errs, "\n"))
	}
	// Liveness off: the same models directory is enough.
	r := &relRig{t: t, root: t.TempDir(), models: dir}
	r.data = filepath.Join(r.root, "data")
	r.env = []string{"DOORFACE_DOOR_TOKEN=" + relDoorToken, "DOORFACE_ADMIN_TOKEN=" + relAdminToken,
		"DOORFACE_VISION_WORKERS=1", "DOORFACE_MACHINE_LIVENESS=off"}
	r.args = []string{"--data", r.data, "--models", dir, "--hw", "sim"}
	r.start()
	if s := r.door.State(); s.State != "Idle" {
		t.Fatalf("state %+v", s)
	}
}
