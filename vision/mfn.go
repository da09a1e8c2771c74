package vision

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"path/filepath"
	"time"

	"gocv.io/x/gocv"
)

// Tuning of the mobilefacenet engine that is not configuration; see CALIBRATION.md.
const (
	// yunetDetectWidth: frames wider than this are scaled to it for YuNet (Analyze). YuNet costs
	// about 5.6 ms at 320x240 and 25 ms at 640x480 on the build machine; a face at the door
	// is far larger than YuNet's smallest (about 10 px). Enroll detects at full resolution.
	yunetDetectWidth = 320
	// yunetFaceSide is the side a face box is scaled to when YuNet looks at it again for its
	// landmarks (refine). YuNet's landmarks depend on
	// the face's size in its input; on enroll-test, 96, 128, 160, 200 and 256 px gave the same
	// rates within one trial (CALIBRATION.md); 128 is cheap.
	yunetFaceSide = 128
	// refineMarginFrac is the margin, per side, as a fraction of the face box's size, of the
	// region refine looks at again: the region is twice the face, 256x256 pixels at
	// yunetFaceSide. On enroll-test, margins 0.4, 0.5, 0.6 and 0.75 gave the same rates at
	// thresholds 0.375-0.425 (CALIBRATION.md); 0.5 costs YuNet two thirds of 0.75's pixels.
	refineMarginFrac = 0.5
	// yunetTrackFaceSide is the side the hint box is scaled to when AnalyzeNear searches near
	// it (the face found there is then refined like a whole-frame detection).
	yunetTrackFaceSide = 64
	// yunetPadFrac pads the whole-frame detection image on every side by this fraction of its
	// shorter side: YuNet misses faces that fill the image (9 of the 50 enroll-test photos,
	// the 150 px crops, at 0; see CALIBRATION.md), and so a face region cut around a face.
	yunetPadFrac = 0.25
	// mfnSide is MobileFaceNet's input side; the aligned crop is mfnSide x mfnSide.
	mfnSide = 112
	// mfnMirror averages the embeddings of the aligned crop and its mirror image. The models
	// README measured a lower equal error rate with it on a larger set; on enroll-test it gave the
	// same frame and session rates at the chosen threshold and a higher pair EER (2.7% against
	// 1.4%), for a second network pass per frame (CALIBRATION.md). Off.
	mfnMirror = false
	// yawDepth and pitchDepth convert the landmark offsets into angles (see poseOf): the nose
	// tip's depth in front of the eyes and mouth, in inter-ocular distances.
	yawDepth   = 0.45
	pitchDepth = 0.45
	// frontalNoseRatio is the nose's height between the eye line and the mouth line on a
	// frontal face: the ArcFace reference points give (71.74-51.60)/(92.28-51.60) = 0.495.
	frontalNoseRatio = 0.495
)

// QualityTurnedAway is the Analysis.Quality of a face turned or tilted beyond Config.MaxYaw or
// Config.MaxPitch: the tablet can ask the person to look at the camera.
const QualityTurnedAway = "turned_away"

// arcface are the ArcFace reference positions of the 5 landmarks in the 112x112 crop.
var arcface = [5]point{{38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366}, {41.5493, 92.3655}, {70.7299, 92.2041}}

// newMFNWorker loads YuNet and MobileFaceNet for one worker.
func newMFNWorker(modelsDir string) (*worker, error) {
	yn, err := newYuNet(filepath.Join(modelsDir, YuNetFile))
	if err != nil {
		return nil, err
	}
	net, err := loadMobileFaceNet(filepath.Join(modelsDir, MobileFaceNetFile))
	if err != nil {
		yn.close()
		return nil, err
	}
	return &worker{yn: yn, net: net}, nil
}

// loadMobileFaceNet loads the MobileFaceNet ONNX file at path for OpenCV's own CPU backend.
func loadMobileFaceNet(path string) (*gocv.Net, error) {
	net := gocv.ReadNetFromONNX(path)
	if net.Empty() {
		net.Close()
		return nil, fmt.Errorf("%w: %s: OpenCV's ONNX importer could not load it", ErrModelCorrupt, path)
	}
	if err := net.SetPreferableBackend(gocv.NetBackendOpenCV); err != nil {
		net.Close()
		return nil, fmt.Errorf("vision: mobilefacenet backend: %w", err)
	}
	if err := net.SetPreferableTarget(gocv.NetTargetCPU); err != nil {
		net.Close()
		return nil, fmt.Errorf("vision: mobilefacenet target: %w", err)
	}
	return &net, nil
}

