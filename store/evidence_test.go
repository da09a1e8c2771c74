package store

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/doorface/doorface/clock"
)

func TestRetention(t *testing.T) {
	const frame = 1000
	for _, tc := range []struct {
		name     string
		maxAge   time.Duration
		maxBytes int64
		pruneAt  time.Time
		wantKept []int // indexes (0..9) of the attempts whose frames survive
		byAge    int
		bySize   int
	}{
		{"nothing to prune", 30 * 24 * time.Hour, 1 << 20, t0.Add(10 * time.Hour), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0, 0},
		// Frame i is stored at t0+i hours; at t0+13h with a 6h age limit, 0..6 are too old.
		{"by age", 6 * time.Hour, 1 << 20, t0.Add(13 * time.Hour), []int{7, 8, 9}, 7, 0},
		// 10 frames of 1000 bytes under a 4500-byte cap: the oldest go first, already when
		// RecordAttempt stores a frame over the cap, so Prune finds nothing more.
		{"by bytes", 30 * 24 * time.Hour, 4500, t0.Add(10 * time.Hour), []int{6, 7, 8, 9}, 0, 0},
		{"by age then bytes", 5 * time.Hour, 4500, t0.Add(12 * time.Hour), []int{7, 8, 9}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			db := openTestDB(t, func(o *Options) {
				o.Clock, o.Retention.MaxAge, o.Retention.MaxBytes = clk, tc.maxAge, tc.maxBytes
			})
			for i := 0; i < 10; i++ {
				at := t0.Add(time.Duration(i) * time.Hour)
				a := sampleAttempt(fmt.Sprintf("s%d", i), at)
				a.End = at
				if _, err := db.RecordAttempt(a, bytes.Repeat([]byte{byte(i)}, frame)); err != nil {
					t.Fatal(err)
				}
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
