package e2e

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorface/doorface/internal/testkit"
	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/transport/client"
)

// photo is an enroll-test photo for client.AddFaces.
func photo(t *testing.T, name string) client.Photo {
	ct := "image/png"
	if strings.HasSuffix(name, ".jpg") {
		ct = "image/jpeg"
	}
	return client.Photo{ContentType: ct, Body: testkit.Photo(t, filepath.Join("enroll-test", name))}
}

// cameraFrame is a 1280x720 camera frame of an enroll-test photo with a 360 px face.
func cameraFrame(t *testing.T, name string) []byte {
	return testkit.CameraFrame(t, testkit.Photo(t, filepath.Join("enroll-test", name)), 1280, 720, 360)
}

// templateCount is GET /v1/users/{id}'s template count.
func (r *relRig) templateCount(id string) int {
	r.t.Helper()
	u, err := r.admin.C.User(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	if u.Templates == nil {
		r.t.Fatalf("GET /v1/users/%s has no template count", id)
	}
	return *u.Templates
}

// grantFrames posts frames in one session until the door decides, and returns that answer.
func (r *relRig) grantFrames(frames ...[]byte) api.FrameResponse {
	r.t.Helper()
	session := ""
	var last api.FrameResponse
	for _, f := range frames {
		code, res := r.door.PostFrame(f, session)
		if code != http.StatusOK {
			r.t.Fatalf("frame: %d", code)
		}
		session, last = res.Session, res
		if res.Decision != nil {
			return res
		}
	}
	return last
}

// TestEnrollRefusalsAndTemplates: several photos in one request, a group photo refused, a photo
// nearer another user refused (409 naming them) unless forced, templates listed and deleted
// through the real daemon, and the gallery in step with the deletions.
func TestEnrollRefusalsAndTemplates(t *testing.T) {
	r := newRelRig(t)
	ctx := context.Background()
	sheldon := r.createUser("Sheldon", "31415")
	leonard := r.createUser("Leonard", "27182")

	res, err := r.admin.C.AddFaces(ctx, sheldon, []client.Photo{photo(t, "sheldon1.png"), photo(t, "sheldon2.png"), photo(t, "sheldon3.png")}, false)
	if err != nil || len(res.Templates) != 3 || res.Template != res.Templates[0] {
		t.Fatalf("three photos in one request: %+v, %v", res, err)
	}
	if n := r.templateCount(sheldon); n != 3 {
		t.Fatalf("Sheldon has %d templates, want 3", n)
	}

	// A group photo, detected at full resolution, is refused.
	code, body := r.admin.Do(http.MethodPost, "/v1/users/"+leonard+"/faces", "image/jpeg", testkit.Photo(t, "groups/bbt1.jpg"))
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), api.CodeMultipleFaces) {
		t.Fatalf("group photo: %d %s, want 422 multiple_faces", code, body)
	}
	// One bad photo among several stores nothing, and the answer names it.
	_, err = r.admin.C.AddFaces(ctx, leonard, []client.Photo{photo(t, "leonard1.png"), {ContentType: "image/jpeg", Body: testkit.Photo(t, "groups/bbt1.jpg")}}, false)
	var ce *client.Error
	if client.Code(err) != api.CodeMultipleFaces || !errors.As(err, &ce) || !strings.HasPrefix(ce.Answer.Message, "photo 2: ") {
		t.Fatalf("two photos, the second a group: %v", err)
	}
	if n := r.templateCount(leonard); n != 0 {
		t.Fatalf("a refused request stored %d templates", n)
	}

	if _, err := r.admin.C.AddFace(ctx, leonard, "image/png", testkit.Photo(t, "enroll-test/leonard1.png")); err != nil {
		t.Fatal(err)
	}
	// Sheldon's photo for Leonard: nearer Sheldon than Leonard's own template.
	_, err = r.admin.C.AddFace(ctx, leonard, "image/png", testkit.Photo(t, "enroll-test/sheldon4.png"))
	if client.Code(err) != api.CodeCloserToOtherUser || client.Status(err) != http.StatusConflict ||
		!errors.As(err, &ce) || !strings.Contains(ce.Answer.Message, "Sheldon") || !strings.Contains(ce.Answer.Message, sheldon) {
		t.Fatalf("Sheldon's photo for Leonard: %v, want 409 closer_to_other_user naming Sheldon", err)
	}
	if n := r.templateCount(leonard); n != 1 {
		t.Fatalf("the refused photo was stored: Leonard has %d templates", n)
	}
	forced, err := r.admin.C.AddFaces(ctx, leonard, []client.Photo{photo(t, "sheldon4.png")}, true)
	if err != nil || len(forced.Warnings) != 1 || !strings.Contains(forced.Warnings[0], "Sheldon") {
		t.Fatalf("forced: %+v, %v", forced, err)
	}

	ts, err := r.admin.C.Templates(ctx, leonard)
	if err != nil || len(ts) != 2 {
		t.Fatalf("Leonard's templates: %+v, %v", ts, err)
	}
	for _, tp := range ts {
		if tp.Engine != "mobilefacenet" || !tp.Crop || tp.Created.IsZero() {
			t.Errorf("template %+v: want engine mobilefacenet, a kept crop and a creation time", tp)
		}
	}
	if err := r.admin.C.DeleteTemplate(ctx, leonard, forced.Template); err != nil {
		t.Fatal(err)
	}
	if err := r.admin.C.DeleteTemplate(ctx, leonard, forced.Template); client.Code(err) != api.CodeNotFound {
		t.Fatalf("deleting it again: %v, want not_found", err)
	}
	if n := r.templateCount(leonard); n != 1 {
		t.Fatalf("after the delete Leonard has %d templates, want 1", n)
	}

	// The gallery follows: Sheldon is recognised, then, his templates deleted, no longer.
	probe := cameraFrame(t, "sheldon5.png")
	got := r.grantFrames(probe, probe, probe)
	if got.Decision == nil || got.Decision.Outcome != "granted" || got.Decision.User != sheldon {
		t.Fatalf("Sheldon before the deletions: %+v", got)
	}
	r.door.WaitState("Idle", 10*time.Second)
	sts, err := r.admin.C.Templates(ctx, sheldon)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range sts {
		if err := r.admin.C.DeleteTemplate(ctx, sheldon, tp.ID); err != nil {
			t.Fatal(err)
		}
	}
	code, after := r.door.PostFrame(probe, "")
	if code != http.StatusOK || after.Frame.Match != nil && after.Frame.Match.User == sheldon {
		t.Fatalf("Sheldon after his templates were deleted: %d %+v", code, after)
	}
	if _, err := r.door.C.CancelSession(ctx, after.Session); err != nil {
		t.Fatal(err)
	}
}

