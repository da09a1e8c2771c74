package vision

import (
	"errors"

	"github.com/doorface/doorface/vision/params"
)

// Input errors: why a request body is not a frame this package will decode. Decode returns them
// wrapped in an *InputError, so both errors.Is(err, ErrTooLarge) and errors.As(err, &inputErr) work.
var (
	// ErrEmpty is an empty body (or base64 text that decodes to nothing).
	ErrEmpty = errors.New("vision: empty image")
	// ErrNotImage is a body that is neither a JPEG nor a PNG, or one whose data does not decode
	// (truncated, corrupt, header that disagrees with the data).
	ErrNotImage = errors.New("vision: not a JPEG or PNG image")
	// ErrTooLarge is a body over Config.MaxBytes.
	ErrTooLarge = errors.New("vision: image body too large")
	// ErrTooManyPixels is an image whose header claims dimensions over Config.MaxWidth x
	// Config.MaxHeight; it is refused before any pixel is decoded.
	ErrTooManyPixels = errors.New("vision: image dimensions too large")
	// ErrUnsupportedType is a content type other than image/jpeg, image/png or text/plain.
	ErrUnsupportedType = errors.New("vision: unsupported content type")
	// ErrBadBase64 is text/plain that is not valid base64 (after an optional data: URL prefix).
	ErrBadBase64 = errors.New("vision: invalid base64 body")
)

// Enrollment and model errors.
var (
	// ErrNoFace is returned by Enroll when the photo shows no face.
	ErrNoFace = errors.New("vision: no face found")
	// ErrMultipleFaces is returned by Enroll when the photo shows more than one face, whatever
	// Config.MultiFace says.
	ErrMultipleFaces = errors.New("vision: several faces found")
	// ErrLowQuality is returned by Enroll when the face fails the quality gate; the wrapping
	// message names the reason (too_small, too_dark, too_bright, blurry).
	ErrLowQuality = errors.New("vision: face quality too low")
	// ErrModelMissing is a model file that is absent; the message names the file and the fix.
	ErrModelMissing = errors.New("vision: model file missing")
	// ErrModelCorrupt is a model file that is too small or does not look like a dlib model.
	ErrModelCorrupt = errors.New("vision: model file corrupt")
	// ErrClosed is returned by a Pipeline after Close.
	ErrClosed = errors.New("vision: pipeline closed")
	// ErrBadConfig is returned by Config.Validate, wrapped with the offending key.
	ErrBadConfig = params.ErrInvalid
)

// Input error kinds, the value of InputError.Kind.
const (
	KindEmpty           = "empty"
	KindNotImage        = "not_image"
	KindTooLarge        = "too_large"
	KindTooManyPixels   = "too_many_pixels"
	KindUnsupportedType = "unsupported_type"
	KindBadBase64       = "bad_base64"
)

// InputError is a rejected input. Kind is one of the Kind* constants; Err wraps the matching
// sentinel (ErrEmpty, ErrNotImage, ...) with detail. How an API answers it is the caller's
// business: this package speaks no HTTP.
type InputError struct {
	Kind string
	Err  error
}

// Error returns the wrapped error's message.
func (e *InputError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error, so errors.Is finds the sentinel.
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(kind string, err error) error { return &InputError{Kind: kind, Err: err} }
