package vision

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
)

// CalibrationRow is the error rates at one threshold. Per-frame rates come from leave-one-out
// over the labelled photos:
//
//   - PairFAR/PairFRR: every pair of photos is one trial (verification 1:1); a pair of the same
//     identity at distance >= Threshold is a false reject, a pair of different identities below
//     it a false accept.
//   - FAR: each photo is shown as a stranger to a gallery of every photo of the OTHER identities;
//     a false accept is a match below Threshold (with margin >= MinMargin).
//   - MisID: each photo of a multi-photo identity is shown to a gallery of all other photos
//     (its own identity enrolled from its other photos); a mis-identification is a match to
//     another identity.
//   - FRR: the same genuine trials not matched to their own identity (rejected or mis-identified).
//
// Session rates simulate the machine's session rule (machine/session.go): each usable frame
// votes for its accepted match (or for nobody), and the session is granted to a user as soon as
// k of the last n votes name that user. A session is n photos of one identity shown in one
// order; every order of every n-combination is simulated. Genuine sessions use a gallery of the
// identity's other photos (identities with at least n+1 photos) and fail when granted to nobody
// or to someone else (SessionMisIDs); impostor sessions use a gallery without the identity
// (identities with at least n photos) and are false accepts when granted to anyone.
type CalibrationRow struct {
	Threshold                          float64
	PairFAR, PairFRR                   float64
	FAR, MisID, FRR                    float64
	FalseAccepts, MisIDs, FalseRejects int
	SessionFAR, SessionFRR             float64
	SessionMisIDs                      int
}

// Calibration is the result of Calibrate.
type Calibration struct {
	Dir       string
	Engine    string
	MinMargin float64
	// Photos is the number of images found, Identities the number of distinct identities among
	// the described ones, Skipped the photos without a usable face (with the reason).
	Photos, Identities int
	Skipped            []string
	// Genuine and Impostor are all pairwise distances.
	Genuine, Impostor []float64
	// StrangerTrials and GenuineTrials are the per-frame trial counts; GenuineSessions and
	// ImpostorSessions the session counts.
	StrangerTrials, GenuineTrials     int
	GenuineSessions, ImpostorSessions int
	K, N                              int
	Rows                              []CalibrationRow
	// EER is the pairwise equal error rate, at EERThreshold.
	EER, EERThreshold float64
	// TargetFAR is the asked per-frame false accept rate; ThresholdAtFAR the largest threshold
	// (on a 0.005 grid) whose FAR, MisID and PairFAR are all at most TargetFAR, and AtFAR its row.
	TargetFAR      float64
	ThresholdAtFAR float64
	AtFAR          CalibrationRow

	// The trials, kept for Sequential.
	strangers, genuine []trial
	genSess, impSess   [][]trial
}

// SequentialRow is the sequential rule at one one-frame bound (machine.Config.ClearDistance):
// a usable frame closer than Clear with at least the clear margin decides alone, other matches
// need k of the last n.
type SequentialRow struct {
	Clear float64
	// FrameFalseAccepts: stranger trials the bound alone accepts (of StrangerTrials);
	// FrameMisIDs: genuine trials it alone grants to someone else; FrameDecides: genuine trials
	// it alone grants to their own identity (of GenuineTrials).
	FrameFalseAccepts, FrameMisIDs, FrameDecides int
	// SessionFAR, SessionFRR and SessionMisIDs are those of the sequential rule; MeanFrames is the
	// mean number of frames a granted genuine session needed.
	SessionFAR, SessionFRR float64
	SessionMisIDs          int
	MeanFrames             float64
}

// Sequential simulates the machine's sequential rule over the calibration's trials at the
// match threshold and margin, for each one-frame bound in clears (0 = off, the k-of-n rule
// alone) with clearMargin.
func (c *Calibration) Sequential(threshold, margin, clearMargin float64, clears []float64) []SequentialRow {
	var out []SequentialRow
	for _, clr := range clears {
		r := SequentialRow{Clear: clr}
		alone := func(t trial) bool {
			return clr > 0 && t.accepted(threshold, margin) && t.m.Distance < clr && t.m.Margin >= clearMargin
		}
		for _, t := range c.strangers {
			if alone(t) {
				r.FrameFalseAccepts++
			}
		}
		for _, t := range c.genuine {
			switch {
			case !alone(t):
			case t.m.UserID == t.id:
				r.FrameDecides++
			default:
				r.FrameMisIDs++
			}
		}
		falseGrants := 0
		for _, s := range c.impSess {
			if who, _ := sequentialGrant(s, threshold, margin, clr, clearMargin, c.K, c.N); who != "" {
				falseGrants++
			}
		}
		granted, frames := 0, 0
		for _, s := range c.genSess {
			who, n := sequentialGrant(s, threshold, margin, clr, clearMargin, c.K, c.N)
			switch {
			case who == "":
			case who == s[0].id:
				granted++
				frames += n
			default:
				r.SessionMisIDs++
			}
		}
		r.SessionFAR = ratio(falseGrants, len(c.impSess))
		r.SessionFRR = 1 - ratio(granted, len(c.genSess))
		if granted > 0 {
			r.MeanFrames = float64(frames) / float64(granted)
		}
		out = append(out, r)
	}
	return out
}

