package vision

import (
	"context"
	"fmt"
	"image"
	"math"
	"path/filepath"

	"gocv.io/x/gocv"
)

// The liveness models (Silent-Face MiniFASNet V2 and V1SE, ONNX), loaded when Config.Liveness.
const (
	LivenessV2File   = "minifasnet_v2.onnx"
	LivenessV1SEFile = "minifasnet_v1se.onnx"
)

// livenessSpecs are the liveness models, pinned by SHA-256 (../shared/models/README.md).
var livenessSpecs = []modelSpec{
	{name: LivenessV2File, minSize: 1 << 20, prefix: []byte{0x08},
		sha256: "4eed38f0bde33c9b805942a5f25e42ce1161e2bda545254be622be957727794e"},
	{name: LivenessV1SEFile, minSize: 1 << 20, prefix: []byte{0x08},
		sha256: "d819a69bac6b9ade2a0f4d9b60b618e1260f7bf3ba1fddff6c5d82131cb1083f"},
}

// MiniFASNet's input, measured facts (../shared/models/README.md): the face box grown around
// its centre by the model's scale, shifted (not clipped) into the frame, resized to 80x80, BGR
// raw 0..255; softmax index 1 is "real".
const (
	livenessSide    = 80
	livenessV2Scale = 2.7
	livenessV1Scale = 4.0
	livenessReal    = 1
)

// CheckLivenessModels checks the two liveness model files in dir against their pinned SHA-256;
// the error wraps ErrModelMissing or ErrModelCorrupt and names the file and the fix.
func CheckLivenessModels(dir string) error {
	return checkSpecs(dir, livenessSpecs)
}

// livenessNets is one worker's pair of MiniFASNet networks (a gocv.Net is not safe for
// concurrent use).
type livenessNets struct {
	v2, v1se gocv.Net
}

func loadNet(path string) (gocv.Net, error) {
	net := gocv.ReadNetFromONNX(path)
	if net.Empty() {
		net.Close()
		return gocv.Net{}, fmt.Errorf("%w: %s: OpenCV's ONNX importer could not load it", ErrModelCorrupt, path)
	}
	if err := net.SetPreferableBackend(gocv.NetBackendOpenCV); err != nil {
		net.Close()
		return gocv.Net{}, fmt.Errorf("vision: liveness backend: %w", err)
	}
	if err := net.SetPreferableTarget(gocv.NetTargetCPU); err != nil {
		net.Close()
		return gocv.Net{}, fmt.Errorf("vision: liveness target: %w", err)
	}
	return net, nil
}

func newLivenessNets(dir string) (*livenessNets, error) {
	v2, err := loadNet(filepath.Join(dir, LivenessV2File))
	if err != nil {
		return nil, err
	}
	v1, err := loadNet(filepath.Join(dir, LivenessV1SEFile))
	if err != nil {
		v2.Close()
		return nil, err
	}
	return &livenessNets{v2: v2, v1se: v1}, nil
}

func (l *livenessNets) close() {
	l.v2.Close()
	l.v1se.Close()
}

// livenessCrop is the region of a frame of size sz a MiniFASNet model with the given scale sees
// for the face box: the box grown around its centre by scale (less when the frame is too small
// for it), shifted inside the frame rather than clipped.
func livenessCrop(box image.Rectangle, sz image.Point, scale float64) image.Rectangle {
	bw, bh := float64(box.Dx()), float64(box.Dy())
	if bw <= 0 || bh <= 0 {
		return image.Rectangle{}
	}
	scale = min(scale, float64(sz.Y-1)/bh, float64(sz.X-1)/bw)
	w, h := bw*scale, bh*scale
	cx, cy := float64(box.Min.X)+bw/2, float64(box.Min.Y)+bh/2
	x0, y0 := cx-w/2, cy-h/2
	x1, y1 := cx+w/2, cy+h/2
	if x0 < 0 {
		x1 -= x0
		x0 = 0
	}
	if y0 < 0 {
		y1 -= y0
		y0 = 0
	}
	if x1 > float64(sz.X-1) {
		x0 -= x1 - float64(sz.X-1)
		x1 = float64(sz.X - 1)
	}
	if y1 > float64(sz.Y-1) {
		y0 -= y1 - float64(sz.Y-1)
		y1 = float64(sz.Y - 1)
	}
	return image.Rect(int(x0), int(y0), int(x1)+1, int(y1)+1).Intersect(image.Rectangle{Max: sz})
}

