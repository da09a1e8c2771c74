package vision

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	face "github.com/Kagami/go-face"
	"gocv.io/x/gocv"
)

// Quality verdicts, the values of Analysis.Quality.
const (
	QualityOK            = "ok"
	QualityNoFace        = "no_face"
	QualityMultipleFaces = "multiple_faces"
	QualityTooSmall      = "too_small"
	QualityTooDark       = "too_dark"
	QualityTooBright     = "too_bright"
	QualityBlurry        = "blurry"
)

// Pipeline tuning that is not configuration: measured once, see CALIBRATION.md.
const (
	// detectPadFrac pads the detection image on every side by this fraction of its shorter side,
	// for faces that touch the border. Measured on ../shared/faces: HOG found the same 49 of 50
	// enroll-test faces and the same group faces at 0, 0.1, 0.25 and 0.4 (the 150 px crops leave
	// enough border); 0.1 is kept as cheap insurance (+2% detect time; 0.25 costs +28%).
	detectPadFrac = 0.1
	// cropMarginFrac is the margin added around the face box, per side, as a fraction of its size,
	// when the face is cropped from the full-resolution frame for the descriptor.
	cropMarginFrac = 0.5
	// cropFaceSide is the face box side the crop is scaled to (about the 150 px chip dlib aligns
	// to, so the crop is about 2x the chip).
	cropFaceSide = 150
	// sharpSide is the side the face region is scaled to before the Laplacian, so the sharpness
	// score does not depend on the frame's resolution.
	sharpSide = 150
	// trackMarginFrac is the margin, per side, as a fraction of the hint box's size, of the region
	// AnalyzeNear searches first: a face moves little between frames 100 ms apart.
	trackMarginFrac = 0.75
	// trackFaceSide is the side the hint box is scaled to in that search: HOG's smallest face is
	// about 80 px, so a face that shrank by a third since the hint is still found.
	trackFaceSide = 120
	// detectJPEGQuality and cropJPEGQuality are the qualities of the JPEGs handed to go-face.
	detectJPEGQuality = 90
	cropJPEGQuality   = 95
)

// Descriptor is a face descriptor: dlib's 128 values (EngineDlib, compared by Euclidean
// distance) or MobileFaceNet's 192 (EngineMobileFaceNet, unit length, compared by cosine
// distance). Descriptors of different engines are never compared (Gallery refuses them).
type Descriptor []float32

// descOf copies a go-face descriptor.
func descOf(d face.Descriptor) Descriptor { return append(Descriptor(nil), d[:]...) }

// Timings are the durations of the two expensive stages of Analyze.
type Timings struct {
	// Detect covers scaling to gray and dlib's HOG detector run directly on the pixels (with
	// DetectorCNN: encoding and go-face's CNN pass, which also computes descriptors).
	Detect time.Duration
	// Describe covers cropping the face, encoding the crop and go-face's landmarks and
	// descriptor on it; zero when the frame was refused before it.
	Describe time.Duration
	// Liveness covers the two liveness models; zero when not scored.
	Liveness time.Duration
}

// Analysis is the verdict on one frame.
type Analysis struct {
	// Quality is one of the Quality* constants.
	Quality string
	// Faces is the number of faces detected.
	Faces int
	// Box is the chosen face in frame coordinates (empty when Faces == 0).
	Box image.Rectangle
	// Brightness is the mean gray level (0..255) of the face region, Sharpness the variance of
	// its Laplacian; both are zero when Faces == 0 or when the face was rejected before they
	// were measured.
	Brightness, Sharpness float64
	// Yaw and Pitch are the head pose in degrees estimated from the 5 landmarks (poseOf); zero
	// with the dlib engine, whose detector gives no landmarks.
	Yaw, Pitch float64
	// Descriptor is valid iff Quality == QualityOK.
	Descriptor Descriptor
	// Liveness is the face's P(real) from the two MiniFASNet models (the mean of their softmax
	// "real"), valid when LivenessScored: with Config.Liveness, for every face the quality gate
	// let through.
	Liveness       float64
	LivenessScored bool
	// Tracked is set when the face was found near AnalyzeNear's hint, without a search of the
	// whole frame.
	Tracked bool
	// Timings are the stage durations.
	Timings Timings
}

