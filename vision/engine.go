package vision

import (
	"fmt"
	"math"
)

// Distance returns the engine's distance between two descriptors of its length: Euclidean for
// dlib, cosine distance (1 - cosine similarity) for MobileFaceNet. It returns NaN when the
// lengths differ from the engine's.
func Distance(engine string, a, b Descriptor) float64 {
	n := Dims(engine)
	if n == 0 || len(a) != n || len(b) != n {
		return math.NaN()
	}
	if engine == EngineMobileFaceNet {
		var dot, na, nb float64
		for i := range a {
			dot += float64(a[i]) * float64(b[i])
			na += float64(a[i]) * float64(a[i])
			nb += float64(b[i]) * float64(b[i])
		}
		if na == 0 || nb == 0 {
			return 1
		}
		return 1 - dot/math.Sqrt(na*nb)
	}
	var s float64
	for i := range a {
		x := float64(a[i] - b[i])
		s += x * x
	}
	return math.Sqrt(s)
}

// normalized returns d scaled to unit length (a copy); d itself when it is all zeros.
func normalized(d Descriptor) Descriptor {
	var s float64
	for _, v := range d {
		s += float64(v) * float64(v)
	}
	if s == 0 {
		return d
	}
	inv := 1 / math.Sqrt(s)
	out := make(Descriptor, len(d))
	for i, v := range d {
		out[i] = float32(float64(v) * inv)
	}
	return out
}

func checkEngine(engine string) error {
	if Dims(engine) == 0 {
		return fmt.Errorf("%w: engine %q must be %q or %q", ErrBadConfig, engine, EngineMobileFaceNet, EngineDlib)
	}
	return nil
}
