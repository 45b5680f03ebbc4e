package nemesis

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/shoaldb/shoal/core/env"
)

func instances(n int) []env.NodeID {
	ids := make([]env.NodeID, n)
	for i := range ids {
		ids[i] = env.NodeID(fmt.Sprintf("n%d", i+1))
	}
	return ids
}

// hears lists who a node can send to, itself included.
func (g grudge) hears(a env.NodeID) []env.NodeID {
	var out []env.NodeID
	for _, b := range g.nodes {
		if !g.cut[link{a, b}] {
			out = append(out, b)
		}
	}
	return out
}

func (g grudge) symmetric(t *testing.T) {
	t.Helper()
	for l := range g.cut {
		if !g.cut[link{l.to, l.from}] {
			t.Errorf("%s cut %s→%s but not back", g.what, l.from, l.to)
		}
	}
}

// components returns the classes of "hears" when it is an equivalence,
// as sizes sorted.
func (g grudge) componentSizes(t *testing.T) []int {
	t.Helper()
	seen := map[env.NodeID]bool{}
	var sizes []int
	for _, a := range g.nodes {
		if seen[a] {
			continue
		}
		comp := g.hears(a)
		for _, b := range comp {
			if !slices.Equal(g.hears(b), comp) {
				t.Fatalf("%s: %s hears %v but %s hears %v: not components", g.what, a, comp, b, g.hears(b))
			}
			seen[b] = true
		}
		sizes = append(sizes, len(comp))
	}
	slices.Sort(sizes)
	return sizes
}

func TestShapes(t *testing.T) {
	for _, n := range []int{3, 5, 7} {
		nodes := instances(n)
		for seed := range uint64(20) {
			r := rand.New(rand.NewPCG(seed, 1))
			for _, name := range Shapes {
				t.Run(fmt.Sprintf("%s/%d/%d", name, n, seed), func(t *testing.T) {
					isolated := []env.NodeID{nodes[1]}
					g := shape(name, nodes, r, isolated)
					g.symmetric(t)
					switch name {
					case Halves:
						if sizes := g.componentSizes(t); !slices.Equal(sizes, []int{n / 2, n - n/2}) {
							t.Fatalf("sizes %v", sizes)
						}
						if !slices.Equal(g.hears("n1"), nodes[:n/2]) {
							t.Fatalf("n1 hears %v, want the first half", g.hears("n1"))
						}
					case RandomHalves, Majority:
						if sizes := g.componentSizes(t); !slices.Equal(sizes, []int{n / 2, n - n/2}) {
							t.Fatalf("sizes %v", sizes)
						}
					case One, IsolateLeader, IsolateVoters:
						if sizes := g.componentSizes(t); !slices.Equal(sizes, []int{1, n - 1}) {
							t.Fatalf("sizes %v", sizes)
						}
						if name != One && len(g.hears(nodes[1])) != 1 {
							t.Fatalf("%s hears %v, want only itself", nodes[1], g.hears(nodes[1]))
						}
					case MinorityThird:
						k := max(1, n/3)
						if sizes := g.componentSizes(t); !slices.Equal(sizes, []int{k, n - k}) {
							t.Fatalf("sizes %v", sizes)
						}
					case MajoritiesRing:
						seen := map[string]env.NodeID{}
						for _, a := range nodes {
							h := g.hears(a)
							if len(h) < n/2+1 {
								t.Fatalf("%s hears %v, not a majority", a, h)
							}
							if b, dup := seen[env.Join(h)]; dup && n > 3 {
								t.Fatalf("%s and %s hear the same majority %v", a, b, h)
							}
							seen[env.Join(h)] = a
						}
						if n > 3 && len(g.cut) == 0 {
							t.Fatal("the ring cut nothing")
						}
					case Bridge:
						var bridge []env.NodeID
						for _, a := range nodes {
							if len(g.hears(a)) == n {
								bridge = append(bridge, a)
							}
						}
						if len(bridge) != 1 {
							t.Fatalf("nodes hearing everyone: %v, want one bridge", bridge)
						}
						for _, a := range nodes {
							if a != bridge[0] && !slices.Contains(g.hears(a), bridge[0]) {
								t.Fatalf("%s does not hear the bridge", a)
							}
						}
						// Without the bridge the rest splits in two halves
						// that do not hear each other.
						if len(g.cut) != 2*((n-1)/2)*(n-1-(n-1)/2) {
							t.Fatalf("%d links cut, want the halves apart: %s", len(g.cut), g.what)
						}
					default:
						t.Fatalf("untested shape %s", name)
					}
				})
			}
		}
	}
}

func TestSplitNamesTheRestAsOneComponent(t *testing.T) {
	g := split(instances(5), [][]env.NodeID{{"n4"}, {"n1", "n2"}})
	if g.what != "n4|n1,n2|n3,n5" {
		t.Fatalf("what = %q", g.what)
	}
	if sizes := g.componentSizes(t); !slices.Equal(sizes, []int{1, 2, 2}) {
		t.Fatalf("sizes %v", sizes)
	}
}