// yunetIn runs YuNet on src, the BGR pixels of area (frame coordinates), resized by scale when
// scale != 1 and padded by padFrac of its shorter side on every side, and returns the faces in
// frame coordinates, highest score first.
func (w *worker) yunetIn(src gocv.Mat, scale float64, area image.Rectangle, padFrac float64) ([]yface, error) {
	img := src
	if scale != 1 {
		small := gocv.NewMat()
		defer small.Close()
		sz := image.Pt(max(1, int(float64(area.Dx())*scale+0.5)), max(1, int(float64(area.Dy())*scale+0.5)))
		interp := gocv.InterpolationArea
		if scale > 1 {
			interp = gocv.InterpolationLinear
		}
		gocv.Resize(src, &small, sz, 0, 0, interp)
		img = small
	}
	pad := int(float64(min(img.Cols(), img.Rows())) * padFrac)
	if pad > 0 {
		padded := gocv.NewMat()
		defer padded.Close()
		gocv.CopyMakeBorder(img, &padded, pad, pad, pad, pad, gocv.BorderConstant, color.RGBA{})
		img = padded
	}
	found, err := w.yn.detect(img)
	if err != nil {
		return nil, err
	}
	for i := range found {
		found[i] = found[i].mapped(1, image.Pt(-pad, -pad)).mapped(scale, area.Min)
	}
	return found, nil
}

// yunetScale is the factor f is scaled by for whole-frame detection.
func yunetScale(f *Frame, full bool) float64 {
	if !full && f.size.X > yunetDetectWidth {
		return float64(yunetDetectWidth) / float64(f.size.X)
	}
	return 1
}

// yunetDetect finds the faces of f: at full resolution when full is set (enrollment), otherwise
// scaled to yunetDetectWidth.
func (p *Pipeline) yunetDetect(w *worker, f *Frame, full bool) ([]yface, error) {
	scale := yunetScale(f, full)
	faces, err := w.yunetIn(f.mat, scale, image.Rectangle{Max: f.size}, yunetPadFrac)
	if err != nil || len(faces) > 0 {
		return faces, err
	}
	// The padding shrinks YuNet's view of a face near the border: one enroll-test photo is
	// found only without it.
	return w.yunetIn(f.mat, scale, image.Rectangle{Max: f.size}, 0)
}

// yunetNear searches the region around hint (grown by trackMarginFrac per side), scaled so the
// hint box is yunetTrackFaceSide pixels.
func (p *Pipeline) yunetNear(w *worker, f *Frame, hint image.Rectangle) ([]yface, error) {
	mx, my := int(float64(hint.Dx())*trackMarginFrac), int(float64(hint.Dy())*trackMarginFrac)
	grown := image.Rect(hint.Min.X-mx, hint.Min.Y-my, hint.Max.X+mx, hint.Max.Y+my)
	region := grown.Intersect(image.Rectangle{Max: f.size})
	if region.Dx() < 32 || region.Dy() < 32 {
		return nil, nil
	}
	scale := min(1, float64(yunetTrackFaceSide)/float64(max(hint.Dx(), hint.Dy())))
	roi := f.mat.Region(region)
	defer roi.Close()
	found, err := w.yunetIn(roi, scale, region, yunetPadFrac)
	if err != nil {
		return nil, err
	}
	// YuNet also finds part of a face the region cuts (the dlib path's HOG does not). A face is
	// trusted only when it lies inside the region (the frame's own border does not count: a face
	// may be cut by it in every frame) and its size is within 2/3..3/2 of the hint's
	// (a face does not grow or shrink that much between frames 100 ms apart); otherwise the
	// whole frame is searched.
	side := float64(max(hint.Dx(), hint.Dy()))
	inner := found[:0]
	for _, fc := range found {
		b := fc.box()
		r := float64(max(b.Dx(), b.Dy())) / side
		if area(b.Intersect(grown))*10 >= area(b)*9 && r >= 2.0/3 && r <= 1.5 {
			inner = append(inner, fc)
		}
	}
	return inner, nil
}