// TestDoorEnrollment: the door enrolls a user from the tablet's frames: no door session, the
// door stays locked, another enrolled person and a repeated view are not kept, progress is
// on the event stream, and the templates recognise the user once it completes.
func TestDoorEnrollment(t *testing.T) {
	r := newRelRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sheldon := r.createUser("Sheldon", "31415")
	if _, err := r.admin.C.AddFaces(ctx, sheldon, []client.Photo{photo(t, "sheldon1.png"), photo(t, "sheldon2.png")}, false); err != nil {
		t.Fatal(err)
	}
	howard := r.createUser("Howard", "")
	events := r.admin.Events(ctx)
	audit := r.auditCount()

	if _, err := r.admin.C.StartEnrollment(ctx, api.EnrollmentRequest{User: "nobody", Frames: 3}); client.Code(err) != api.CodeNotFound {
		t.Fatalf("enrollment of an unknown user: %v", err)
	}
	e, err := r.admin.C.StartEnrollment(ctx, api.EnrollmentRequest{User: howard, Frames: 3})
	if err != nil || !e.Active || e.Want != 3 || e.Name != "Howard" {
		t.Fatalf("start: %+v, %v", e, err)
	}
	if _, err := r.admin.C.StartEnrollment(ctx, api.EnrollmentRequest{User: howard}); client.Code(err) != api.CodeEnrollmentActive {
		t.Fatalf("a second start: %v, want enrollment_active", err)
	}

	steps := []struct {
		frame   string
		quality string
		kept    bool
		have    int
	}{
		{"sheldon4.png", "closer_to_other_user", false, 0}, // someone else at the door
		{"howard1.png", "ok", true, 1},
		{"howard1.png", "ok", false, 1}, // the same view again
		{"howard2.png", "ok", true, 2},
		{"howard3.png", "ok", true, 3},
	}
	for _, s := range steps {
		code, res := r.door.PostFrame(cameraFrame(t, s.frame), "")
		if code != http.StatusOK || res.State != api.StateEnrolling || res.Session != "" || res.Enrollment == nil {
			t.Fatalf("%s: %d %+v, want state Enrolling without a session", s.frame, code, res)
		}
		if en := res.Enrollment; en.Quality != s.quality || en.Kept != s.kept || en.Have != s.have || en.User != howard {
			t.Fatalf("%s: enrollment %+v, want quality %s kept %v have %d", s.frame, en, s.quality, s.kept, s.have)
		}
		if st := r.admin.State(); st.State != "Idle" || st.Relay != "locked" {
			t.Fatalf("%s: door %+v during the enrollment, want Idle and locked", s.frame, st)
		}
	}
	if n := r.templateCount(howard); n != 3 {
		t.Fatalf("Howard has %d templates after the enrollment, want 3", n)
	}
	if st, err := r.admin.C.Enrollment(ctx); err != nil || st.Active || st.Outcome != api.EnrollmentCompleted || len(st.Templates) != 3 {
		t.Fatalf("enrollment status: %+v, %v", st, err)
	}
	if n := r.auditCount(); n != audit {
		t.Fatalf("the enrollment left %d audit records; no door session may open", n-audit)
	}
	// Progress on the event stream: 0, 1, 2 and the completion with 3 of 3.
	var haves []int
	for done := false; !done; {
		select {
		case ev := <-events:
			if ev.Name != api.EventEnrollment {
				continue
			}
			var ee api.EnrollmentEvent
			if err := ev.Decode(&ee); err != nil {
				t.Fatal(err)
			}
			if ee.User != howard || ee.Want != 3 {
				t.Fatalf("event %+v", ee)
			}
			haves = append(haves, ee.Have)
			if ee.Done {
				done = true
				if ee.Outcome != api.EnrollmentCompleted || ee.Have != 3 {
					t.Fatalf("final event %+v", ee)
				}
			}
		case <-ctx.Done():
			t.Fatalf("no final enrollment event; saw haves %v", haves)
		}
	}
	if len(haves) != 4 || haves[0] != 0 || haves[3] != 3 {
		t.Fatalf("enrollment events have %v, want 0 1 2 3", haves)
	}
	// Frames go to the door again, and Howard is recognised by his new templates.
	probe := cameraFrame(t, "howard4.png")
	got := r.grantFrames(probe, probe, probe)
	if got.Decision == nil || got.Decision.Outcome != "granted" || got.Decision.User != howard {
		t.Fatalf("Howard after enrolling at the door: %+v", got)
	}
}

