package main

import (
	"image"
	"testing"
	"time"

	"github.com/doorface/doorface/clock"
)

// TestFaceTrackIsBoundToItsSession: a face box is a hint only for the next frame of the same
// session, and only while fresh, so no session ever inherits another's search region.
func TestFaceTrackIsBoundToItsSession(t *testing.T) {
	box := image.Rect(100, 100, 300, 300)
	tests := []struct {
		name    string
		session string
		after   time.Duration
		want    image.Rectangle
	}{
		{"same session, next frame", "s1", 100 * time.Millisecond, box},
		{"same session, at the limit", "s1", trackFor, box},
		{"same session, person left", "s1", trackFor + time.Millisecond, image.Rectangle{}},
		{"another session", "s2", 100 * time.Millisecond, image.Rectangle{}},
		{"no session", "", 0, image.Rectangle{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := clock.NewFake(time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC))
			tr := &faceTrack{clock: c}
			tr.set("s1", box)
			c.Advance(tc.after)
			if got := tr.hint(tc.session); got != tc.want {
				t.Fatalf("hint(%q) after %v = %v, want %v", tc.session, tc.after, got, tc.want)
			}
		})
	}
	var none *faceTrack
	if got := none.hint("s1"); got != (image.Rectangle{}) {
		t.Fatalf("nil track hint = %v", got)
	}
}