// sequentialGrant is the machine's sequential face rule (machine.countFrameLocked): frames in
// order; a frame within the threshold and margin votes; the session is granted to a frame's user
// when that frame is a clear match (distance below clear, margin at least clearMargin) or makes k
// of the last n votes. It returns the user and the frames used, "" when no frame decides.
func sequentialGrant(s []trial, thr, margin, clear, clearMargin float64, k, n int) (string, int) {
	var window []string
	for i, t := range s {
		v := ""
		if t.accepted(thr, margin) {
			v = t.m.UserID
		}
		window = append(window, v)
		if len(window) > n {
			window = window[len(window)-n:]
		}
		if v == "" {
			continue
		}
		if clear > 0 && t.m.Distance < clear && t.m.Margin >= clearMargin {
			return v, i + 1
		}
		count := 0
		for _, w := range window {
			if w == v {
				count++
			}
		}
		if count >= k {
			return v, i + 1
		}
	}
	return "", 0
}

// WriteSequential writes the Sequential rows as a table; configured marks the bound in force.
func (c *Calibration) WriteSequential(w io.Writer, threshold, margin, clearMargin, configured float64, rows []SequentialRow) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nsequential rule at threshold %.3f (margin %.3f): a frame closer than clear_distance with margin >= %.3f decides alone; others need %d of the last %d\n",
		threshold, margin, clearMargin, c.K, c.N)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clear_distance\tstrangers accepted alone\tgenuine misID alone\tgenuine decided alone\tsession FAR\tsession FRR\tsession misID\tframes to grant\t")
	for _, r := range rows {
		mark := ""
		if r.Clear == configured {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s%.3f\t%d/%d\t%d/%d\t%d/%d\t%s\t%s\t%d\t%.2f\t\n", mark, r.Clear, r.FrameFalseAccepts, c.StrangerTrials,
			r.FrameMisIDs, c.GenuineTrials, r.FrameDecides, c.GenuineTrials, pct(r.SessionFAR), pct(r.SessionFRR), r.SessionMisIDs, r.MeanFrames)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("* = the configured machine.clear_distance (0 = one-frame rule off)\n")
	_, err := io.WriteString(w, b.String())
	return err
}

var trailingDigits = regexp.MustCompile(`[0-9]+$`)

// IdentityOf returns the identity of a labelled photo: the file name without extension and
// trailing digits, lower-cased ("raj3.png" is "raj").
func IdentityOf(path string) string {
	base := filepath.Base(path)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	return strings.ToLower(trailingDigits.ReplaceAllString(base, ""))
}

type labelled struct {
	path, id string
	d        Descriptor
}

// trial is one probe's best match against one gallery.
type trial struct {
	id string // probe identity
	m  Match
	ok bool
}

func (t trial) accepted(thr, margin float64) bool {
	return t.ok && t.m.Distance < thr && t.m.Margin >= margin
}

// calibrationGrid is the range of thresholds of an engine's metric Calibrate reports (rows) and
// searches (0.005 steps).
func calibrationGrid(engine string) (rowLo, rowHi, searchLo, searchHi float64) {
	if engine == EngineMobileFaceNet {
		return 0.30, 0.80, 0.05, 1.2
	}
	return 0.30, 0.70, 0.2, 0.9
}