// Pipeline turns Frames into Analyses with a pool of go-face recognizers. It is safe for
// concurrent use; each call holds one recognizer for its duration.
type Pipeline struct {
	cfg    Config
	logger *slog.Logger
	pool   chan *worker
	done   chan struct{}

	// mu guards everything that follows.
	mu     sync.Mutex
	closed bool
}

// worker is what one Analyze call holds. dlib engine: a go-face recognizer (landmarks and
// descriptor, and the CNN detector) and a HOG detector of its own. mobilefacenet engine: a YuNet
// detector and a MobileFaceNet network of its own (neither is safe for concurrent use).
type worker struct {
	rec *face.Recognizer
	hog *hogDetector
	yn  *yunet
	net *gocv.Net
	// live is the worker's pair of liveness networks (Config.Liveness), nil otherwise.
	live *livenessNets
}

func (w *worker) close() {
	if w.rec != nil {
		w.rec.Close()
	}
	if w.hog != nil {
		w.hog.close()
	}
	if w.yn != nil {
		w.yn.close()
	}
	if w.net != nil {
		w.net.Close()
	}
	if w.live != nil {
		w.live.close()
	}
}

// NewPipeline checks the model files of cfg.Engine in modelsDir (CheckModels) and loads
// cfg.Workers workers, each with its own copy of the engine's models (see doc.go for the memory
// cost). The other engine's models are neither checked nor loaded.
func NewPipeline(modelsDir string, cfg Config, log *slog.Logger) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckModels(modelsDir, cfg.Engine); err != nil {
		return nil, err
	}
	if cfg.Liveness {
		if err := CheckLivenessModels(modelsDir); err != nil {
			return nil, err
		}
	}
	logger := log
	if logger == nil {
		logger = slog.Default()
	}
	p := &Pipeline{
		cfg:    cfg,
		logger: logger.With("component", "vision"),
		pool:   make(chan *worker, cfg.Workers),
		done:   make(chan struct{}),
	}
	start := time.Now()
	if cfg.Engine == EngineMobileFaceNet {
		// Debian's OpenCV runs its parallel loops on TBB: one pool of threads, shared by every
		// worker's calls (cv::setNumThreads is process-wide). With one thread per core a lone frame (the usual case at a door: one session,
		// 10 fps) uses every core, and frames analysed at once share them: measured on the 2-core
		// build machine, 1280x720 with liveness, one caller 24 -> 36 fps, two callers 45 fps
		// either way (1 or 2 threads).
		threads := runtime.NumCPU()
		setCVThreads(threads)
		for i := 0; i < cfg.Workers; i++ {
			w, err := newMFNWorker(modelsDir)
			if err == nil {
				err = p.addLiveness(w, modelsDir)
			}
			if err != nil {
				p.closeRecognizers(i)
				return nil, err
			}
			p.pool <- w
		}
		p.logger.Info("recognizers loaded", "engine", cfg.Engine, "workers", cfg.Workers,
			"opencv_threads", threads, "seconds", time.Since(start).Seconds())
		return p, nil
	}
	// One recognizer per core, one BLAS thread per recognizer (see setBLASThreads), unless
	// OPENBLAS_NUM_THREADS says otherwise.
	openblas := false
	if os.Getenv("OPENBLAS_NUM_THREADS") == "" {
		openblas = setBLASThreads(1)
	}
	for i := 0; i < cfg.Workers; i++ {
		rec, err := face.NewRecognizer(modelsDir)
		if err != nil {
			p.closeRecognizers(i)
			return nil, fmt.Errorf("%w: loading models from %s: %v", ErrModelCorrupt, modelsDir, err)
		}
		hog, err := newHOGDetector()
		if err != nil {
			rec.Close()
			p.closeRecognizers(i)
			return nil, err
		}
		w := &worker{rec: rec, hog: hog}
		if err := p.addLiveness(w, modelsDir); err != nil {
			p.closeRecognizers(i)
			return nil, err
		}
		p.pool <- w
	}
	p.logger.Info("recognizers loaded", "engine", cfg.Engine, "workers", cfg.Workers, "detector", cfg.Detector,
		"openblas_single_thread", openblas, "seconds", time.Since(start).Seconds())
	return p, nil
}

// addLiveness gives w its liveness networks when the pipeline scores liveness; on error w is
// closed.
func (p *Pipeline) addLiveness(w *worker, modelsDir string) error {
	if !p.cfg.Liveness {
		return nil
	}
	live, err := newLivenessNets(modelsDir)
	if err != nil {
		w.close()
		return err
	}
	w.live = live
	return nil
}

