package vision

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gocv.io/x/gocv"
)

// Model file names go-face loads from the models directory.
const (
	ShapePredictorFile = "shape_predictor_5_face_landmarks.dat"
	ResNetFile         = "dlib_face_recognition_resnet_model_v1.dat"
	CNNDetectorFile    = "mmod_human_face_detector.dat"
)

type modelSpec struct {
	name    string
	minSize int64
	// header, when set, must appear within the first 64 bytes (dlib writes the network's type name).
	header []byte
	// prefix, when set, must start the file.
	prefix []byte
}

var modelSpecs = []modelSpec{
	// A dlib shape_predictor starts with its serialization version, the int 1 (bytes 01 01).
	{name: ShapePredictorFile, minSize: 1 << 20, prefix: []byte{0x01, 0x01}},
	{name: ResNetFile, minSize: 10 << 20, header: []byte("loss_metric")},
	{name: CNNDetectorFile, minSize: 100 << 10, header: []byte("loss_mmod")},
}

// CheckModels checks that dir holds all three model files go-face needs, each of a plausible size
// and with a dlib header, before any is loaded (dlib aborts on a half-written file). The error
// wraps ErrModelMissing or ErrModelCorrupt and names the file and the fix.
func CheckModels(dir string) error {
	for _, m := range modelSpecs {
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
			return fmt.Errorf("%w: %s: not a dlib shape predictor (run `make models`)", ErrModelCorrupt, path)
		}
		if m.header != nil && !bytes.Contains(head, m.header) {
			return fmt.Errorf("%w: %s: no %q header, not the expected dlib network (run `make models`)", ErrModelCorrupt, path, m.header)
		}
	}
	return nil
}

// ModelFiles lists the model files the pipeline loads from the models directory.
func ModelFiles() []string {
	out := make([]string, 0, len(modelSpecs))
	for _, m := range modelSpecs {
		out = append(out, m.name)
	}
	return out
}

// OpenCVVersion is the version of the OpenCV library this binary runs on.
func OpenCVVersion() string { return gocv.OpenCVVersion() }