// Calibrate describes every JPEG/PNG in dir (identity = IdentityOf the file name) with p, and
// measures false accept and false reject rates over a range of thresholds, per frame and for
// k-of-n sessions, a match needing at least minMargin to the next user. It finds the pairwise equal error point and the
// largest threshold that keeps every per-frame false accept rate at or below targetFAR.
func Calibrate(ctx context.Context, p *Pipeline, dir string, targetFAR, minMargin float64, k, n int) (*Calibration, error) {
	if k < 1 || n < k {
		return nil, fmt.Errorf("vision: calibrate: need 1 <= k <= n, got k=%d n=%d", k, n)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("vision: calibrate: %w", err)
	}
	var paths []string
	for _, e := range ents {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".jpg", ".jpeg", ".png":
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(paths)
	engine := p.cfg.Engine
	c := &Calibration{Dir: dir, Engine: engine, MinMargin: minMargin, Photos: len(paths), K: k, N: n, TargetFAR: targetFAR}
	photos, skipped, err := describeAll(ctx, p, paths)
	if err != nil {
		return nil, err
	}
	c.Skipped = skipped
	byID := map[string][]int{}
	for i, ph := range photos {
		byID[ph.id] = append(byID[ph.id], i)
	}
	c.Identities = len(byID)
	if len(byID) < 2 {
		return nil, fmt.Errorf("vision: calibrate: %s: need photos of at least 2 identities, found %d", dir, len(byID))
	}
	for i := range photos {
		for j := i + 1; j < len(photos); j++ {
			d := Distance(engine, photos[i].d, photos[j].d)
			if photos[i].id == photos[j].id {
				c.Genuine = append(c.Genuine, d)
			} else {
				c.Impostor = append(c.Impostor, d)
			}
		}
	}
	sort.Float64s(c.Genuine)
	sort.Float64s(c.Impostor)

	// galleryWithout builds a gallery of every photo except those excluded.
	galleryWithout := func(skip func(i int) bool) *Gallery {
		var es []Entry
		for i, ph := range photos {
			if !skip(i) {
				es = append(es, Entry{UserID: ph.id, TemplateID: ph.path, Descriptor: ph.d})
			}
		}
		g := NewGallery(engine)
		if err := g.Set(es); err != nil {
			panic(err) // every descriptor comes from p: same engine, same length
		}
		return g
	}
	var strangers, genuine []trial
	for i, ph := range photos {
		g := galleryWithout(func(j int) bool { return photos[j].id == ph.id })
		m, ok := g.Match(ph.d)
		strangers = append(strangers, trial{id: ph.id, m: m, ok: ok})
		if len(byID[ph.id]) > 1 {
			g := galleryWithout(func(j int) bool { return j == i })
			m, ok := g.Match(ph.d)
			genuine = append(genuine, trial{id: ph.id, m: m, ok: ok})
		}
	}
	c.StrangerTrials, c.GenuineTrials = len(strangers), len(genuine)

	// Sessions: every n-combination of an identity's photos.
	var genSess, impSess [][]trial
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		idx := byID[id]
		if len(idx) < n {
			continue
		}
		gImp := galleryWithout(func(j int) bool { return photos[j].id == id })
		for _, combo := range orderings(combinations(idx, n)) {
			in := map[int]bool{}
			for _, i := range combo {
				in[i] = true
			}
			var imp, gen []trial
			var gGen *Gallery
			if len(idx) > n {
				gGen = galleryWithout(func(j int) bool { return in[j] })
			}
			for _, i := range combo {
				m, ok := gImp.Match(photos[i].d)
				imp = append(imp, trial{id: id, m: m, ok: ok})
				if gGen != nil {
					m, ok := gGen.Match(photos[i].d)
					gen = append(gen, trial{id: id, m: m, ok: ok})
				}
			}
			impSess = append(impSess, imp)
			if gGen != nil {
				genSess = append(genSess, gen)
			}
		}
	}
	c.GenuineSessions, c.ImpostorSessions = len(genSess), len(impSess)
	c.strangers, c.genuine, c.genSess, c.impSess = strangers, genuine, genSess, impSess

	row := func(thr float64) CalibrationRow {
		r := CalibrationRow{Threshold: thr}
		r.PairFRR = 1 - fracBelow(c.Genuine, thr)
		r.PairFAR = fracBelow(c.Impostor, thr)
		for _, t := range strangers {
			if t.accepted(thr, c.MinMargin) {
				r.FalseAccepts++
			}
		}
		for _, t := range genuine {
			switch {
			case !t.accepted(thr, c.MinMargin):
				r.FalseRejects++
			case t.m.UserID != t.id:
				r.MisIDs++
				r.FalseRejects++
			}
		}
		r.FAR = ratio(r.FalseAccepts, len(strangers))
		r.MisID = ratio(r.MisIDs, len(genuine))
		r.FRR = ratio(r.FalseRejects, len(genuine))
		falseGrants, _, _ := countSessions(impSess, thr, c.MinMargin, k, n)
		_, granted, misGranted := countSessions(genSess, thr, c.MinMargin, k, n)
		r.SessionMisIDs = misGranted
		r.SessionFAR = ratio(falseGrants, len(impSess))
		r.SessionFRR = 1 - ratio(granted, len(genSess))
		if len(genSess) == 0 {
			r.SessionFRR = math.NaN()
		}
		if len(impSess) == 0 {
			r.SessionFAR = math.NaN()
		}
		return r
	}
	rowLo, rowHi, searchLo, searchHi := calibrationGrid(engine)
	for thr := rowLo; thr < rowHi+0.005; thr += 0.025 {
		c.Rows = append(c.Rows, row(math.Round(thr*1000)/1000))
	}
	bestGap := math.Inf(1)
	for thr := searchLo; thr < searchHi; thr += 0.005 {
		thr = math.Round(thr*1000) / 1000
		r := row(thr)
		if gap := math.Abs(r.PairFAR - r.PairFRR); gap < bestGap {
			bestGap, c.EERThreshold, c.EER = gap, thr, (r.PairFAR+r.PairFRR)/2
		}
		if r.FAR <= targetFAR && r.MisID <= targetFAR && r.PairFAR <= targetFAR {
			c.ThresholdAtFAR, c.AtFAR = thr, r
		}
	}
	return c, nil
}

