package vision

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"
)

func randDesc(r *rand.Rand) Descriptor {
	d := make(Descriptor, DlibDims)
	for i := range d {
		d[i] = float32(r.NormFloat64() * 0.09)
	}
	return d
}

// bruteMatch is the obvious reference implementation.
func bruteMatch(entries []Entry, d Descriptor) (Match, bool) {
	best := map[string]float64{}
	names := map[string]string{}
	for _, e := range entries {
		dd := Distance(EngineDlib, e.Descriptor, d)
		if v, ok := best[e.UserID]; !ok || dd < v {
			best[e.UserID] = dd
		}
		names[e.UserID] = e.Name
	}
	if len(best) == 0 {
		return Match{}, false
	}
	var m Match
	first, second := math.Inf(1), math.Inf(1)
	for u, v := range best {
		if v < first {
			second, first, m.UserID = first, v, u
		} else if v < second {
			second = v
		}
	}
	m.Name, m.Distance, m.Margin = names[m.UserID], first, NoCompetitorMargin
	if !math.IsInf(second, 1) {
		m.Margin = second - first
	}
	return m, true
}

func makeEntries(r *rand.Rand, users, per int) []Entry {
	var es []Entry
	for u := 0; u < users; u++ {
		for k := 0; k < per; k++ {
			es = append(es, Entry{UserID: fmt.Sprint("u", u), Name: fmt.Sprint("User ", u), TemplateID: fmt.Sprint("t", u, "-", k), Descriptor: randDesc(r)})
		}
	}
	return es
}

func TestGalleryMatchAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for _, tc := range []struct{ users, per int }{{1, 1}, {1, 5}, {2, 1}, {10, 3}, {200, 5}} {
		t.Run(fmt.Sprintf("%dx%d", tc.users, tc.per), func(t *testing.T) {
			es := makeEntries(r, tc.users, tc.per)
			g := NewGallery(EngineDlib)
			if err := g.Set(es); err != nil {
				t.Fatal(err)
			}
			if g.Len() != len(es) || g.Users() != tc.users {
				t.Fatalf("Len/Users = %d/%d, want %d/%d", g.Len(), g.Users(), len(es), tc.users)
			}
			for i := 0; i < 50; i++ {
				probe := randDesc(r)
				if i%2 == 0 { // near a template
					probe = slices.Clone(es[r.Intn(len(es))].Descriptor)
					probe[0] += 0.01
				}
				got, ok := g.Match(probe)
				want, _ := bruteMatch(es, probe)
				if !ok || got.UserID != want.UserID || got.Name != want.Name ||
					math.Abs(got.Distance-want.Distance) > 1e-5 || math.Abs(got.Margin-want.Margin) > 1e-5 {
					t.Fatalf("Match = %+v, want %+v", got, want)
				}
			}
		})
	}
}

func TestGalleryEditing(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	g := NewGallery(EngineDlib)
	if _, ok := g.Match(randDesc(r)); ok {
		t.Fatal("Match on an empty gallery reported ok")
	}
	a, b := randDesc(r), randDesc(r)
	g.Add(Entry{UserID: "alice", Name: "Alice", TemplateID: "a1", Descriptor: a})
	m, ok := g.Match(a)
	if !ok || m.UserID != "alice" || m.Distance != 0 || m.Margin != NoCompetitorMargin {
		t.Fatalf("single user: %+v %v", m, ok)
	}
	g.Add(Entry{UserID: "bob", Name: "Bob", TemplateID: "b1", Descriptor: b})
	m, _ = g.Match(a)
	if want := Distance(EngineDlib, a, b); math.Abs(m.Margin-want) > 1e-5 {
		t.Fatalf("margin = %v, want %v", m.Margin, want)
	}
	g.RemoveUser("alice")
	if m, _ := g.Match(a); m.UserID != "bob" || g.Len() != 1 {
		t.Fatalf("after RemoveUser: %+v len %d", m, g.Len())
	}
	g.RemoveUser("nobody")
	g.Set(nil)
	if g.Len() != 0 {
		t.Fatal("Set(nil) left templates")
	}
}

func TestGalleryCheck(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	a, b := randDesc(r), randDesc(r)
	g := NewGallery(EngineDlib)
	if err := g.Set([]Entry{{UserID: "alice", Name: "Alice", Descriptor: a}, {UserID: "bob", Name: "Bob", Descriptor: b}}); err != nil {
		t.Fatal(err)
	}
	nearB := slices.Clone(b)
	nearB[1] += 0.05
	tests := []struct {
		name, user string
		d          Descriptor
		want       string
	}{
		{"own template nearest", "alice", a, ""},
		{"closer to another user", "alice", nearB, "closer to Bob (0.05) than to own templates"},
		{"new user has no templates", "carol", nearB, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := g.Check(tc.user, tc.d)
			if tc.want == "" && len(w) != 0 || tc.want != "" && (len(w) != 1 || !strings.HasPrefix(w[0], tc.want)) {
				t.Errorf("Check = %q, want %q", w, tc.want)
			}
		})
	}
}

// TestGalleryConcurrent runs readers against writers; run with -race.
func TestGalleryConcurrent(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	es := makeEntries(r, 20, 3)
	probes := []Descriptor{randDesc(r), randDesc(r), es[0].Descriptor}
	g := NewGallery(EngineDlib)
	if err := g.Set(es); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				if m, ok := g.Match(probes[i%len(probes)]); !ok || m.UserID == "" {
					t.Error("Match failed during edits")
					return
				}
			}
		}()
	}
	for i := 0; i < 100; i++ {
		g.Add(Entry{UserID: fmt.Sprint("new", i%7), Descriptor: es[i%len(es)].Descriptor})
		if i%10 == 0 {
			g.RemoveUser(fmt.Sprint("new", i%7))
		}
	}
	wg.Wait()
}

func benchmarkMatch(b *testing.B, templates int) {
	r := rand.New(rand.NewSource(1))
	g := NewGallery(EngineDlib)
	if err := g.Set(makeEntries(r, templates/5, 5)); err != nil {
		b.Fatal(err)
	}
	probe := randDesc(r)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.Match(probe)
	}
}

// BenchmarkMatch100 matches against 100 templates (20 users x 5).
func BenchmarkMatch100(b *testing.B) { benchmarkMatch(b, 100) }

// BenchmarkMatch10000 matches against 10,000 templates (2,000 users x 5).
func BenchmarkMatch10000(b *testing.B) { benchmarkMatch(b, 10000) }
