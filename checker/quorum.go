package checker

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// Quorum checks group 0's promise to operators, from raft.propose and
// prop.result on group "config" and the trace's record of which nodes
// could talk to which:
//
//   - an operator action submitted to a node that could not reach a
//     majority of group 0's voters at any moment of the request's life
//     never succeeds;
//   - an action submitted to a node inside a majority of voters that stay
//     up and mutually connected for five election timeouts, with a timeout
//     at least that long, commits within those five election timeouts
//     (judged only when the trace covers them).
//
// Reachability is symmetric here: two instances are connected when both
// are up and not paused and the links both ways are not cut; a path may
// pass through other instances (a follower forwards to its leader), never
// through a client, which relays nothing. Instances are the nodes that
// record node.bootstrap, and those that joined (instanceSet). Group 0's
// voters change as the governor replaces them: an action succeeded
// without a majority only if no membership in force during its life
// (confHistory.during) had a majority the node could reach, and it is
// judged by the second rule only if it stayed connected to a majority of
// each. The election timeout comes from node.bootstrap (1s if absent).
// NA when no action was made.
func Quorum(trace []env.Record) Result {
	res := Result{Checker: "quorum"}
	tl := newTimeline()
	tl.instances = instanceSet(trace)
	history := confHistories(trace)["config"]
	electionTimeout := int64(time.Second)
	type action struct {
		node     env.NodeID
		id       string
		at       int64
		timeout  int64
		end      int64
		outcome  string
		resolved bool
		index    bool
	}
	var actions []*action
	open := map[string]*action{}
	for i := range trace {
		r := &trace[i]
		tl.observe(r)
		group, _ := r.Str("group")
		switch {
		case r.Kind == "node.bootstrap":
			if et, ok := r.Int("election_timeout"); ok && et > 0 {
				electionTimeout = et
			}
		case r.Kind == "raft.propose" && group == "config":
			id, _ := r.Str("id")
			timeout, _ := r.Int("timeout")
			a := &action{node: r.Node, id: id, at: r.Time, timeout: timeout}
			actions = append(actions, a)
			open[string(r.Node)+"\x00"+id] = a
		case r.Kind == "prop.result" && group == "config":
			id, _ := r.Str("id")
			k := string(r.Node) + "\x00" + id
			if a := open[k]; a != nil {
				delete(open, k)
				a.end, a.resolved = r.Time, true
				a.outcome, _ = r.Str("outcome")
				_, a.index = r.Int("index")
			}
		}
	}
	if len(actions) == 0 {
		res.Verdict, res.Explanation = NA, "no operator action was made"
		return res
	}
	tl.finish()
	traceEnd := trace[len(trace)-1].Time
	window := 5 * electionTimeout
	var without, stable, neither int
	memberships := map[int64]bool{}
	for _, a := range actions {
		end := a.end
		if !a.resolved {
			end = a.at + a.timeout
		}
		committed := a.outcome == "ok" || (a.outcome == "fail" && a.index)
		confs := history.during(a.at, end)
		if len(confs) == 0 {
			neither++ // no membership known: nothing to judge by
			continue
		}
		// The membership and the moment at which the node came nearest
		// to a majority, for the message.
		reached := false
		var near conf
		var nearReach int
		var nearSeg segment
		for _, c := range confs {
			memberships[c.index] = true
			reach, seg := tl.mostVoters(a.node, c.voters, a.at, end)
			if reach >= len(c.voters)/2+1 {
				reached = true
				break
			}
			if near.voters == nil || reach > nearReach {
				near, nearReach, nearSeg = c, reach, seg
			}
		}
		if !reached {
			without++
			if a.outcome == "ok" {
				res.First = &Culprit{Time: a.at, Node: string(a.node), What: "operator action " + a.id + " submitted to " + string(a.node)}
				return invalid(res, "operator action %s submitted to %s at %s succeeded at %s, but %s could not reach a majority (%d) of group 0's voters [%s] at any moment in between (at %s it reached %d: [%s])",
					a.id, a.node, at(a.at), at(a.end), a.node, len(near.voters)/2+1, env.Join(near.voters), at(nearSeg.from), nearReach, env.Join(tl.component(nearSeg, a.node)))
			}
			continue
		}
		if a.timeout < window || a.at+window > traceEnd {
			neither++
			continue
		}
		var connected []env.NodeID
		for _, c := range history.during(a.at, a.at+window) {
			m := tl.stableMajority(a.node, c.voters, a.at, a.at+window)
			if len(m) < len(c.voters)/2+1 {
				connected = nil
				break
			}
			connected = m
		}
		if connected == nil {
			neither++
			continue
		}
		stable++
		if !committed || a.end > a.at+window {
			outcome := a.outcome
			if !a.resolved {
				outcome = "no answer"
			}
			res.First = &Culprit{Time: a.at, Node: string(a.node), What: "operator action " + a.id + " submitted to " + string(a.node)}
			return invalid(res, "operator action %s submitted to %s at %s did not commit within five election timeouts (%s): %s at %s, though %s stayed connected to voters [%s] throughout",
				a.id, a.node, at(a.at), time.Duration(window), outcome, at(a.end), a.node, env.Join(connected))
		}
	}
	voters := "group 0's voters"
	if last, ok := history.last(); ok && len(memberships) <= 1 {
		voters = "group 0's " + count(len(last.voters), "voter")
	} else if len(memberships) > 1 {
		voters = fmt.Sprintf("group 0's voters (%d memberships during the actions)", len(memberships))
	}
	res.Verdict = Valid
	res.Explanation = fmt.Sprintf("%s submitted where no majority of %s could be reached, and none succeeded; %d inside a majority that stayed connected for five election timeouts (%s), all committed within them; %d others not judged",
		countActions(without), voters, stable, time.Duration(window), neither)
	return res
}

