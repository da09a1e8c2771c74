package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/doorface/doorface/vision"
)

// bonaFideKind is the folder of `doorface liveness DIR` that holds live (bona fide) frames; every
// other folder is an attack kind.
const bonaFideKind = "live"

// livenessThresholds are the rows of the BPCER/APCER table (the configured threshold is added).
var livenessThresholds = []float64{0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98}

// livenessMain is `doorface liveness [--frames N] [--apcer X] DIR`: per-frame and per-session
// APCER of each attack kind and BPCER across thresholds, in ISO/IEC 30107-3 terms.
func livenessMain(args []string, stdout, stderr io.Writer) int {
	const usage = "liveness [--frames 5] [--apcer 0.01] DIR   (DIR/live/<person>/*.jpg bona fide, DIR/<attack-kind>/<person>/*.jpg attacks)"
	fs, cf := commandFlags("liveness", usage, "models")
	frames := fs.Int("frames", 0, "frames per session, consecutive in name order per person (default: machine.liveness_frames)")
	target := fs.Float64("apcer", 0.01, "target per-session APCER (every attack kind) for the suggested threshold")
	c, code, ok := loadCommand(fs, cf, args, stdout, stderr)
	if !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: doorface "+usage)
		return 2
	}
	n := *frames
	if n == 0 {
		n = c.Machine.LivenessFrames
	}
	if n < 1 || *target < 0 || *target >= 1 {
		fmt.Fprintln(stderr, "doorface: liveness: --frames must be >= 1 and --apcer in [0, 1)")
		return 2
	}
	set, err := readLivenessSet(fs.Arg(0))
	if err != nil {
		return fail(stderr, "liveness", err)
	}
	vc := c.Vision
	vc.Workers, vc.Liveness = 1, true
	pipe, err := vision.NewPipeline(c.Models, vc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return fail(stderr, "liveness", err)
	}
	defer pipe.Close()
	for i := range set {
		for j := range set[i].frames {
			fr := &set[i].frames[j]
			s, q, err := scoreFile(pipe, vc, fr.path)
			if err != nil {
				return fail(stderr, "liveness", fmt.Errorf("%s: %w", fr.path, err))
			}
			fr.score, fr.quality = s, q
		}
	}
	writeLivenessReport(stdout, set, n, c.Machine.LivenessThreshold, *target)
	return 0
}

// livenessFrame is one frame of the evaluation set: its score is -1 when no face was found.
type livenessFrame struct {
	path    string
	score   float64
	quality string
}

// livenessPerson is one person's frames of one kind, in name order.
type livenessPerson struct {
	kind, person string
	frames       []livenessFrame
}

// readLivenessSet lists DIR/<kind>/<person>/*.jpg|jpeg|png, kinds and people and frames in name
// order. It needs a "live" kind and at least one attack kind.
func readLivenessSet(dir string) ([]livenessPerson, error) {
	kinds, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []livenessPerson
	live, attacks := false, false
	for _, k := range kinds {
		if !k.IsDir() {
			continue
		}
		people, err := os.ReadDir(filepath.Join(dir, k.Name()))
		if err != nil {
			return nil, err
		}
		for _, p := range people {
			if !p.IsDir() {
				continue
			}
			files, err := os.ReadDir(filepath.Join(dir, k.Name(), p.Name()))
			if err != nil {
				return nil, err
			}
			lp := livenessPerson{kind: k.Name(), person: p.Name()}
			for _, f := range files {
				switch strings.ToLower(filepath.Ext(f.Name())) {
				case ".jpg", ".jpeg", ".png":
					lp.frames = append(lp.frames, livenessFrame{path: filepath.Join(dir, k.Name(), p.Name(), f.Name())})
				}
			}
			if len(lp.frames) == 0 {
				continue
			}
			out = append(out, lp)
			if k.Name() == bonaFideKind {
				live = true
			} else {
				attacks = true
			}
		}
	}
	if !live || !attacks {
		return nil, fmt.Errorf("%s: want %s/<person>/*.jpg (bona fide) and <attack-kind>/<person>/*.jpg folders, found live=%v attacks=%v",
			dir, bonaFideKind, live, attacks)
	}
	return out, nil
}

// scoreFile decodes one frame (EXIF orientation applied) and scores its face; -1 without one.
func scoreFile(p *vision.Pipeline, vc vision.Config, path string) (float64, string, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return 0, "", err
	}
	ct := "image/jpeg"
	if strings.EqualFold(filepath.Ext(path), ".png") {
		ct = "image/png"
	}
	f, err := vision.Decode(body, ct, vc)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	r, err := p.ScoreLiveness(context.Background(), f)
	if err != nil {
		return 0, "", err
	}
	if !r.Scored {
		return -1, r.Quality, nil
	}
	return r.Score, r.Quality, nil
}