// describeAll computes a descriptor per photo in parallel over the pipeline's recognizers,
// without the quality gate (largest face when there are several).
func describeAll(ctx context.Context, p *Pipeline, paths []string) ([]labelled, []string, error) {
	type result struct {
		ph   labelled
		skip string
		err  error
	}
	results := make([]result, len(paths))
	var wg sync.WaitGroup
	sem := make(chan struct{}, p.cfg.Workers)
	for i, path := range paths {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := &results[i]
			body, err := os.ReadFile(path)
			if err != nil {
				r.err = fmt.Errorf("vision: calibrate: %w", err)
				return
			}
			ct := "image/jpeg"
			if strings.EqualFold(filepath.Ext(path), ".png") {
				ct = "image/png"
			}
			f, err := Decode(body, ct, p.cfg)
			if err != nil {
				r.skip = fmt.Sprintf("%s: %v", filepath.Base(path), err)
				return
			}
			defer f.Close()
			a, err := p.run(ctx, f, MultiFaceLargest, false, false, image.Rectangle{})
			if err != nil {
				r.err = fmt.Errorf("vision: calibrate: %s: %w", path, err)
				return
			}
			if a.Faces == 0 {
				r.skip = fmt.Sprintf("%s: no face found", filepath.Base(path))
				return
			}
			r.ph = labelled{path: path, id: IdentityOf(path), d: a.Descriptor}
		}()
	}
	wg.Wait()
	var photos []labelled
	var skipped []string
	var errs []error
	for _, r := range results {
		switch {
		case r.err != nil:
			errs = append(errs, r.err)
		case r.skip != "":
			skipped = append(skipped, r.skip)
		default:
			photos = append(photos, r.ph)
		}
	}
	return photos, skipped, errors.Join(errs...)
}

// countSessions runs the machine's session rule (sessionGrant) over sessions and counts those
// granted to anyone, to the session's own identity, and to another user.
func countSessions(sessions [][]trial, thr, margin float64, k, n int) (granted, own, other int) {
	for _, s := range sessions {
		votes := make([]string, len(s))
		for i, t := range s {
			if t.accepted(thr, margin) {
				votes[i] = t.m.UserID
			}
		}
		switch who := sessionGrant(votes, k, n); {
		case who == "":
		case who == s[0].id:
			granted++
			own++
		default:
			granted++
			other++
		}
	}
	return granted, own, other
}

// sessionGrant is the machine's face rule (machine.session.vote): frames vote in order for a user
// ("" for no match), and the session is granted to the user of the frame whose vote makes k of
// the last n votes name that user; "" when no frame does.
func sessionGrant(votes []string, k, n int) string {
	var window []string
	for _, v := range votes {
		window = append(window, v)
		if len(window) > n {
			window = window[len(window)-n:]
		}
		if v == "" {
			continue
		}
		count := 0
		for _, w := range window {
			if w == v {
				count++
			}
		}
		if count >= k {
			return v
		}
	}
	return ""
}

