package checker

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/env"
)

// RaftSafety checks the Raft invariants that the trace records (raft.state,
// raft.conf, raft.ack, raft.apply; core/node documents them):
//
//   - at most one leader per group and term;
//   - no two nodes apply different entries at the same index of a group;
//   - a leader advances its commit index only to an index that a majority
//     of the group's voters acknowledged in its term, itself included (the
//     voters before or after a membership change recorded in the same
//     step);
//   - a node's commit index never decreases, not even across a restart;
//   - no node applies past its commit index;
//   - no node dies because raft found its own state impossible (node.crash
//     with an error beginning "raft invariant: ", such as a follower told
//     to commit past the end of its log).
//
// It is NA when the trace has no Raft state.
func RaftSafety(trace []env.Record) Result {
	res := Result{Checker: "raft-safety"}
	type nodeGroup struct {
		node  env.NodeID
		group string
	}
	type groupTerm struct {
		group string
		term  int64
	}
	type groupIndex struct {
		group string
		index int64
	}
	type applied struct {
		hash string
		node env.NodeID
		time int64
	}
	type state struct {
		role   string
		term   int64
		commit int64
		seen   bool
		voters []string // as of this record
	}
	leaders := map[groupTerm]env.NodeID{}
	entries := map[groupIndex]applied{}
	voters := map[nodeGroup][]string{}
	type leaderTerm struct {
		nodeGroup
		term int64
	}
	acks := map[leaderTerm]map[string]int64{} // on a leader, per term: voter → highest index it acknowledged
	states := map[nodeGroup]state{}
	var nStates, nApplies int
	fail := func(r *env.Record, format string, args ...any) Result {
		res.Verdict = Invalid
		res.Explanation = fmt.Sprintf(format, args...)
		res.First = eventCulprit(r, res.Explanation)
		return res
	}
	for i := range trace {
		r := &trace[i]
		group, _ := r.Str("group")
		k := nodeGroup{r.Node, group}
		switch r.Kind {
		case "node.crash":
			if msg, _ := r.Str("error"); strings.HasPrefix(msg, "raft invariant: ") {
				return fail(r, "%s crashed at %s: %s", r.Node, at(r.Time), msg)
			}
		case "raft.conf":
			v, _ := r.Str("voters")
			voters[k] = strings.Split(v, ",")
		case "raft.ack":
			term, _ := r.Int("term")
			lt := leaderTerm{k, term}
			if acks[lt] == nil {
				acks[lt] = map[string]int64{}
			}
			from, _ := r.Str("from")
			idx, _ := r.Int("index")
			acks[lt][from] = max(acks[lt][from], idx)
		case "raft.apply":
			nApplies++
			idx, _ := r.Int("index")
			hash, _ := r.Str("hash")
			gi := groupIndex{group, idx}
			if prev, ok := entries[gi]; ok && prev.hash != hash {
				return fail(r, "%s applied entry %d of %s with hash %s at %s, but %s had applied a different entry (hash %s) at that index at %s",
					r.Node, idx, group, hash, at(r.Time), prev.node, prev.hash, at(prev.time))
			}
			entries[gi] = applied{hash, r.Node, r.Time}
		case "raft.state":
			nStates++
			role, _ := r.Str("role")
			term, _ := r.Int("term")
			commit, _ := r.Int("commit")
			app, _ := r.Int("applied")
			prev := states[k]
			if role == "leader" {
				gt := groupTerm{group, term}
				if other, ok := leaders[gt]; ok && other != r.Node {
					return fail(r, "%s and %s were both leaders of %s in term %d (%s at %s)", other, r.Node, group, term, r.Node, at(r.Time))
				}
				leaders[gt] = r.Node
			}
			if prev.seen && commit < prev.commit {
				return fail(r, "%s's commit index for %s went back from %d to %d at %s", r.Node, group, prev.commit, commit, at(r.Time))
			}
			if app > commit {
				return fail(r, "%s applied %s up to %d at %s, beyond its commit index %d", r.Node, group, app, at(r.Time), commit)
			}
			if role == "leader" && prev.role == "leader" && prev.term == term && commit > prev.commit {
				// The commit may have been decided before a membership
				// change applied in the same step (raft.conf comes first in
				// the trace): a majority of the voters before it counts too.
				acked := func(vs []string) []string {
					var out []string
					for _, v := range vs {
						if acks[leaderTerm{k, term}][v] >= commit {
							out = append(out, v)
						}
					}
					return out
				}
				vs, before := voters[k], prev.voters
				if a, b := acked(vs), acked(before); 2*len(a) <= len(vs) && (before == nil || 2*len(b) <= len(before)) {
					return fail(r, "%s, leader of %s in term %d, advanced its commit index to %d at %s, but only [%s] of the voters [%s] had acknowledged entries up to %d in that term",
						r.Node, group, term, commit, at(r.Time), strings.Join(a, ","), strings.Join(vs, ","), commit)
				}
			}
			states[k] = state{role: role, term: term, commit: commit, seen: true, voters: voters[k]}
		}
	}
	if nStates == 0 {
		res.Verdict = NA
		res.Explanation = "the trace has no Raft state"
		return res
	}
	groups := map[string]bool{}
	for gt := range leaders {
		groups[gt.group] = true
	}
	names := slices.Sorted(maps.Keys(groups))
	res.Verdict = Valid
	res.Explanation = fmt.Sprintf("%d leaderships over groups [%s] each had one leader per term; %d entries were applied %d times, identically wherever applied; every commit a leader made was acknowledged by a majority of voters; no commit index went back",
		len(leaders), strings.Join(names, ","), len(entries), nApplies)
	return res
}
