package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/doorface/doorface/internal/testkit"
)

// TestEnrollCommandRefusals: `doorface enroll` refuses a photo nearer another user unless
// --force and stores nothing from a refused command; `users templates` lists and deletes.
func TestEnrollCommandRefusals(t *testing.T) {
	models := testkit.Models(t)
	faces := filepath.Join(testkit.Faces(t), "enroll-test")
	data := t.TempDir()
	cli := func(args ...string) (int, string) {
		t.Helper()
		var out, errb bytes.Buffer
		// The flags go after the command's words (those without a path or an id).
		i := 1
		for i < len(args) && (args[i] == "templates" || args[i] == "delete") {
			i++
		}
		full := append(append(append([]string{}, args[:i]...), "--data", data), args[i:]...)
		code := run(full, &out, &errb)
		return code, out.String() + errb.String()
	}
	photo := func(n string) string { return filepath.Join(faces, n) }
	idOf := func(out string) string {
		t.Helper()
		m := regexp.MustCompile(`\(id ([0-9a-f]+)\)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no user id in %q", out)
		}
		return m[1]
	}
	code, out := cli("enroll", "--models", models, "--name", "Sheldon", photo("sheldon1.png"), photo("sheldon2.png"))
	if code != 0 || !strings.Contains(out, "2 new template(s)") {
		t.Fatalf("enroll Sheldon: %d %s", code, out)
	}
	code, out = cli("enroll", "--models", models, "--name", "Leonard", photo("leonard1.png"))
	if code != 0 {
		t.Fatalf("enroll Leonard: %d %s", code, out)
	}
	leonard := idOf(out)
	// Two photos, the second Sheldon's: refused as a whole, naming the file and Sheldon.
	code, out = cli("enroll", "--models", models, "--user", leonard, photo("leonard2.png"), photo("sheldon3.png"))
	if code != 1 || !strings.Contains(out, "sheldon3.png: closer to Sheldon") || !strings.Contains(out, "--force") {
		t.Fatalf("Sheldon's photo for Leonard: %d %s", code, out)
	}
	code, out = cli("users", "templates", leonard)
	if code != 0 || strings.Count(out, "mobilefacenet") != 1 {
		t.Fatalf("a refused enroll stored templates: %d %s", code, out)
	}
	first := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1])[0]
	code, out = cli("enroll", "--models", models, "--user", leonard, "--force", photo("sheldon3.png"))
	if code != 0 || !strings.Contains(out, "warning: photo 1: closer to Sheldon") {
		t.Fatalf("forced: %d %s", code, out)
	}
	code, out = cli("users", "templates", leonard)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("users templates: %d %s", code, out)
	}
	forced := strings.Fields(lines[1])[0]
	if forced == first {
		forced = strings.Fields(lines[2])[0]
	}
	if code, out = cli("users", "templates", "delete", leonard, forced); code != 0 || !strings.Contains(out, "deleted template") {
		t.Fatalf("delete: %d %s", code, out)
	}
	if code, out = cli("users", "templates", leonard); code != 0 || strings.Count(out, "mobilefacenet") != 1 {
		t.Fatalf("after delete: %d %s", code, out)
	}
	if code, out = cli("users", "templates", "nobody"); code != 1 || !strings.Contains(out, "not found") {
		t.Fatalf("unknown user: %d %s", code, out)
	}
}
