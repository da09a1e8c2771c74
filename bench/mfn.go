package main

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/doorface/doorface/vision"
)

// mfnBench measures the mobilefacenet engine beside the dlib pipeline and the baseline.
type mfnBench struct {
	pipe              *vision.Pipeline
	cfg               vision.Config
	templates         []vision.Entry
	threshold, margin float64
}

// mfnResult is one frame through the mobilefacenet engine.
type mfnResult struct {
	total, decode time.Duration
	an            vision.Analysis
	decision      string
}

// frame runs decode, analyze and the match against g on one JPEG, timed; ok is false when the
// frame could not be decoded or analysed.
func (m mfnBench) frame(jpg []byte, g *vision.Gallery) (mfnResult, bool) {
	t0 := time.Now()
	vf, err := vision.Decode(jpg, "image/jpeg", m.cfg)
	if err != nil {
		logf("mobilefacenet decode: %v", err)
		return mfnResult{}, false
	}
	r := mfnResult{decode: time.Since(t0)}
	r.an, err = m.pipe.Analyze(context.Background(), vf)
	vf.Close()
	if err != nil {
		logf("mobilefacenet analyze: %v", err)
		return mfnResult{}, false
	}
	if r.an.Quality == vision.QualityOK {
		if best, ok := g.Match(r.an.Descriptor); ok && best.Within(m.threshold, m.margin) {
			r.decision = best.UserID
		}
	}
	r.total = time.Since(t0)
	return r, true
}

// tracked times the same frame as a session's next (AnalyzeNear, the box moved by a tenth).
func (m mfnBench) tracked(jpg []byte, box image.Rectangle) (time.Duration, bool) {
	if box.Empty() {
		return 0, false
	}
	hint := box.Add(image.Pt(box.Dx()/10, box.Dy()/10))
	t0 := time.Now()
	vf, err := vision.Decode(jpg, "image/jpeg", m.cfg)
	if err != nil {
		return 0, false
	}
	_, err = m.pipe.AnalyzeNear(context.Background(), vf, hint)
	vf.Close()
	return time.Since(t0), err == nil
}

// engineTemplates enrolls every photo of dir with pipe (one template per photo whose face passes
// the gate), named like compose's.
func engineTemplates(pipe *vision.Pipeline, cfg vision.Config, dir string) ([]vision.Entry, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []vision.Entry
	for _, e := range ents {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if ext != ".jpg" && ext != ".jpeg" && ext != ".png" {
			continue
		}
		body, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ct := "image/jpeg"
		if ext == ".png" {
			ct = "image/png"
		}
		vf, err := vision.Decode(body, ct, cfg)
		if err != nil {
			return nil, err
		}
		a, err := pipe.Analyze(context.Background(), vf)
		vf.Close()
		if err != nil {
			return nil, err
		}
		if a.Faces == 1 && a.Quality == vision.QualityOK {
			id := vision.IdentityOf(name)
			out = append(out, vision.Entry{UserID: id, Name: id, TemplateID: name, Descriptor: a.Descriptor})
		}
	}
	return out, nil
}

// leaveOut is a gallery of every template but the photo's own.
func leaveOut(engine string, templates []vision.Entry, photo string) *vision.Gallery {
	var others []vision.Entry
	for _, t := range templates {
		if t.TemplateID != photo {
			others = append(others, t)
		}
	}
	g := vision.NewGallery(engine)
	g.Set(others)
	return g
}
