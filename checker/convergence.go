package checker

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/env"
)

// Convergence checks that replicas agree on their state machines' state:
// whenever two replicas of a group recorded a state digest at the same
// applied index (sm.digest, raft.compact, raft.snapshot.install), the
// digests are equal; and in the last round of sm.digest records, taken
// after the final heal and recovery, every replica of a group had applied
// up to the same index, the replicas being the group's members as of the
// highest index of its membership (raft.conf): an instance expelled, or
// removed from the group, stops applying its entries. A round is the records of one instant (the
// simulator asks every node at once) or, in a trace with digest.round
// records (a real cluster, whose instances answer one after another),
// the records after the last of them. A replica that died because a
// command showed its state differs from the leader's (node.crash with an
// error beginning "state invariant: ") fails it too. NA when no replica
// recorded a digest.
func Convergence(trace []env.Record) Result {
	res := Result{Checker: "convergence"}
	type point struct {
		group string
		index int64
	}
	type seen struct {
		node   env.NodeID
		digest string
		time   int64
	}
	digests := map[point]seen{}
	// The last round of sm.digest records of each group: those at the
	// time of its last one (a round is asked of every node at once).
	final := map[string]map[env.NodeID]int64{}
	lastRound := map[string]int64{}
	records := 0
	// explicit is set once a digest.round record has opened a round: from
	// then on a round is everything up to the next one.
	explicit := false
	for i := range trace {
		r := &trace[i]
		var index int64
		switch r.Kind {
		case "digest.round":
			explicit = true
			clear(final)
			continue
		case "node.crash":
			if msg, _ := r.Str("error"); strings.HasPrefix(msg, "state invariant: ") {
				res.Verdict, res.Explanation = Invalid, fmt.Sprintf("%s crashed at %s: %s", r.Node, at(r.Time), msg)
				res.First = eventCulprit(r, res.Explanation)
				return res
			}
			continue
		case "sm.digest":
			index, _ = r.Int("applied")
		case "raft.compact", "raft.snapshot.install":
			index, _ = r.Int("index")
		default:
			continue
		}
		records++
		group, _ := r.Str("group")
		digest, _ := r.Str("digest")
		k := point{group, index}
		if prev, ok := digests[k]; ok && prev.digest != digest {
			res = invalid(res, "%s and %s disagree on the state of %s at index %d: %s had digest %s at %s, %s has %s at %s",
				prev.node, r.Node, group, index, prev.node, prev.digest, at(prev.time), r.Node, digest, at(r.Time))
			res.First = eventCulprit(r, res.Explanation)
			return res
		} else if !ok {
			digests[k] = seen{r.Node, digest, r.Time}
		}
		if r.Kind == "sm.digest" {
			if final[group] == nil || !explicit && r.Time > lastRound[group] {
				final[group], lastRound[group] = map[env.NodeID]int64{}, r.Time
			}
			final[group][r.Node] = index
		}
	}
	if records == 0 {
		res.Verdict, res.Explanation = NA, "no replica recorded a state digest"
		return res
	}
	var summary []string
	histories := confHistories(trace)
	for _, g := range slices.Sorted(maps.Keys(final)) {
		applied := final[g]
		if m, ok := histories[g].last(); ok {
			applied = maps.Clone(applied)
			maps.DeleteFunc(applied, func(n env.NodeID, _ int64) bool { return !m.has(n) })
		}
		if len(applied) == 0 {
			continue
		}
		nodes := slices.Sorted(maps.Keys(applied))
		first := applied[nodes[0]]
		for _, n := range nodes[1:] {
			if applied[n] != first {
				return invalid(res, "%s did not converge: at the end %s had applied up to %d, %s up to %d", g, nodes[0], first, n, applied[n])
			}
		}
		summary = append(summary, fmt.Sprintf("%s: %d replicas at index %d", g, len(nodes), first))
	}
	res.Verdict = Valid
	res.Explanation = fmt.Sprintf("%d state digests agreed wherever two replicas reached the same index; at the end %s",
		records, strings.Join(summary, "; "))
	return res
}