// refine looks at the face fc (frame coordinates) again in a region of the frame around it
// scaled so the face is about yunetFaceSide pixels: YuNet's landmarks depend on the face's size
// in its input (measured: the same photo's embedding moved by a cosine distance of 0.2 between
// a 340 px and a 110 px face, and by 0.19-0.28 between other scales). It returns fc when the face already had about that size at
// detection scale, or when YuNet does not find it again.
func (p *Pipeline) refine(w *worker, f *Frame, fc yface, detectScale float64) (yface, error) {
	b := fc.box()
	if r := float64(max(b.Dx(), b.Dy())) * detectScale / yunetFaceSide; r > 0.8 && r < 1.25 {
		return fc, nil
	}
	mx, my := int(float64(b.Dx())*refineMarginFrac), int(float64(b.Dy())*refineMarginFrac)
	region := image.Rect(b.Min.X-mx, b.Min.Y-my, b.Max.X+mx, b.Max.Y+my).Intersect(image.Rectangle{Max: f.size})
	if region.Dx() < 32 || region.Dy() < 32 {
		return fc, nil
	}
	scale := float64(yunetFaceSide) / float64(max(b.Dx(), b.Dy()))
	roi := f.mat.Region(region)
	defer roi.Close()
	found, err := w.yunetIn(roi, scale, region, 0)
	if err != nil {
		return fc, err
	}
	best, bestOverlap := fc, area(b)/3
	for _, g := range found {
		if ov := area(g.box().Intersect(b)); ov > bestOverlap {
			best, bestOverlap = g, ov
		}
	}
	return best, nil
}

// analyzeMFN is analyzeWith for the mobilefacenet engine.
func (p *Pipeline) analyzeMFN(ctx context.Context, w *worker, f *Frame, multi string, gate, full bool, hint image.Rectangle) (Analysis, error) {
	var a Analysis
	t0 := time.Now()
	var faces []yface
	var err error
	detectScale := yunetScale(f, full)
	if !hint.Empty() && !full {
		faces, err = p.yunetNear(w, f, hint)
		a.Tracked = len(faces) > 0
		if a.Tracked {
			detectScale = min(1, float64(yunetTrackFaceSide)/float64(max(hint.Dx(), hint.Dy())))
		}
	}
	if err == nil && len(faces) == 0 {
		faces, err = p.yunetDetect(w, f, full)
	}
	if err == nil && len(faces) > 0 {
		faces[0], err = p.refine(w, f, faces[0], detectScale)
	}
	a.Timings.Detect = time.Since(t0)
	if err != nil {
		return a, err
	}
	a.Faces = len(faces)
	if len(faces) == 0 {
		a.Quality = QualityNoFace
		return a, nil
	}
	best := faces[0]
	a.Box = best.box().Intersect(image.Rectangle{Max: f.size})
	if a.Box.Empty() {
		a.Quality = QualityNoFace
		return a, nil
	}
	if len(faces) > 1 && multi == MultiFaceReject {
		a.Quality = QualityMultipleFaces
		return a, nil
	}
	a.Yaw, a.Pitch = poseOf(best.lm)
	a.Quality, a.Brightness, a.Sharpness = p.quality(f, a.Box)
	if a.Quality == QualityOK && (math.Abs(a.Yaw) > p.cfg.MaxYaw || math.Abs(a.Pitch) > p.cfg.MaxPitch) {
		a.Quality = QualityTurnedAway
	}
	if gate && a.Quality != QualityOK {
		return a, nil
	}
	t1 := time.Now()
	d, err := w.embed(f.mat, best.lm)
	a.Timings.Describe = time.Since(t1)
	if err != nil {
		return a, err
	}
	a.Descriptor = d
	_ = ctx
	return a, nil
}