// Config returns the pipeline's configuration.
func (p *Pipeline) Config() Config { return p.cfg }

// Close waits for in-flight calls to return their recognizers, then frees them. Calls blocked
// waiting for a recognizer return ErrClosed. Close is safe to call more than once.
func (p *Pipeline) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	p.closeRecognizers(p.cfg.Workers)
}

func (p *Pipeline) closeRecognizers(n int) {
	for i := 0; i < n; i++ {
		w := <-p.pool
		w.close()
	}
}

// acquire takes a recognizer from the pool, or fails when ctx ends or the pipeline closes.
func (p *Pipeline) acquire(ctx context.Context) (*worker, error) {
	select {
	case <-p.done:
		return nil, ErrClosed
	default:
	}
	select {
	case rec := <-p.pool:
		select {
		case <-p.done:
			p.pool <- rec
			return nil, ErrClosed
		default:
			return rec, nil
		}
	case <-p.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("vision: waiting for a recognizer: %w", ctx.Err())
	}
}

// Analyze detects the face in f, applies the quality gate and, when the face passes, computes
// its descriptor. It blocks until a recognizer is free or ctx ends. A frame the gate refuses is
// not an error: the reason is in Analysis.Quality.
func (p *Pipeline) Analyze(ctx context.Context, f *Frame) (Analysis, error) {
	return p.run(ctx, f, p.cfg.MultiFace, true, false, image.Rectangle{})
}

// AnalyzeNear is Analyze for the next frame of a session: hint is the face box of the session's
// previous frame (Analysis.Box), and the face is searched for first in a region around it, at a
// scale where the hint box is trackFaceSide pixels (a few milliseconds instead of a search of the
// whole frame). When no face is found there, the whole frame is searched as by Analyze. An empty
// hint is Analyze.
//
// Faces outside the searched region are not seen: a frame whose region holds one face passes
// the MultiFace policy even if someone else stands further away. Every session's first frame,
// and every frame after one without a face, is searched whole.
func (p *Pipeline) AnalyzeNear(ctx context.Context, f *Frame, hint image.Rectangle) (Analysis, error) {
	return p.run(ctx, f, p.cfg.MultiFace, true, false, hint)
}

// Enroll computes the descriptor of the one face in f for a new template. It detects at the
// photo's full resolution, so a face too small for Analyze's detection scale still counts, and
// refuses a photo with no face (ErrNoFace), several faces (ErrMultipleFaces, whatever
// Config.MultiFace says) or a face that fails the quality gate (ErrLowQuality, wrapped with the
// reason).
func (p *Pipeline) Enroll(ctx context.Context, f *Frame) (Descriptor, error) {
	a, err := p.run(ctx, f, MultiFaceReject, true, true, image.Rectangle{})
	if err != nil {
		return nil, err
	}
	if err := enrollRefusal(a); err != nil {
		return nil, err
	}
	return a.Descriptor, nil
}

// run holds a recognizer for one analysis. With gate false the descriptor is computed even
// for a face that fails the quality gate (calibration measures every photo); with full set the
// faces are detected at the frame's full resolution (enrollment).
func (p *Pipeline) run(ctx context.Context, f *Frame, multi string, gate, full bool, hint image.Rectangle) (Analysis, error) {
	w, err := p.acquire(ctx)
	if err != nil {
		return Analysis{}, err
	}
	defer func() { p.pool <- w }()
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return Analysis{}, fmt.Errorf("vision: analyze: frame %w", ErrClosed)
	}
	var a Analysis
	if p.cfg.Engine == EngineMobileFaceNet {
		a, err = p.analyzeMFN(ctx, w, f, multi, gate, full, hint)
	} else {
		a, err = p.analyzeWith(ctx, w, f, multi, gate, full, hint)
	}
	if err != nil || full {
		return a, err
	}
	t := time.Now()
	err = p.scoreLiveness(w, f, &a, gate)
	if a.LivenessScored {
		a.Timings.Liveness = time.Since(t)
	}
	return a, err
}

// detected is one face from the detection pass, in frame coordinates. desc is set only by the
// go-face passes (DetectorCNN, and the fallback of describeWhole).
type detected struct {
	box     image.Rectangle
	desc    Descriptor
	hasDesc bool
}