// TestDoorEnrollmentCancelAndTimeout: DELETE /v1/enrollment ends it with nothing stored, the door
// takes frames again, and a timeout ends one by itself.
func TestDoorEnrollmentCancelAndTimeout(t *testing.T) {
	r := newRelRig(t)
	ctx := context.Background()
	howard := r.createUser("Howard", "")
	if _, err := r.admin.C.CancelEnrollment(ctx); client.Code(err) != api.CodeNoEnrollment {
		t.Fatalf("cancel with none running: %v", err)
	}
	if _, err := r.admin.C.StartEnrollment(ctx, api.EnrollmentRequest{User: howard, Frames: 11}); client.Status(err) != http.StatusBadRequest {
		t.Fatalf("11 frames: %v, want 400", err)
	}
	if _, err := r.admin.C.StartEnrollment(ctx, api.EnrollmentRequest{User: howard, Frames: 2}); err != nil {
		t.Fatal(err)
	}
	if code, res := r.door.PostFrame(cameraFrame(t, "howard1.png"), ""); code != http.StatusOK || res.Enrollment == nil || !res.Enrollment.Kept {
		t.Fatalf("first frame: %d %+v", code, res)
	}
	e, err := r.admin.C.CancelEnrollment(ctx)
	if err != nil || e.Active || e.Outcome != api.EnrollmentCancelled || e.Have != 1 {
		t.Fatalf("cancel: %+v, %v", e, err)
	}
	if n := r.templateCount(howard); n != 0 {
		t.Fatalf("a cancelled enrollment stored %d templates", n)
	}
	code, res := r.door.PostFrame(cameraFrame(t, "howard2.png"), "")
	if code != http.StatusOK || res.State == api.StateEnrolling || res.Enrollment != nil || res.Session == "" {
		t.Fatalf("frame after the cancel: %d %+v, want a door session", code, res)
	}
	if _, err := r.door.C.CancelSession(ctx, res.Session); err != nil {
		t.Fatal(err)
	}
	r.door.WaitState("Idle", 5*time.Second)

	if _, err := r.admin.C.StartEnrollment(ctx, api.EnrollmentRequest{User: howard, TimeoutS: 1}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := r.admin.C.Enrollment(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Active {
			if st.Outcome != api.EnrollmentTimeout {
				t.Fatalf("ended with %+v, want timeout", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("enrollment with timeout_s 1 still active: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestGalleryRebuildSwitchesEngine: users enrolled with dlib are recognised with mobilefacenet
// after `doorface gallery rebuild --engine mobilefacenet`, without enrolling again.
func TestGalleryRebuildSwitchesEngine(t *testing.T) {
	r := newRelRig(t, "DOORFACE_VISION_ENGINE=dlib")
	ctx := context.Background()
	sheldon := r.createUser("Sheldon", "31415")
	if _, err := r.admin.C.AddFaces(ctx, sheldon, []client.Photo{photo(t, "sheldon1.png"), photo(t, "sheldon2.png"), photo(t, "sheldon3.png")}, false); err != nil {
		t.Fatal(err)
	}
	ts, _ := r.admin.C.Templates(ctx, sheldon)
	if len(ts) != 3 || ts[0].Engine != "dlib" {
		t.Fatalf("templates %+v, want 3 dlib", ts)
	}
	r.stopDaemon()
	code, out := runCLI(t, "", "gallery", "rebuild", "--engine", "mobilefacenet", "--data", r.data, "--models", r.models)
	if code != 0 || !strings.Contains(out, "rebuilt 3 mobilefacenet template(s)") {
		t.Fatalf("gallery rebuild: exit %d: %s", code, out)
	}
	code, out = runCLI(t, "", "users", "templates", "--data", r.data, sheldon)
	if code != 0 || strings.Count(out, "mobilefacenet") != 3 || strings.Count(out, "dlib") != 3 {
		t.Fatalf("users templates: exit %d: %s", code, out)
	}
	r.env = append(r.env, "DOORFACE_VISION_ENGINE=mobilefacenet")
	r.start()
	r.d.WaitLog(t, 10*time.Second, "doorface ready", `"templates":3`)
	probe := cameraFrame(t, "sheldon5.png")
	got := r.grantFrames(probe, probe, probe)
	if got.Decision == nil || got.Decision.Outcome != "granted" || got.Decision.User != sheldon {
		t.Fatalf("Sheldon with the rebuilt mobilefacenet templates: %+v", got)
	}
}
