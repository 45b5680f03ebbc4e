package nemesis

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/env"
)

// grudge is a partition: for every ordered pair of instances, whether the
// first cannot send to the second. Jepsen's word for it.
type grudge struct {
	nodes []env.NodeID
	cut   map[link]bool
	// what describes it for the trace: "n1,n2|n3,n4,n5" for components,
	// or each node's unreachable peers for shapes that are not components.
	what string
}

type link struct{ from, to env.NodeID }

// split cuts every link between different components; instances named in
// no component form one more component.
func split(nodes []env.NodeID, components [][]env.NodeID) grudge {
	comp := map[env.NodeID]int{}
	for i, c := range components {
		for _, id := range c {
			comp[id] = i + 1
		}
	}
	var rest []env.NodeID
	for _, id := range nodes {
		if comp[id] == 0 {
			rest = append(rest, id)
		}
	}
	g := grudge{nodes: nodes, cut: map[link]bool{}}
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b && comp[a] != comp[b] {
				g.cut[link{a, b}] = true
			}
		}
	}
	var parts []string
	for _, c := range components {
		if len(c) > 0 {
			parts = append(parts, env.Join(c))
		}
	}
	if len(rest) > 0 {
		parts = append(parts, env.Join(rest))
	}
	g.what = strings.Join(parts, "|")
	return g
}

// reach builds a grudge from who may hear whom, describing each node by
// the peers it cannot hear.
func reach(nodes []env.NodeID, hears func(a, b env.NodeID) bool) grudge {
	g := grudge{nodes: nodes, cut: map[link]bool{}}
	var parts []string
	for _, a := range nodes {
		var deaf []env.NodeID
		for _, b := range nodes {
			if a != b && !hears(a, b) {
				g.cut[link{a, b}] = true
				deaf = append(deaf, b)
			}
		}
		if len(deaf) > 0 {
			parts = append(parts, fmt.Sprintf("%s-/-%s", a, env.Join(deaf)))
		}
	}
	g.what = strings.Join(parts, " ")
	return g
}

func shuffled(r *rand.Rand, nodes []env.NodeID) []env.NodeID {
	s := slices.Clone(nodes)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// sorted returns ids in the instances' order, so that descriptions read
// n1,n3 rather than in the order a shuffle left them.
func sorted(nodes, ids []env.NodeID) []env.NodeID {
	out := make([]env.NodeID, 0, len(ids))
	for _, id := range nodes {
		if slices.Contains(ids, id) {
			out = append(out, id)
		}
	}
	return out
}

// shape builds one of the named partition shapes over nodes. isolated is
// the node or nodes that isolate-leader and isolate-voters set apart,
// which the caller resolves.
func shape(name string, nodes []env.NodeID, r *rand.Rand, isolated []env.NodeID) grudge {
	n := len(nodes)
	apart := func(side []env.NodeID) grudge { return split(nodes, [][]env.NodeID{sorted(nodes, side)}) }
	switch name {
	case Halves:
		return split(nodes, [][]env.NodeID{nodes[:n/2]})
	case RandomHalves, Majority:
		// The smaller side first: for an odd count both put a majority
		// on one side; Majority says so, random-halves is its name in
		// Jepsen for the same cut.
		return apart(shuffled(r, nodes)[:n/2])
	case One:
		return apart(shuffled(r, nodes)[:min(1, n)])
	case MinorityThird:
		return apart(shuffled(r, nodes)[:max(1, n/3)])
	case MajoritiesRing:
		// Around a ring drawn from the seed each node hears the d nearest
		// on either side, 2d+1 ≥ a majority, so every node sees a
		// majority and no two see the same one.
		ring := shuffled(r, nodes)
		pos := map[env.NodeID]int{}
		for i, id := range ring {
			pos[id] = i
		}
		d := (n/2 + 1) / 2
		return reach(nodes, func(a, b env.NodeID) bool {
			dist := (pos[a] - pos[b] + n) % n
			return min(dist, n-dist) <= d
		})
	case Bridge:
		// One node drawn from the seed hears both halves of the rest,
		// which do not hear each other.
		s := shuffled(r, nodes)
		bridge, rest := s[0], s[1:]
		left := map[env.NodeID]bool{}
		for _, id := range rest[:len(rest)/2] {
			left[id] = true
		}
		return reach(nodes, func(a, b env.NodeID) bool {
			return a == bridge || b == bridge || left[a] == left[b]
		})
	case IsolateLeader, IsolateVoters:
		return apart(isolated)
	}
	panic(fmt.Sprintf("nemesis: unknown partition shape %q", name))
}
