package vision

import (
	"fmt"
	"image"

	face "github.com/Kagami/go-face"
)

// Baseline is the naive pipeline doorface is measured against (`make bench`): go-face's
// RecognizeSingle on the whole frame as sent, one frame at a time, with no quality gate. It is a
// measuring stick, not a way to recognize anyone at the door.
type Baseline struct {
	rec *face.Recognizer
}

// NewBaseline loads one go-face recognizer from modelsDir (checked with CheckModels for the dlib
// engine first).
func NewBaseline(modelsDir string) (*Baseline, error) {
	if err := CheckModels(modelsDir, EngineDlib); err != nil {
		return nil, err
	}
	rec, err := face.NewRecognizer(modelsDir)
	if err != nil {
		return nil, fmt.Errorf("%w: loading models from %s: %v", ErrModelCorrupt, modelsDir, err)
	}
	return &Baseline{rec: rec}, nil
}

// Recognize runs go-face's RecognizeSingle on jpg. ok is false when the frame does not hold
// exactly one face.
func (b *Baseline) Recognize(jpg []byte) (box image.Rectangle, d Descriptor, ok bool, err error) {
	f, err := b.rec.RecognizeSingle(jpg)
	if err != nil {
		return image.Rectangle{}, nil, false, fmt.Errorf("vision: baseline: %w", err)
	}
	if f == nil {
		return image.Rectangle{}, nil, false, nil
	}
	return f.Rectangle, descOf(f.Descriptor), true, nil
}

// Close frees the recognizer.
func (b *Baseline) Close() { b.rec.Close() }
