package vision

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gocv.io/x/gocv"
)

// Model file names go-face (the dlib engine) loads from the models directory.
const (
	ShapePredictorFile = "shape_predictor_5_face_landmarks.dat"
	ResNetFile         = "dlib_face_recognition_resnet_model_v1.dat"
	CNNDetectorFile    = "mmod_human_face_detector.dat"
)

// Model file names of the mobilefacenet engine, loaded by OpenCV's DNN module.
const (
	YuNetFile         = "face_detection_yunet_2022mar.onnx"
	MobileFaceNetFile = "mobilefacenet_sirius.onnx"
)

type modelSpec struct {
	name    string
	minSize int64
	// header, when set, must appear within the first 64 bytes (dlib writes the network's type name).
	header []byte
	// prefix, when set, must start the file.
	prefix []byte
	// sha256, when set, is the only accepted content (hex).
	sha256 string
}

// onnxSpecs are the mobilefacenet engine's files: small enough to hash at every start, and
// OpenCV's ONNX importer does not fail cleanly on every corrupt file. The sums are the pinned
// files of ../shared/models/README.md (and models/SHA256SUMS).
var onnxSpecs = []modelSpec{
	// An ONNX model is a protobuf ModelProto whose first field is ir_version (tag byte 0x08).
	{name: YuNetFile, minSize: 100 << 10, prefix: []byte{0x08},
		sha256: "50ef07f702a31741ca46a4c0d947773b64143b9362780237bf0d427d6c79bab7"},
	{name: MobileFaceNetFile, minSize: 1 << 20, prefix: []byte{0x08},
		sha256: "16741882e91dc0aa19e7e49882960fdb66b4a749fc5dddb2dcd85390a00bec8e"},
}

var modelSpecs = []modelSpec{
	// A dlib shape_predictor starts with its serialization version, the int 1 (bytes 01 01).
	{name: ShapePredictorFile, minSize: 1 << 20, prefix: []byte{0x01, 0x01}},
	{name: ResNetFile, minSize: 10 << 20, header: []byte("loss_metric")},
	{name: CNNDetectorFile, minSize: 100 << 10, header: []byte("loss_mmod")},
}

// CheckModels checks that dir holds the model files of engine, and only those: for EngineDlib the
// three files go-face needs, each of a plausible size and with a dlib header, before any is
// loaded (dlib aborts on a half-written file); for EngineMobileFaceNet the two ONNX files, each
// checked against its pinned SHA-256. The error wraps ErrModelMissing or ErrModelCorrupt and
// names the file and the fix, or ErrBadConfig for an unknown engine.
func CheckModels(dir, engine string) error {
	if err := checkEngine(engine); err != nil {
		return err
	}
	specs := modelSpecs
	if engine == EngineMobileFaceNet {
		specs = onnxSpecs
	}
	return checkSpecs(dir, specs)
}

// checkSpecs checks the files of specs in dir (see CheckModels).
func checkSpecs(dir string, specs []modelSpec) error {
	for _, m := range specs {
		path := filepath.Join(dir, m.name)
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("%w: %s: %v (run `make models`)", ErrModelMissing, path, err)
		}
		if st.IsDir() || st.Size() < m.minSize {
			return fmt.Errorf("%w: %s: %d bytes, want at least %d (run `make models`)", ErrModelCorrupt, path, st.Size(), m.minSize)
		}
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("%w: %s: %v (run `make models`)", ErrModelMissing, path, err)
		}
		head := make([]byte, 64)
		n, err := io.ReadFull(f, head)
		f.Close()
		if err != nil {
			return fmt.Errorf("%w: %s: reading header: %v (run `make models`)", ErrModelCorrupt, path, err)
		}
		head = head[:n]
		if m.prefix != nil && !bytes.HasPrefix(head, m.prefix) {
			return fmt.Errorf("%w: %s: does not start like a %s file (run `make models`)", ErrModelCorrupt, path, kindOf(m.name))
		}
		if m.header != nil && !bytes.Contains(head, m.header) {
			return fmt.Errorf("%w: %s: no %q header, not the expected dlib network (run `make models`)", ErrModelCorrupt, path, m.header)
		}
		if m.sha256 != "" {
			sum, err := fileSHA256(path)
			if err != nil {
				return fmt.Errorf("%w: %s: %v (run `make models`)", ErrModelCorrupt, path, err)
			}
			if sum != m.sha256 {
				return fmt.Errorf("%w: %s: SHA-256 %s, want %s (run `make models`)", ErrModelCorrupt, path, sum, m.sha256)
			}
		}
	}
	return nil
}

func kindOf(name string) string {
	if filepath.Ext(name) == ".onnx" {
		return "ONNX"
	}
	return "dlib shape predictor"
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ModelFiles lists the model files the pipeline loads from the models directory for engine.
func ModelFiles(engine string) []string {
	specs := modelSpecs
	if engine == EngineMobileFaceNet {
		specs = onnxSpecs
	}
	out := make([]string, 0, len(specs))
	for _, m := range specs {
		out = append(out, m.name)
	}
	return out
}

// OpenCVVersion is the version of the OpenCV library this binary runs on.
func OpenCVVersion() string { return gocv.OpenCVVersion() }
