// Package vision turns a frame from the Android client into "who is this, and how sure": it
// decodes the body, gates its quality, detects and describes the face with one of two engines,
// and matches the descriptor against the gallery of enrolled templates. It is the only package of
// doorface that uses cgo (OpenCV through gocv and yunet.cc, dlib through go-face and hog.cc).
//
// # Engines (Config.Engine; CALIBRATION.md compares them)
//
//   - EngineMobileFaceNet (default): OpenCV's YuNet detector (cv::FaceDetectorYN, yunet.cc) on
//     the frame scaled to 320 px, the chosen face detected again at 128 px for its 5 landmarks,
//     a 112x112 crop aligned to the ArcFace points, MobileFaceNet through OpenCV's DNN (192-d,
//     unit length, cosine distance), and a pose gate (Quality "turned_away"). One YuNet and one
//     network per worker; OpenCV's pool of threads (one per core) is shared by the workers.
//   - EngineDlib: dlib's HOG detector and ResNet descriptor through go-face (128-d, Euclidean),
//     as described below. Kept for sites with a dlib gallery.
//
// Only the selected engine's models are checked and loaded. A Gallery holds one engine's
// templates and refuses descriptors of another length (ErrDimension); the store records each
// template's engine.
//
// # What it owns
//
//   - Decode: JPEG, PNG or base64 text of them; every cheap check (size, magic bytes, header
//     dimensions, truncation) before any pixel is decoded; every refusal an *InputError whose
//     Code is the API's error code.
//   - Pipeline (dlib engine): a pool of Config.Workers workers, each a go-face recognizer plus a
//     dlib HOG detector of its own (hog.cc), one OpenBLAS thread each.
//     Analyze detects a frame wider than Config.DetectWidth with HOG on a gray copy scaled to
//     DetectWidth (no JPEG, no descriptor), maps the box back, applies the quality gate (face
//     count policy, size, brightness, sharpness), then lets go-face describe the face from a JPEG
//     crop of the full-resolution frame scaled so the face is about 150 px. A frame up to
//     DetectWidth goes to go-face whole (padded JPEG), whose one pass gives box and descriptor;
//     the calibration was measured that way. AnalyzeNear first searches near the previous
//     frame's face. Enroll is Analyze with the strictest policy, detecting at full resolution
//     (both engines), so a group photo is refused. EnrollFace also returns the face's crop (a
//     JPEG, the face at 128 px with half its size of margin) and the analysis (sharpness, pose);
//     DescribeCrop recomputes a descriptor from such a crop with either engine, which is how a
//     gallery moves to another engine without re-enrolling (both directions tested).
//   - Gallery: templates in one flat slab, matched with squared distances and early exit, giving
//     the best user, the distance and the margin to the next user; Nearest compares a new template
//     with the user's own and everyone else's (the enrollment refusal).
//   - Calibrate: false accept and false reject rates over labelled photos, per frame and for
//     k-of-n sessions, and the threshold that meets a target false accept rate (CALIBRATION.md).
//   - Liveness (Config.Liveness, liveness.go): one pair of MiniFASNet networks (V2, V1SE) per
//     worker scores every usable face Analyze finds (Analysis.Liveness, P(real), the mean of the
//     two models' softmax "real"), on the engine's box: crops 2.7x and 4.0x around it, shifted
//     into the frame, 80x80 BGR raw 0..255. ScoreLiveness scores any face (doorface liveness).
//     Frame.Print is the 64x48 gray sample the machine compares to spot repeated frames.
//     CheckLivenessModels checks their pinned SHA-256.
//   - CheckModels: the selected engine's model files: dlib's three, checked before dlib loads
//     (and aborts on) them, or the two ONNX files, checked by SHA-256.
//
// # What it must not do
//
//   - Know about sessions, doors, PINs, HTTP or storage: callers pass bytes in and get verdicts
//     out; transport/ maps InputError.Code to a status, machine/ decides what a match means.
//   - Log descriptors or photos. Its log lines carry component=vision and timings only.
//   - Hold a Mat beyond a call: every Mat is closed (checked by a test under the matprofile build
//     tag: go test -tags matprofile -run TestNoLeakedMats ./vision).
//
// # Cost
//
// mobilefacenet: about 9 MiB resident per worker (TestRecognizerMemory), loaded in 0.1 s;
// BenchmarkEngines compares its per-frame time with the dlib pipeline's and the naive go-face
// baseline's in one run.
//
// dlib: each recognizer loads its own copy of the three models: measured resident memory is about
// 93 MiB per recognizer with the 68-point landmark model under the 5-point name (the official
// 9 MB 5-point model saves about 90 MB of file but the landmark model's in-memory size is the
// bulk; TestRecognizerMemory measures it). Loading takes about 0.6 s per recognizer. `make
// bench` measures the rest against go-face's RecognizeSingle on the same frames; on the 2-core
// x86 build machine, per 1280x720 frame (p50): decode 1.4 ms, detect 10.6 ms, landmarks and
// descriptor 20.4 ms (of which go-face's HOG re-detection in the crop about 4.5 ms), whole frame
// 33 ms against the baseline's 65 ms; a session's next frame (AnalyzeNear) 27 ms; matching
// 10,000 templates 0.4 ms. A 640x480 frame takes go-face's whole-frame pass (39 ms, slower than
// the unpadded baseline's 31 ms; 24 ms with AnalyzeNear). A Pi is several times slower.
//
// # Caveats
//
//   - go-face decodes JPEG only and has no describe-this-box call, so the descriptor comes from
//     a JPEG crop go-face detects the face in again.
//   - The BLAS dlib runs on decides the descriptor's cost: OpenBLAS 20 ms, ATLAS 30 ms, the
//     reference BLAS 128 ms per face (scripts/deps.sh selects OpenBLAS).
//   - dlib's HOG detector finds frontal faces of about 80 px and more at detection scale.
//   - The default Threshold (0.40, with MinMargin 0.05) is set by the East Asian photos of the
//     calibration set, where dlib's descriptor separates people poorly: it keeps false accepts
//     at 0 of 49 strangers but rejects half of the genuine frames. Calibrate at each site.
package vision