// orderings returns every order of every combination.
func orderings(combos [][]int) [][]int {
	var out [][]int
	for _, c := range combos {
		var rec func(cur, rest []int)
		rec = func(cur, rest []int) {
			if len(rest) == 0 {
				out = append(out, append([]int(nil), cur...))
				return
			}
			for i := range rest {
				next := append(append([]int(nil), rest[:i]...), rest[i+1:]...)
				rec(append(cur, rest[i]), next)
			}
		}
		rec(nil, c)
	}
	return out
}

func combinations(idx []int, n int) [][]int {
	var out [][]int
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		if len(cur) == n {
			out = append(out, append([]int(nil), cur...))
			return
		}
		for i := start; i < len(idx); i++ {
			rec(i+1, append(cur, idx[i]))
		}
	}
	rec(0, nil)
	return out
}

// fracBelow returns the fraction of sorted values strictly below thr.
func fracBelow(sorted []float64, thr float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return float64(sort.SearchFloat64s(sorted, thr)) / float64(len(sorted))
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func pct(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*x)
}

// WriteTable writes the calibration as a human-readable table.
func (c *Calibration) WriteTable(w io.Writer) error {
	var b strings.Builder
	metric := "Euclidean"
	if c.Engine == EngineMobileFaceNet {
		metric = "cosine"
	}
	fmt.Fprintf(&b, "calibration of %s with the %s engine (%s distance): %d photos, %d identities, %d skipped, min margin %.3f\n",
		c.Dir, c.Engine, metric, c.Photos, c.Identities, len(c.Skipped), c.MinMargin)
	for _, s := range c.Skipped {
		fmt.Fprintf(&b, "  skipped %s\n", s)
	}
	fmt.Fprintf(&b, "pairs: %d genuine, %d impostor; per frame: %d stranger trials, %d genuine trials; sessions (machine rule, %d of the last %d frames, every order): %d genuine, %d impostor\n",
		len(c.Genuine), len(c.Impostor), c.StrangerTrials, c.GenuineTrials, c.K, c.N, c.GenuineSessions, c.ImpostorSessions)
	if len(c.Genuine) > 0 && len(c.Impostor) > 0 {
		fmt.Fprintf(&b, "genuine distance: min %.3f median %.3f max %.3f; impostor distance: min %.3f median %.3f max %.3f\n",
			c.Genuine[0], c.Genuine[len(c.Genuine)/2], c.Genuine[len(c.Genuine)-1],
			c.Impostor[0], c.Impostor[len(c.Impostor)/2], c.Impostor[len(c.Impostor)-1])
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "threshold\tpair FAR\tpair FRR\tframe FAR\tmisID\tframe FRR\tsession FAR\tsession FRR\tsession misID\t")
	for _, r := range c.Rows {
		fmt.Fprintf(tw, "%.3f\t%s\t%s\t%s (%d)\t%s (%d)\t%s (%d)\t%s\t%s\t%d\t\n", r.Threshold, pct(r.PairFAR), pct(r.PairFRR),
			pct(r.FAR), r.FalseAccepts, pct(r.MisID), r.MisIDs, pct(r.FRR), r.FalseRejects, pct(r.SessionFAR), pct(r.SessionFRR), r.SessionMisIDs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nequal error rate (pairs): %s at threshold %.3f\n", pct(c.EER), c.EERThreshold)
	if c.ThresholdAtFAR > 0 {
		r := c.AtFAR
		fmt.Fprintf(&b, "threshold for per-frame FAR <= %s: %.3f (frame FAR %s, misID %s, pair FAR %s; frame FRR %s, pair FRR %s; session %d-of-%d FAR %s FRR %s)\n",
			pct(c.TargetFAR), c.ThresholdAtFAR, pct(r.FAR), pct(r.MisID), pct(r.PairFAR), pct(r.FRR), pct(r.PairFRR), c.K, c.N, pct(r.SessionFAR), pct(r.SessionFRR))
	} else {
		_, _, lo, hi := calibrationGrid(c.Engine)
		fmt.Fprintf(&b, "no threshold in %.3f..%.3f meets per-frame FAR <= %s\n", lo, hi, pct(c.TargetFAR))
	}
	if c.StrangerTrials > 0 {
		fmt.Fprintf(&b, "note: 0 false accepts in %d stranger trials bounds the true rate below %s only (95%%, rule of three)\n",
			c.StrangerTrials, pct(3/float64(c.StrangerTrials)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
