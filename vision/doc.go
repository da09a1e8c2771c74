// Package vision turns a frame from the Android client into "who is this, and how sure": it
// decodes the body, gates its quality, detects and describes the face with dlib (go-face), and
// matches the descriptor against the gallery of enrolled templates. It is the only package of
// doorface that uses cgo (OpenCV through gocv, dlib through go-face).
//
// # What it owns
//
//   - Decode: JPEG, PNG or base64 text of them; every cheap check (size, magic bytes, header
//     dimensions, truncation) before any pixel is decoded; every refusal an *InputError whose
//     Code is the API's error code.
//   - Pipeline: a pool of Config.Workers go-face recognizers. Analyze detects on a copy scaled to
//     Config.DetectWidth, maps the box back, applies the quality gate (face count policy, size,
//     brightness, sharpness), then describes the face from a crop of the full-resolution frame
//     scaled so the face is about 150 px. Enroll is Analyze with the strictest policy.
//   - Gallery: templates in one flat slab, matched with squared distances and early exit, giving
//     the best user, the distance and the margin to the next user.
//   - Calibrate: false accept and false reject rates over labelled photos, per frame and for
//     k-of-n sessions, and the threshold that meets a target false accept rate (CALIBRATION.md).
//   - CheckModels: the three model files, checked before dlib loads (and aborts on) them.
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
// Each recognizer loads its own copy of the three models: measured resident memory is about
// 93 MiB per recognizer with the 68-point landmark model under the 5-point name (the official
// 9 MB 5-point model saves about 90 MB of file but the landmark model's in-memory size is the
// bulk; TestRecognizerMemory measures it). Loading takes about 0.6 s per recognizer. On the
// 2-core x86 build machine, per 1024x683 frame: decode 2 ms, detect 44 ms (640 px HOG pass,
// which go-face cannot do without also computing a descriptor), describe 32 ms, whole Analyze
// 67 ms; matching 10,000 templates takes 0.46 ms. A Pi is several times slower.
//
// # Caveats
//
//   - go-face decodes JPEG only, so the pipeline hands it JPEGs it encodes itself (a small
//     detection copy and a face crop).
//   - dlib's HOG detector finds frontal faces of about 80 px and more at detection scale.
//   - The default Threshold (0.40, with MinMargin 0.05) is set by the East Asian photos of the
//     calibration set, where dlib's descriptor separates people poorly: it keeps false accepts
//     at 0 of 49 strangers but rejects half of the genuine frames. Calibrate at each site.
package vision