// realOf runs one model on its crop of the face box and returns the softmax of "real".
func realOf(net *gocv.Net, src gocv.Mat, box image.Rectangle, scale float64) (float64, error) {
	r := livenessCrop(box, image.Pt(src.Cols(), src.Rows()), scale)
	if r.Empty() {
		return 0, fmt.Errorf("vision: liveness: empty crop for box %v", box)
	}
	roi := src.Region(r)
	defer roi.Close()
	crop := gocv.NewMat()
	defer crop.Close()
	gocv.Resize(roi, &crop, image.Pt(livenessSide, livenessSide), 0, 0, gocv.InterpolationLinear)
	blob := gocv.BlobFromImage(crop, 1.0, image.Pt(livenessSide, livenessSide), gocv.NewScalar(0, 0, 0, 0), false, false)
	defer blob.Close()
	net.SetInput(blob, "")
	out := net.Forward("")
	defer out.Close()
	logits, err := out.DataPtrFloat32()
	if err != nil {
		return 0, fmt.Errorf("vision: liveness: %w", err)
	}
	if len(logits) != 3 {
		return 0, fmt.Errorf("vision: liveness: %d outputs, want 3", len(logits))
	}
	return softmax3(logits, livenessReal), nil
}

// softmax3 is the softmax of the three logits at index i.
func softmax3(l []float32, i int) float64 {
	m := max(l[0], l[1], l[2])
	var sum float64
	for _, v := range l {
		sum += math.Exp(float64(v - m))
	}
	return math.Exp(float64(l[i]-m)) / sum
}

// score is the fused P(real) of the face box in src: the mean of the two models.
func (l *livenessNets) score(src gocv.Mat, box image.Rectangle) (float64, error) {
	a, err := realOf(&l.v2, src, box, livenessV2Scale)
	if err != nil {
		return 0, err
	}
	b, err := realOf(&l.v1se, src, box, livenessV1Scale)
	if err != nil {
		return 0, err
	}
	return (a + b) / 2, nil
}

// LivenessResult is ScoreLiveness's answer for one frame.
type LivenessResult struct {
	// Quality is the frame's quality verdict (Analysis.Quality); Score is valid when Scored, that
	// is when a face was found (whatever its quality).
	Quality string
	Box     image.Rectangle
	Score   float64
	Scored  bool
}

// ScoreLiveness detects the face in f and scores it with the liveness models, whatever the
// quality gate says (for `doorface liveness`). The pipeline must have been made with
// Config.Liveness.
func (p *Pipeline) ScoreLiveness(ctx context.Context, f *Frame) (LivenessResult, error) {
	if !p.cfg.Liveness {
		return LivenessResult{}, fmt.Errorf("%w: liveness scoring needs a pipeline with liveness on", ErrBadConfig)
	}
	a, err := p.run(ctx, f, MultiFaceLargest, false, false, image.Rectangle{})
	if err != nil {
		return LivenessResult{}, err
	}
	return LivenessResult{Quality: a.Quality, Box: a.Box, Score: a.Liveness, Scored: a.LivenessScored}, nil
}

// scoreLiveness fills a's liveness score when the pipeline scores liveness and a found a face the
// gate let through (or gate is off).
func (p *Pipeline) scoreLiveness(w *worker, f *Frame, a *Analysis, gate bool) error {
	if w.live == nil || a.Faces == 0 || a.Box.Empty() || (gate && a.Quality != QualityOK) {
		return nil
	}
	s, err := w.live.score(f.mat, a.Box)
	if err != nil {
		return err
	}
	a.Liveness, a.LivenessScored = s, true
	return nil
}

// PrintSize is the size of a frame's Print: 64x48 gray pixels sampled from the frame.
var PrintSize = image.Pt(64, 48)

// Print returns a small picture of the frame for recognizing a repeated frame (machine.SamePicture):
// its gray levels sampled (nearest pixel, not averaged: averaging removes the sensor noise that
// tells two captures of a still scene apart) on a PrintSize grid, whatever the frame's aspect, row
// by row. CALIBRATION.md ("Distinct captures") has the measured margins.
func (f *Frame) Print() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, fmt.Errorf("vision: print: frame %w", ErrClosed)
	}
	return printOf(f.mat, PrintSize)
}

func printOf(src gocv.Mat, sz image.Point) ([]byte, error) {
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(src, &gray, gocv.ColorBGRToGray)
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(gray, &small, sz, 0, 0, gocv.InterpolationNearestNeighbor)
	b, err := small.DataPtrUint8()
	if err != nil {
		return nil, fmt.Errorf("vision: print: %w", err)
	}
	return append([]byte(nil), b...), nil
}
