package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/doorface/doorface/clock"
)

// TestRetention: frames older than MaxEvidenceAge are pruned; under the byte cap recent
// frames are never evicted (issue 15, finding 6): a new frame that does not fit once old frames
// are gone is not kept, its record says EvidenceDropped, and the drop is counted. Before issue
// 15 the "by bytes" case evicted frames 0..5 to keep 6..9.
func TestRetention(t *testing.T) {
	const frame = 1000
	for _, tc := range []struct {
		name        string
		maxAge      time.Duration
		maxBytes    int64
		pruneAt     time.Time
		wantKept    []int // indexes (0..9) of the attempts whose frames survive
		wantDropped []int // indexes of the attempts whose frames were never kept
		byAge       int
		bySize      int
	}{
		{"nothing to prune", 30 * 24 * time.Hour, 1 << 20, t0.Add(10 * time.Hour), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, nil, 0, 0},
		// Frame i is stored at t0+i hours; at t0+13h with a 6h age limit, 0..6 are too old.
		{"by age", 6 * time.Hour, 1 << 20, t0.Add(13 * time.Hour), []int{7, 8, 9}, nil, 7, 0},
		// 10 frames of 1000 bytes under a 4500-byte cap, none past its age: the first four are
		// kept, the six newer ones are refused rather than evicting recent evidence.
		{"by bytes", 30 * 24 * time.Hour, 4500, t0.Add(10 * time.Hour), []int{0, 1, 2, 3}, []int{4, 5, 6, 7, 8, 9}, 0, 0},
		// With a 5h age limit, recording frame i (at t0+ih) may first prune frames older than
		// t0+(i-5)h: frames 4 and 5 find no old frame to replace and are refused, 6..9 replace
		// 0..3; Prune at t0+12h then ages out frame 6.
		{"by age then bytes", 5 * time.Hour, 4500, t0.Add(12 * time.Hour), []int{7, 8, 9}, []int{4, 5}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			db := openTestDB(t, func(o *Options) {
				o.Clock, o.Retention.MaxAge, o.Retention.MaxBytes = clk, tc.maxAge, tc.maxBytes
			})
			for i := 0; i < 10; i++ {
				at := t0.Add(time.Duration(i) * time.Hour)
				clk.Advance(at.Sub(clk.Now()))
				a := sampleAttempt(fmt.Sprintf("s%d", i), at)
				a.End = at
				if _, err := db.RecordAttempt(a, bytes.Repeat([]byte{byte(i)}, frame)); err != nil {
					t.Fatal(err)
				}
			}
			if u, err := db.HistoryUsage(); err != nil || u.EvidenceDropped != uint64(len(tc.wantDropped)) || u.Records != 10 {
				t.Fatalf("HistoryUsage = %+v, %v; want %d dropped", u, err, len(tc.wantDropped))
			}
			rep, err := db.Prune(tc.pruneAt)
			if err != nil {
				t.Fatal(err)
			}
			if rep.ByAge != tc.byAge || rep.BySize != tc.bySize || rep.RemainingFrames != len(tc.wantKept) ||
				rep.RemainingBytes != int64(len(tc.wantKept)*frame) {
				t.Fatalf("Prune = %+v; want by_age %d by_size %d remaining %d", rep, tc.byAge, tc.bySize, len(tc.wantKept))
			}
			kept := map[int]bool{}
			for _, i := range tc.wantKept {
				kept[i] = true
			}
			for i := 0; i < 10; i++ {
				id := fmt.Sprintf("s%d", i)
				a, err := db.GetAttempt(id)
				if err != nil {
					t.Fatalf("attempt %s lost by pruning: %v", id, err)
				}
				jpeg, ferr := db.Frame(id)
				switch {
				case slices.Contains(tc.wantDropped, i):
					if a.Evidence != "" || a.EvidenceSHA256 != "" || !a.EvidenceDropped || !errors.Is(ferr, ErrNotFound) {
						t.Fatalf("%s: frame should have been refused: %+v, %v", id, a, ferr)
					}
				case kept[i] && (ferr != nil || !bytes.Equal(jpeg, bytes.Repeat([]byte{byte(i)}, frame)) || a.EvidencePruned):
					t.Fatalf("%s: frame should be kept: %v pruned=%v", id, ferr, a.EvidencePruned)
				case !kept[i] && (!errors.Is(ferr, ErrPruned) || !a.EvidencePruned || a.Evidence == ""):
					t.Fatalf("%s: frame should be pruned: %v pruned=%v evidence=%q", id, ferr, a.EvidencePruned, a.Evidence)
				}
			}
			if rep, err := db.Verify(); err != nil || !rep.OK {
				t.Fatalf("pruning broke the chain: %+v, %v", rep, err)
			}
		})
	}
}