// detectScale returns the factor f is scaled by for detection and the scaled size.
func (p *Pipeline) detectScale(f *Frame) (float64, image.Point) {
	w, h := f.size.X, f.size.Y
	if w <= p.cfg.DetectWidth {
		return 1, f.size
	}
	scale := float64(p.cfg.DetectWidth) / float64(w)
	return scale, image.Pt(p.cfg.DetectWidth, max(1, int(float64(h)*scale+0.5)))
}

// toFrame maps a box found at detection scale, on an image padded by pad, back to f.
func toFrame(r image.Rectangle, pad int, scale float64, size image.Point) image.Rectangle {
	r = r.Sub(image.Pt(pad, pad))
	return image.Rect(int(float64(r.Min.X)/scale), int(float64(r.Min.Y)/scale),
		int(float64(r.Max.X)/scale), int(float64(r.Max.Y)/scale)).Intersect(image.Rectangle{Max: size})
}

// detect finds the faces of f. A frame wider than cfg.DetectWidth, with DetectorHOG, goes to
// dlib's HOG detector as a gray copy scaled to cfg.DetectWidth and padded: no JPEG, no
// descriptors (describe crops the face from the full frame). Other frames go to go-face whole,
// as a padded JPEG, whose one pass gives the boxes and the descriptors at the frame's own
// resolution (the calibration photos take this path).
func (p *Pipeline) detect(w *worker, f *Frame, full bool) ([]detected, error) {
	scale, sz := p.detectScale(f)
	if full && scale != 1 && p.cfg.Detector == DetectorHOG {
		// Enrollment: HOG on the whole frame at full resolution.
		return w.hogIn(f.mat, 1, f.size, image.Rectangle{Max: f.size})
	}
	if p.cfg.Detector == DetectorCNN || scale == 1 {
		return p.detectGoFace(w, f)
	}
	// No padding here (detectPadFrac is for go-face's pass): on the 1024 px photos of
	// ../shared/faces and the groups, HOG found the same 33 faces with and without it, and the
	// 10% padding cost 25-35% more detection time.
	return w.hogIn(f.mat, scale, sz, image.Rectangle{Max: f.size})
}

// hogIn runs dlib's HOG detector on src, the BGR pixels of area (frame coordinates), converted to
// gray and resized to sz when scale != 1, and returns the faces found in frame coordinates.
func (w *worker) hogIn(src gocv.Mat, scale float64, sz image.Point, area image.Rectangle) ([]detected, error) {
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(src, &gray, gocv.ColorBGRToGray)
	if scale != 1 {
		small := gocv.NewMat()
		defer small.Close()
		gocv.Resize(gray, &small, sz, 0, 0, gocv.InterpolationArea)
		gray, small = small, gray
	}
	boxes, err := w.hog.detect(gray)
	if err != nil {
		return nil, err
	}
	var faces []detected
	for _, r := range boxes {
		if box := toFrame(r, 0, scale, area.Size()).Add(area.Min); !box.Empty() {
			faces = append(faces, detected{box: box})
		}
	}
	return faces, nil
}

// detectNear runs the HOG detector on the region around hint (grown by trackMarginFrac per
// side), scaled so the hint box is trackFaceSide pixels (never enlarged).
func (p *Pipeline) detectNear(w *worker, f *Frame, hint image.Rectangle) ([]detected, error) {
	mx, my := int(float64(hint.Dx())*trackMarginFrac), int(float64(hint.Dy())*trackMarginFrac)
	region := image.Rect(hint.Min.X-mx, hint.Min.Y-my, hint.Max.X+mx, hint.Max.Y+my).Intersect(image.Rectangle{Max: f.size})
	if region.Dx() < 80 || region.Dy() < 80 {
		return nil, nil
	}
	scale := min(1, float64(trackFaceSide)/float64(max(hint.Dx(), hint.Dy())))
	roi := f.mat.Region(region)
	defer roi.Close()
	sz := image.Pt(max(1, int(float64(region.Dx())*scale+0.5)), max(1, int(float64(region.Dy())*scale+0.5)))
	return w.hogIn(roi, scale, sz, region)
}