// livenessSessions groups each person's frames into consecutive sessions of n (an incomplete
// last group is left out) and returns each session's mean score by kind; a frame without a face
// scores 0 in a session (it gave no evidence of life).
func livenessSessions(set []livenessPerson, n int) map[string][]float64 {
	out := map[string][]float64{}
	for _, p := range set {
		for i := 0; i+n <= len(p.frames); i += n {
			sum := 0.0
			for _, f := range p.frames[i : i+n] {
				sum += max(f.score, 0)
			}
			out[p.kind] = append(out[p.kind], sum/float64(n))
		}
	}
	return out
}

// livenessFrameScores returns the frame scores by kind (a frame without a face scores 0).
func livenessFrameScores(set []livenessPerson) (map[string][]float64, map[string]int) {
	out, noFace := map[string][]float64{}, map[string]int{}
	for _, p := range set {
		for _, f := range p.frames {
			if f.score < 0 {
				noFace[p.kind]++
			}
			out[p.kind] = append(out[p.kind], max(f.score, 0))
		}
	}
	return out, noFace
}

// errorRate counts the scores on the wrong side of thr: for attacks those >= thr (accepted), for
// bona fide those < thr (rejected).
func errorRate(scores []float64, thr float64, attack bool) (int, int) {
	bad := 0
	for _, s := range scores {
		if (s >= thr) == attack {
			bad++
		}
	}
	return bad, len(scores)
}

// rateText is "k/n = p%", with the 95% upper bound 3/n when k is 0 (the rule of three).
func rateText(k, n int) string {
	switch {
	case n == 0:
		return "-"
	case k == 0:
		return fmt.Sprintf("0/%d (<=%.1f%%)", n, 100*math.Min(1, 3/float64(n)))
	}
	return fmt.Sprintf("%d/%d = %.1f%%", k, n, 100*float64(k)/float64(n))
}

// writeLivenessReport prints the tables.
func writeLivenessReport(w io.Writer, set []livenessPerson, n int, configured, target float64) {
	frames, noFace := livenessFrameScores(set)
	sessions := livenessSessions(set, n)
	var kinds []string
	for k := range frames {
		if k != bonaFideKind {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	fmt.Fprintf(w, "liveness evaluation (ISO/IEC 30107-3 terms): sessions of %d frames, consecutive in name order per person\n", n)
	fmt.Fprintf(w, "bona fide (%s): %d frames (%d without a face), %d sessions\n", bonaFideKind,
		len(frames[bonaFideKind]), noFace[bonaFideKind], len(sessions[bonaFideKind]))
	for _, k := range kinds {
		fmt.Fprintf(w, "attack %q: %d frames (%d without a face), %d sessions\n", k, len(frames[k]), noFace[k], len(sessions[k]))
	}
	fmt.Fprintln(w, "\nAPCER: attacks accepted (score >= threshold); BPCER: bona fide rejected. 0/n shows the 95% upper bound 3/n.")
	fmt.Fprintln(w, "A frame without a face scores 0.")
	thresholds := slices.Clone(livenessThresholds)
	if !slices.Contains(thresholds, configured) {
		thresholds = append(thresholds, configured)
		slices.Sort(thresholds)
	}
	for _, unit := range []struct {
		name   string
		scores map[string][]float64
	}{{"per frame", frames}, {fmt.Sprintf("per session (mean of %d frames)", n), sessions}} {
		fmt.Fprintf(w, "\n%s\n", unit.name)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "threshold\tBPCER\t")
		for _, k := range kinds {
			fmt.Fprintf(tw, "APCER %s\t", k)
		}
		fmt.Fprintln(tw)
		for _, thr := range thresholds {
			mark := ""
			if thr == configured {
				mark = "*"
			}
			fmt.Fprintf(tw, "%s%.2f\t%s\t", mark, thr, rateText(errorRate(unit.scores[bonaFideKind], thr, false)))
			for _, k := range kinds {
				fmt.Fprintf(tw, "%s\t", rateText(errorRate(unit.scores[k], thr, true)))
			}
			fmt.Fprintln(tw)
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(w, "\n* = the configured machine.liveness_threshold\n")
	thr, ok := thresholdForAPCER(sessions, kinds, target)
	if !ok {
		fmt.Fprintf(w, "no threshold below 1 keeps every attack kind's per-session APCER <= %.1f%%\n", 100*target)
		return
	}
	k, m := errorRate(sessions[bonaFideKind], thr, false)
	fmt.Fprintf(w, "threshold for per-session APCER <= %.1f%% (every attack kind): %.2f (session BPCER %s)\n", 100*target, thr, rateText(k, m))
}

// thresholdForAPCER is the lowest threshold on a 0.01 grid at which every attack kind's
// per-session APCER is at most target.
func thresholdForAPCER(sessions map[string][]float64, kinds []string, target float64) (float64, bool) {
	for i := 1; i < 100; i++ {
		thr := float64(i) / 100
		ok := true
		for _, k := range kinds {
			bad, n := errorRate(sessions[k], thr, true)
			if n > 0 && float64(bad)/float64(n) > target {
				ok = false
				break
			}
		}
		if ok {
			return thr, true
		}
	}
	return 0, false
}
