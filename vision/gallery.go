package vision

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"sync"
)

// NoCompetitorMargin is Match.Margin when the gallery holds no template of another user: the
// match cannot be confused with anyone, so the margin is set above any real one (descriptor
// distances between different people rarely exceed 1.0).
const NoCompetitorMargin = 1.0

// Entry is one enrolled template. Its Descriptor must have the gallery engine's length.
type Entry struct {
	UserID, Name, TemplateID string
	Descriptor               Descriptor
}

// Match is the best user for a descriptor.
type Match struct {
	UserID, Name string
	// Distance is the engine's distance (Euclidean for dlib, cosine for MobileFaceNet) to the
	// user's nearest template.
	Distance float64
	// Margin is the distance to the nearest template of another user minus Distance, or
	// NoCompetitorMargin when the gallery has no other user.
	Margin float64
}

// snapshot is an immutable view of the gallery: descriptors in one flat slab (dim values per
// row, unit length for a cosine gallery), row i belonging
// to user users[i]. Add may append to the slab's spare capacity: readers of an older snapshot
// never look past their own length.
type snapshot struct {
	slab    []float32
	users   []int32 // index into names/ids, per template
	tmplIDs []string
	ids     []string // user IDs
	names   []string // user names
	index   map[string]int32
}

// Gallery holds the enrolled templates of one engine and matches descriptors against them with
// the engine's metric. It is safe for concurrent use: Match reads an immutable snapshot, writers
// build a new one.
type Gallery struct {
	engine string
	dim    int
	cosine bool
	// mu guards everything that follows.
	mu   sync.RWMutex
	snap *snapshot
}

// NewGallery returns an empty gallery for the templates of engine (EngineDlib or
// EngineMobileFaceNet). A gallery of an unknown engine refuses every template.
func NewGallery(engine string) *Gallery {
	return &Gallery{engine: engine, dim: Dims(engine), cosine: engine == EngineMobileFaceNet,
		snap: &snapshot{index: map[string]int32{}}}
}

// Engine returns the engine whose templates the gallery holds.
func (g *Gallery) Engine() string { return g.engine }

// ErrDimension is a descriptor whose length is not the gallery engine's (a template made by
// another engine, or a corrupt one).
var ErrDimension = errors.New("vision: descriptor length does not match the engine")

// check refuses a descriptor of the wrong length or with non-finite values.
func (g *Gallery) check(e Entry) error {
	if g.dim == 0 {
		return fmt.Errorf("%w: gallery of unknown engine %q", ErrBadConfig, g.engine)
	}
	if len(e.Descriptor) != g.dim {
		return fmt.Errorf("%w: template %s of user %s has %d values, the %s engine makes %d (made by another engine? re-enroll or select its engine)",
			ErrDimension, e.TemplateID, e.UserID, len(e.Descriptor), g.engine, g.dim)
	}
	for _, v := range e.Descriptor {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: template %s of user %s has a non-finite value", ErrDimension, e.TemplateID, e.UserID)
		}
	}
	return nil
}

// prepare returns the row stored for d: d itself, or unit length for a cosine gallery.
func (g *Gallery) prepare(d Descriptor) Descriptor {
	if g.cosine {
		return normalized(d)
	}
	return d
}

// fromSq turns a squared Euclidean distance between stored rows into the engine's distance:
// its square root, or for unit vectors the cosine distance |a-b|^2 / 2.
func (g *Gallery) fromSq(sq float32) float64 {
	if g.cosine {
		return float64(sq) / 2
	}
	return math.Sqrt(float64(sq))
}

func (g *Gallery) load() *snapshot {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.snap
}

// Set replaces all templates. It refuses (ErrDimension), leaving the gallery as it was, when any
// descriptor does not have the engine's length.
func (g *Gallery) Set(entries []Entry) error {
	s := &snapshot{index: map[string]int32{}, slab: make([]float32, 0, len(entries)*g.dim)}
	for _, e := range entries {
		if err := g.check(e); err != nil {
			return err
		}
		e.Descriptor = g.prepare(e.Descriptor)
		s.appendEntry(e)
	}
	g.mu.Lock()
	g.snap = s
	g.mu.Unlock()
	return nil
}

// appendEntry adds e to s. Only call it on a snapshot no reader can see, or one whose readers
// only see a shorter prefix.
func (s *snapshot) appendEntry(e Entry) {
	u, ok := s.index[e.UserID]
	if !ok {
		u = int32(len(s.ids))
		s.ids = append(s.ids, e.UserID)
		s.names = append(s.names, e.Name)
		s.index[e.UserID] = u
	}
	s.slab = append(s.slab, e.Descriptor[:]...)
	s.users = append(s.users, u)
	s.tmplIDs = append(s.tmplIDs, e.TemplateID)
}

// Add adds one template; ErrDimension when its descriptor does not have the engine's length.
func (g *Gallery) Add(e Entry) error {
	if err := g.check(e); err != nil {
		return err
	}
	e.Descriptor = g.prepare(e.Descriptor)
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.snap
	// Slices are appended in place (readers of old see only their own length); the maps and
	// the name table are copied because they may change for existing users.
	s := &snapshot{slab: old.slab, users: old.users, tmplIDs: old.tmplIDs,
		ids: old.ids[:len(old.ids):len(old.ids)], names: old.names[:len(old.names):len(old.names)],
		index: old.index}
	if _, ok := old.index[e.UserID]; !ok {
		s.index = make(map[string]int32, len(old.index)+1)
		for k, v := range old.index {
			s.index[k] = v
		}
	}
	s.appendEntry(e)
	g.snap = s
	return nil
}

