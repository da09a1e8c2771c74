package vision

import (
	"context"
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"
)

// Face crops kept for rebuilding templates under another engine (Pipeline.EnrollFace,
// Pipeline.DescribeCrop).
const (
	// faceCropSide is the side the face box is scaled to in a kept crop: above both detectors'
	// smallest faces (HOG about 80 px) and the sizes YuNet refines landmarks at (yunetFaceSide).
	faceCropSide = 128
	// faceCropQuality is the crop's JPEG quality: about 12 KB per 256x256 crop.
	faceCropQuality = 92
)

// Enrolled is a face accepted for a new template.
type Enrolled struct {
	// Descriptor is the new template's descriptor.
	Descriptor Descriptor
	// Crop is a JPEG of the face with a margin of half its size on every side, scaled so the
	// face is faceCropSide pixels: what DescribeCrop recomputes a template from, with either
	// engine. Nil when the crop could not be encoded.
	Crop []byte
	// Analysis is the verdict the descriptor came from (box, sharpness, pose).
	Analysis Analysis
}

// EnrollFace is Enroll that also returns the face's crop and the analysis (sharpness and pose,
// to choose among frames of one person).
func (p *Pipeline) EnrollFace(ctx context.Context, f *Frame) (Enrolled, error) {
	a, err := p.run(ctx, f, MultiFaceReject, true, true, image.Rectangle{})
	if err != nil {
		return Enrolled{}, err
	}
	if err := enrollRefusal(a); err != nil {
		return Enrolled{Analysis: a}, err
	}
	crop, err := faceCrop(f, a.Box)
	if err != nil {
		p.logger.Warn("face crop not kept", "component", "vision", "err", err)
	}
	return Enrolled{Descriptor: a.Descriptor, Crop: crop, Analysis: a}, nil
}

// enrollRefusal is the error Enroll returns for a's verdict; nil for QualityOK.
func enrollRefusal(a Analysis) error {
	switch a.Quality {
	case QualityOK:
		return nil
	case QualityNoFace:
		return ErrNoFace
	case QualityMultipleFaces:
		return fmt.Errorf("%w: %d faces", ErrMultipleFaces, a.Faces)
	case QualityTurnedAway:
		return fmt.Errorf("%w: %s (yaw %.0f, pitch %.0f degrees)", ErrLowQuality, a.Quality, a.Yaw, a.Pitch)
	default:
		return fmt.Errorf("%w: %s (brightness %.0f, sharpness %.0f, box %dx%d)", ErrLowQuality,
			a.Quality, a.Brightness, a.Sharpness, a.Box.Dx(), a.Box.Dy())
	}
}

// faceCrop encodes the face box of f with a margin of half its size per side (cropRect),
// scaled so the box is faceCropSide pixels, as a JPEG.
func faceCrop(f *Frame, box image.Rectangle) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, fmt.Errorf("vision: face crop: frame %w", ErrClosed)
	}
	if box.Empty() {
		return nil, fmt.Errorf("vision: face crop: no face box")
	}
	cr := cropRect(box, f.size)
	roi := f.mat.Region(cr)
	defer roi.Close()
	s := float64(faceCropSide) / float64(max(box.Dx(), box.Dy()))
	scaled := gocv.NewMat()
	defer scaled.Close()
	interp := gocv.InterpolationArea
	if s > 1 {
		interp = gocv.InterpolationCubic
	}
	gocv.Resize(roi, &scaled, image.Pt(max(1, int(math.Round(float64(cr.Dx())*s))), max(1, int(math.Round(float64(cr.Dy())*s)))), 0, 0, interp)
	return encodeJPEG(scaled, faceCropQuality)
}

// DescribeCrop computes the descriptor of the face in a crop kept by EnrollFace, with this
// pipeline's engine: how `doorface gallery rebuild` makes templates for another engine without
// re-enrolling anyone. The face was accepted when it was enrolled, so only the face itself is
// required here (the largest face counts, no quality gate); ErrNoFace when none is found.
func (p *Pipeline) DescribeCrop(ctx context.Context, crop []byte) (Descriptor, error) {
	f, err := Decode(crop, "image/jpeg", p.cfg)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := p.run(ctx, f, MultiFaceLargest, false, true, image.Rectangle{})
	if err != nil {
		return nil, err
	}
	if a.Faces == 0 || len(a.Descriptor) == 0 {
		return nil, ErrNoFace
	}
	return a.Descriptor, nil
}