func countActions(n int) string {
	if n == 1 {
		return "1 operator action was"
	}
	return fmt.Sprintf("%d operator actions were", n)
}

// timeline replays who was up, paused and cut off, as a list of segments
// during which nothing changed.
type timeline struct {
	cur  state
	segs []segment
	// instances are the nodes a path may pass through; empty means all.
	instances map[env.NodeID]bool
}

type state struct {
	nodes  []env.NodeID
	down   map[env.NodeID]bool
	paused map[env.NodeID]bool
	cut    map[link]bool
}

type segment struct {
	from int64
	st   state
}

func newTimeline() *timeline {
	return &timeline{cur: state{down: map[env.NodeID]bool{}, paused: map[env.NodeID]bool{}, cut: map[link]bool{}},
		instances: map[env.NodeID]bool{}}
}

func (s state) clone() state {
	return state{nodes: slices.Clone(s.nodes), down: maps.Clone(s.down), paused: maps.Clone(s.paused), cut: maps.Clone(s.cut)}
}

func (tl *timeline) observe(r *env.Record) {
	s := &tl.cur
	changed := true
	switch r.Kind {
	case "node.start":
		if !slices.Contains(s.nodes, r.Node) {
			s.nodes = append(s.nodes, r.Node)
		}
		delete(s.down, r.Node)
		delete(s.paused, r.Node)
	case "node.kill", "node.crash", "node.fail":
		s.down[r.Node] = true
		delete(s.paused, r.Node)
	case "node.pause":
		s.paused[r.Node] = true
	case "node.resume":
		delete(s.paused, r.Node)
	case "net.cut", "net.uncut":
		from, _ := r.Str("from")
		to, _ := r.Str("to")
		s.cut[link{env.NodeID(from), env.NodeID(to)}] = r.Kind == "net.cut"
	case "net.heal":
		clear(s.cut)
	case "net.partition":
		clear(s.cut)
		desc, _ := r.Str("components")
		all, comp := components(desc)
		for _, a := range all {
			for _, b := range all {
				if comp[a] != comp[b] {
					s.cut[link{a, b}] = true
				}
			}
		}
	default:
		changed = false
	}
	if changed {
		if n := len(tl.segs); n > 0 && tl.segs[n-1].from == r.Time {
			tl.segs[n-1].st = s.clone()
		} else {
			tl.segs = append(tl.segs, segment{from: r.Time, st: s.clone()})
		}
	}
}

func (tl *timeline) finish() {
	if len(tl.segs) == 0 {
		tl.segs = append(tl.segs, segment{st: tl.cur.clone()})
	}
}

// overlapping returns the segments that overlap [a, b].
func (tl *timeline) overlapping(a, b int64) []segment {
	var out []segment
	for i, s := range tl.segs {
		end := int64(1<<63 - 1)
		if i+1 < len(tl.segs) {
			end = tl.segs[i+1].from
		}
		if s.from <= b && end > a {
			out = append(out, s)
		}
	}
	return out
}

// component is the set of nodes connected with n in a segment.
func (tl *timeline) component(seg segment, n env.NodeID) []env.NodeID {
	s := seg.st
	alive := func(x env.NodeID) bool {
		return !s.down[x] && !s.paused[x] && (len(tl.instances) == 0 || tl.instances[x])
	}
	if !alive(n) {
		return nil
	}
	seen := map[env.NodeID]bool{n: true}
	queue := []env.NodeID{n}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for _, y := range s.nodes {
			if !seen[y] && alive(y) && !s.cut[link{x, y}] && !s.cut[link{y, x}] {
				seen[y] = true
				queue = append(queue, y)
			}
		}
	}
	out := make([]env.NodeID, 0, len(seen))
	for _, y := range s.nodes {
		if seen[y] {
			out = append(out, y)
		}
	}
	return out
}

func countVoters(nodes, voters []env.NodeID) int {
	n := 0
	for _, x := range nodes {
		if slices.Contains(voters, x) {
			n++
		}
	}
	return n
}

// mostVoters is the largest number of voters n could reach at any moment
// of [a, b], and a segment where it reached that many.
func (tl *timeline) mostVoters(n env.NodeID, voters []env.NodeID, a, b int64) (int, segment) {
	best, bestSeg := -1, segment{}
	for _, seg := range tl.overlapping(a, b) {
		if c := countVoters(tl.component(seg, n), voters); c > best {
			best, bestSeg = c, seg
		}
	}
	return best, bestSeg
}

// stableMajority is the set of voters connected with n throughout [a, b].
func (tl *timeline) stableMajority(n env.NodeID, voters []env.NodeID, a, b int64) []env.NodeID {
	var common []env.NodeID
	for i, seg := range tl.overlapping(a, b) {
		comp := tl.component(seg, n)
		if i == 0 {
			common = comp
			continue
		}
		common = slices.DeleteFunc(common, func(x env.NodeID) bool { return !slices.Contains(comp, x) })
	}
	return slices.DeleteFunc(common, func(x env.NodeID) bool { return !slices.Contains(voters, x) })
}
