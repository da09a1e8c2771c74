package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/doorface/doorface/internal/testkit"
)

// TestLivenessCommand runs `doorface liveness` on a folder laid out as documented, built from the
// pad/ samples (symlinks): the print and the screen are refused and the live face passes at the
// configured threshold, per frame and per session.
func TestLivenessCommand(t *testing.T) {
	models := testkit.Models(t)
	pad := filepath.Join(testkit.Faces(t), "pad")
	dir := t.TempDir()
	for kind, src := range map[string]string{"live": "live1.jpg", "print": "print1.jpg", "screen": "screen1.jpg"} {
		d := filepath.Join(dir, kind, "p1")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"f1.jpg", "f2.jpg"} {
			if err := os.Symlink(filepath.Join(pad, src), filepath.Join(d, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"liveness", "--models", models, "--frames", "2", dir}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	t.Log(out.String())
	// The configured threshold's rows: no bona fide rejected, no attack accepted (0/2 frames,
	// 0/1 sessions, each with its 3/n bound).
	var rows []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "*0.90") {
			rows = append(rows, strings.Join(strings.Fields(l), " "))
		}
	}
	want := []string{
		"*0.90 0/2 (<=100.0%) 0/2 (<=100.0%) 0/2 (<=100.0%)",
		"*0.90 0/1 (<=100.0%) 0/1 (<=100.0%) 0/1 (<=100.0%)",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows at the configured threshold:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	for _, s := range []string{`attack "print": 2 frames (0 without a face), 1 sessions`, "APCER screen", "threshold for per-session APCER <= 1.0%"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q", s)
		}
	}
	t.Run("no attack folder", func(t *testing.T) {
		only := t.TempDir()
		if err := os.MkdirAll(filepath.Join(only, "live", "p1"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(pad, "live1.jpg"), filepath.Join(only, "live", "p1", "a.jpg")); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		if code := run([]string{"liveness", "--models", models, only}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "attack") {
			t.Fatalf("exit %d, stderr %q: want a clear error", code, errb.String())
		}
	})
}