// RemoveUser removes every template of user id.
func (g *Gallery) RemoveUser(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.snap
	u, ok := old.index[id]
	if !ok {
		return
	}
	s := &snapshot{index: map[string]int32{}, slab: make([]float32, 0, len(old.slab))}
	for i, ou := range old.users {
		if ou == u {
			continue
		}
		d := old.slab[i*g.dim : (i+1)*g.dim]
		s.appendEntry(Entry{UserID: old.ids[ou], Name: old.names[ou], TemplateID: old.tmplIDs[i], Descriptor: d})
	}
	g.snap = s
}

// Len returns the number of templates.
func (g *Gallery) Len() int { return len(g.load().users) }

// Users returns the number of distinct users.
func (g *Gallery) Users() int { return len(g.load().ids) }

// sqDist returns the squared distance between row and d (of the same length, a multiple of 16),
// or a value >= bound as soon as the partial sum reaches bound.
func sqDist(row []float32, d Descriptor, bound float32) float32 {
	row = row[:len(d)]
	var sum float32
	for i := 0; i+16 <= len(d); i += 16 {
		r, q := row[i:i+16], d[i:i+16]
		var s float32
		for j := range q {
			x := r[j] - q[j]
			s += x * x
		}
		sum += s
		if sum >= bound {
			return sum
		}
	}
	return sum
}

// Match returns the user whose nearest template is nearest to d, with the margin to the next
// user; false when the gallery is empty or d does not have the engine's length. It does not
// apply a threshold: compare Distance with the threshold and Margin with the least margin (or
// use Match.Within).
func (g *Gallery) Match(d Descriptor) (Match, bool) {
	s := g.load()
	n := len(s.users)
	if n == 0 || len(d) != g.dim {
		return Match{}, false
	}
	d = g.prepare(d)
	inf := float32(math.Inf(1))
	best1, best2 := inf, inf // best2: best over users other than best1's
	u1 := int32(-1)
	for i := 0; i < n; i++ {
		dist := sqDist(s.slab[i*g.dim:], d, best2)
		if dist >= best2 {
			continue
		}
		u := s.users[i]
		switch {
		case u == u1:
			if dist < best1 {
				best1 = dist
			}
		case dist < best1:
			best2, best1, u1 = best1, dist, u
		default:
			best2 = dist
		}
	}
	m := Match{UserID: s.ids[u1], Name: s.names[u1], Distance: g.fromSq(best1), Margin: NoCompetitorMargin}
	if !math.IsInf(float64(best2), 1) {
		m.Margin = g.fromSq(best2) - m.Distance
	}
	return m, true
}

// Within reports whether m is a match under the rule the machine applies: Distance strictly below
// threshold and Margin at least margin.
func (m Match) Within(threshold, margin float64) bool {
	return m.Distance < threshold && m.Margin >= margin
}

// Nearest is how a new template compares with the gallery (Gallery.Nearest).
type Nearest struct {
	// HasOwn says the user already has templates; OwnDistance is the distance to the nearest.
	HasOwn      bool
	OwnDistance float64
	// Other is the nearest other user ("" when the gallery has none), OtherName their name and
	// OtherDistance the distance to their nearest template.
	Other, OtherName string
	OtherDistance    float64
}

// CloserToOther reports whether the new template is nearer another user than the user's own
// templates (false while the user has none: there is nothing to compare with).
func (n Nearest) CloserToOther() bool {
	return n.HasOwn && n.Other != "" && n.OtherDistance < n.OwnDistance
}

// Nearest compares a new template d for userID with the gallery: the distance to the user's
// own nearest template and to the nearest template of anyone else. ErrDimension when d does not
// have the engine's length.
func (g *Gallery) Nearest(userID string, d Descriptor) (Nearest, error) {
	if err := g.check(Entry{UserID: userID, TemplateID: "(new)", Descriptor: d}); err != nil {
		return Nearest{}, err
	}
	s := g.load()
	d = g.prepare(d)
	inf := float32(math.Inf(1))
	own, other := inf, inf
	otherU := int32(-1)
	for i, u := range s.users {
		dist := sqDist(s.slab[i*g.dim:], d, inf)
		if s.ids[u] == userID {
			own = min(own, dist)
		} else if dist < other {
			other, otherU = dist, u
		}
	}
	var n Nearest
	if !math.IsInf(float64(own), 1) {
		n.HasOwn, n.OwnDistance = true, g.fromSq(own)
	}
	if otherU >= 0 {
		n.Other, n.OtherName, n.OtherDistance = s.ids[otherU], s.names[otherU], g.fromSq(other)
	}
	return n, nil
}

// Check compares a new template d for userID with the gallery and returns warnings, for
// instance when d is closer to another user than to the user's own templates:
// "closer to <other user> (0.xx) than to own templates (0.yy)".
func (g *Gallery) Check(userID string, d Descriptor) (warnings []string) {
	n, err := g.Nearest(userID, d)
	if err != nil {
		return []string{err.Error()}
	}
	if n.CloserToOther() {
		warnings = append(warnings, fmt.Sprintf("closer to %s (%.2f) than to own templates (%.2f)", cmp.Or(n.OtherName, n.Other), n.OtherDistance, n.OwnDistance))
	}
	return warnings
}

// RemoveTemplates removes the templates with these ids (of any user).
func (g *Gallery) RemoveTemplates(ids ...string) {
	drop := make(map[string]bool, len(ids))
	for _, id := range ids {
		drop[id] = true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.snap
	s := &snapshot{index: map[string]int32{}, slab: make([]float32, 0, len(old.slab))}
	for i, ou := range old.users {
		if drop[old.tmplIDs[i]] {
			continue
		}
		d := old.slab[i*g.dim : (i+1)*g.dim]
		s.appendEntry(Entry{UserID: old.ids[ou], Name: old.names[ou], TemplateID: old.tmplIDs[i], Descriptor: d})
	}
	g.snap = s
}