// poseOf estimates the head's yaw and pitch, in degrees, from the 5 landmarks: the nose tip's
// offset from the midpoint of the eyes, along the eye line (yaw) and along the face's vertical
// axis relative to the mouth (pitch), in a frame that follows the eye line (so roll does not
// count). Positive yaw: the nose points to the image's right; positive pitch: looking down. The
// angles are rough (one nose depth for everyone), good for refusing strongly turned faces.
func poseOf(lm [5]point) (yaw, pitch float64) {
	re, le, nose := lm[0], lm[1], lm[2]
	ex, ey := le.X-re.X, le.Y-re.Y
	iod := math.Hypot(ex, ey)
	if iod < 1e-6 {
		return 90, 90
	}
	ux, uy := ex/iod, ey/iod // along the eye line
	vx, vy := -uy, ux        // down the face
	cx, cy := (re.X+le.X)/2, (re.Y+le.Y)/2
	mcx, mcy := (lm[3].X+lm[4].X)/2, (lm[3].Y+lm[4].Y)/2
	nx := ((nose.X-cx)*ux + (nose.Y-cy)*uy) / iod
	ny := ((nose.X-cx)*vx + (nose.Y-cy)*vy) / iod
	my := ((mcx-cx)*vx + (mcy-cy)*vy) / iod
	yaw = math.Atan(nx/yawDepth) * 180 / math.Pi
	if my < 1e-6 {
		return yaw, 90
	}
	pitch = math.Atan((ny/my-frontalNoseRatio)*my/pitchDepth) * 180 / math.Pi
	return yaw, pitch
}

// similarity returns the least-squares similarity transform (rotation, uniform scale,
// translation; Umeyama without reflection) taking src onto dst, as a 2x3 affine matrix.
func similarity(src, dst [5]point) [6]float64 {
	var sx, sy, dx, dy float64
	for i := range src {
		sx += src[i].X
		sy += src[i].Y
		dx += dst[i].X
		dy += dst[i].Y
	}
	n := float64(len(src))
	sx, sy, dx, dy = sx/n, sy/n, dx/n, dy/n
	var a, b, norm float64
	for i := range src {
		px, py := src[i].X-sx, src[i].Y-sy
		qx, qy := dst[i].X-dx, dst[i].Y-dy
		a += px*qx + py*qy
		b += px*qy - py*qx
		norm += px*px + py*py
	}
	if norm == 0 {
		return [6]float64{1, 0, dx - sx, 0, 1, dy - sy}
	}
	c, s := a/norm, b/norm
	return [6]float64{c, -s, dx - (c*sx - s*sy), s, c, dy - (s*sx + c*sy)}
}

// embed aligns the face with landmarks lm (frame coordinates) onto the ArcFace reference
// points in a 112x112 crop of src and returns MobileFaceNet's L2-normalised embedding (of the
// crop and its mirror image, averaged, when mfnMirror).
func (w *worker) embed(src gocv.Mat, lm [5]point) (Descriptor, error) {
	t := similarity(lm, arcface)
	m := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer m.Close()
	for i, v := range t {
		m.SetDoubleAt(i/3, i%3, v)
	}
	crop := gocv.NewMat()
	defer crop.Close()
	gocv.WarpAffineWithParams(src, &crop, m, image.Pt(mfnSide, mfnSide), gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{})
	d, err := w.forward(crop)
	if err != nil || !mfnMirror {
		return d, err
	}
	flipped := gocv.NewMat()
	defer flipped.Close()
	gocv.Flip(crop, &flipped, 1)
	d2, err := w.forward(flipped)
	if err != nil {
		return nil, err
	}
	for i := range d {
		d[i] += d2[i]
	}
	return normalized(d), nil
}

// forward runs MobileFaceNet on a 112x112 BGR crop: RGB, (pixel - 127.5) / 128.
func (w *worker) forward(crop gocv.Mat) (Descriptor, error) {
	blob := gocv.BlobFromImage(crop, 1.0/128, image.Pt(mfnSide, mfnSide), gocv.NewScalar(127.5, 127.5, 127.5, 0), true, false)
	defer blob.Close()
	w.net.SetInput(blob, "")
	out := w.net.Forward("")
	defer out.Close()
	if out.Total() != MobileFaceNetDims {
		return nil, fmt.Errorf("vision: mobilefacenet: output has %d values, want %d", out.Total(), MobileFaceNetDims)
	}
	vals, err := out.DataPtrFloat32()
	if err != nil {
		return nil, fmt.Errorf("vision: mobilefacenet: %w", err)
	}
	d := make(Descriptor, MobileFaceNetDims)
	copy(d, vals)
	return normalized(d), nil
}

// scaled reports whether Analyze detects faces in f at a reduced scale (so Enroll, which detects
// at full resolution, may find a slightly different box and landmarks).
func (f *Frame) scaled(cfg Config) bool {
	if cfg.Engine == EngineMobileFaceNet {
		return f.size.X > yunetDetectWidth
	}
	return f.size.X > cfg.DetectWidth
}