// detectGoFace runs go-face (with the configured detector) on a padded JPEG of f scaled to
// cfg.DetectWidth: the faces come with go-face's landmarks and descriptors.
func (p *Pipeline) detectGoFace(w *worker, f *Frame) ([]detected, error) {
	scale, sz := p.detectScale(f)
	src := f.mat
	if scale != 1 {
		small := gocv.NewMat()
		defer small.Close()
		gocv.Resize(f.mat, &small, sz, 0, 0, gocv.InterpolationArea)
		src = small
	}
	pad := int(float64(min(sz.X, sz.Y)) * detectPadFrac)
	padded := gocv.NewMat()
	defer padded.Close()
	gocv.CopyMakeBorder(src, &padded, pad, pad, pad, pad, gocv.BorderConstant, color.RGBA{})
	jpg, err := encodeJPEG(padded, detectJPEGQuality)
	if err != nil {
		return nil, err
	}
	var found []face.Face
	if p.cfg.Detector == DetectorCNN {
		found, err = w.rec.RecognizeCNN(jpg)
	} else {
		found, err = w.rec.Recognize(jpg)
	}
	if err != nil {
		return nil, fmt.Errorf("vision: detect: %w", err)
	}
	var faces []detected
	for _, fc := range found {
		if box := toFrame(fc.Rectangle, pad, scale, f.size); !box.Empty() {
			faces = append(faces, detected{box: box, desc: descOf(fc.Descriptor), hasDesc: true})
		}
	}
	return faces, nil
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }

// analyzeWith analyses f with w. ctx only carries WithLogAttrs attributes here: the logger that
// adds them is built at the rare log line, not for every frame.
func (p *Pipeline) analyzeWith(ctx context.Context, w *worker, f *Frame, multi string, gate, full bool, hint image.Rectangle) (Analysis, error) {
	var a Analysis
	t0 := time.Now()
	var faces []detected
	var err error
	if !hint.Empty() && !full && p.cfg.Detector == DetectorHOG {
		faces, err = p.detectNear(w, f, hint)
		a.Tracked = len(faces) > 0
	}
	if err == nil && len(faces) == 0 {
		faces, err = p.detect(w, f, full)
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
	for _, fc := range faces[1:] {
		if area(fc.box) > area(best.box) {
			best = fc
		}
	}
	a.Box = best.box
	if len(faces) > 1 && multi == MultiFaceReject {
		a.Quality = QualityMultipleFaces
		return a, nil
	}
	a.Quality, a.Brightness, a.Sharpness = p.quality(f, best.box)
	if gate && a.Quality != QualityOK {
		return a, nil
	}
	t1 := time.Now()
	d, ok, err := p.describe(w, f, best)
	a.Timings.Describe = time.Since(t1)
	if err != nil {
		return a, err
	}
	if !ok {
		p.loggerFor(ctx).Debug("face not described: go-face did not find it again", "box", best.box.String())
		a.Quality = QualityNoFace
		return a, nil
	}
	a.Descriptor = d
	return a, nil
}

// quality applies the size, brightness and sharpness gate to the face box and returns the
// verdict and the measures (zero when the face is too small to measure).
func (p *Pipeline) quality(f *Frame, box image.Rectangle) (q string, brightness, sharpness float64) {
	if min(box.Dx(), box.Dy()) < p.cfg.MinFaceSize {
		return QualityTooSmall, 0, 0
	}
	brightness, sharpness = measure(f.mat, box)
	switch {
	case brightness < p.cfg.MinBrightness:
		return QualityTooDark, brightness, sharpness
	case brightness > p.cfg.MaxBrightness:
		return QualityTooBright, brightness, sharpness
	case sharpness < p.cfg.MinSharpness:
		return QualityBlurry, brightness, sharpness
	}
	return QualityOK, brightness, sharpness
}

// describe computes the descriptor of the detected face: from a crop (describeCrop), or, when
// go-face does not find the face again in its crop, from the whole detection-scaled frame, as
// the pipeline did before it had a detector of its own. ok is false when go-face finds it in
// neither.
func (p *Pipeline) describe(w *worker, f *Frame, best detected) (Descriptor, bool, error) {
	scale, _ := p.detectScale(f)
	if scale == 1 && best.hasDesc {
		return best.desc, true, nil
	}
	d, ok, err := p.describeCrop(w, f, best.box, scale != 1)
	if err != nil || ok {
		return d, ok, err
	}
	if !best.hasDesc {
		all, err := p.detectGoFace(w, f)
		if err != nil {
			return nil, false, err
		}
		bestOverlap := 0
		for _, fc := range all {
			if ov := area(fc.box.Intersect(best.box)); ov > bestOverlap {
				bestOverlap, best = ov, fc
			}
		}
	}
	return best.desc, best.hasDesc, nil
}

// cropRect returns the face box grown by cropMarginFrac per side, clamped to the frame.
func cropRect(box image.Rectangle, size image.Point) image.Rectangle {
	mx := int(float64(box.Dx()) * cropMarginFrac)
	my := int(float64(box.Dy()) * cropMarginFrac)
	return image.Rect(box.Min.X-mx, box.Min.Y-my, box.Max.X+mx, box.Max.Y+my).Intersect(image.Rectangle{Max: size})
}

// describeCrop crops the face with a margin from the full-resolution frame and lets go-face
// describe the face nearest the crop's expected box. When resize is set (frames scaled for
// detection) the crop is scaled so the face is about cropFaceSide pixels; otherwise it keeps the
// frame's resolution, so the descriptor is the one go-face computes on the whole frame. ok is
// false when go-face does not find the face again.
func (p *Pipeline) describeCrop(w *worker, f *Frame, box image.Rectangle, resize bool) (Descriptor, bool, error) {
	cr := cropRect(box, f.size)
	roi := f.mat.Region(cr)
	defer roi.Close()
	s := 1.0
	crop := roi
	if resize {
		s = float64(cropFaceSide) / float64(max(box.Dx(), box.Dy()))
		scaled := gocv.NewMat()
		defer scaled.Close()
		interp := gocv.InterpolationArea
		if s > 1 {
			interp = gocv.InterpolationCubic
		}
		gocv.Resize(roi, &scaled, image.Pt(max(1, int(float64(cr.Dx())*s+0.5)), max(1, int(float64(cr.Dy())*s+0.5))), 0, 0, interp)
		crop = scaled
	}
	jpg, err := encodeJPEG(crop, cropJPEGQuality)
	if err != nil {
		return nil, false, err
	}
	found, err := w.rec.Recognize(jpg)
	if err != nil {
		return nil, false, fmt.Errorf("vision: describe: %w", err)
	}
	// The expected face box, in crop coordinates.
	want := image.Rect(int(float64(box.Min.X-cr.Min.X)*s), int(float64(box.Min.Y-cr.Min.Y)*s),
		int(float64(box.Max.X-cr.Min.X)*s), int(float64(box.Max.Y-cr.Min.Y)*s))
	bestOverlap := 0
	var best Descriptor
	for _, fc := range found {
		if ov := area(fc.Rectangle.Intersect(want)); ov > bestOverlap {
			bestOverlap, best = ov, descOf(fc.Descriptor)
		}
	}
	return best, bestOverlap*3 > area(want), nil
}

// measure returns the mean gray level and the variance of the Laplacian of the face region,
// scaled to sharpSide x sharpSide.
func measure(m gocv.Mat, box image.Rectangle) (brightness, sharpness float64) {
	roi := m.Region(box)
	defer roi.Close()
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(roi, &gray, gocv.ColorBGRToGray)
	brightness = gray.Mean().Val1
	norm := gocv.NewMat()
	defer norm.Close()
	gocv.Resize(gray, &norm, image.Pt(sharpSide, sharpSide), 0, 0, gocv.InterpolationArea)
	lap := gocv.NewMat()
	defer lap.Close()
	gocv.Laplacian(norm, &lap, gocv.MatTypeCV64F, 1, 1, 0, gocv.BorderDefault)
	mean := gocv.NewMat()
	defer mean.Close()
	std := gocv.NewMat()
	defer std.Close()
	gocv.MeanStdDev(lap, &mean, &std)
	sd := std.GetDoubleAt(0, 0)
	return brightness, sd * sd
}

// logAttrsKey is the context key of WithLogAttrs.
type logAttrsKey struct{}

// WithLogAttrs returns a context whose analysis log lines carry args (slog key/value pairs), so a
// caller can tie them to what vision itself does not know, such as the door session.
func WithLogAttrs(ctx context.Context, args ...any) context.Context {
	return context.WithValue(ctx, logAttrsKey{}, args)
}

// loggerFor is the pipeline's logger with the context's WithLogAttrs attributes.
func (p *Pipeline) loggerFor(ctx context.Context) *slog.Logger {
	if args, ok := ctx.Value(logAttrsKey{}).([]any); ok {
		return p.logger.With(args...)
	}
	return p.logger
}
