package checker

import (
	"slices"

	"github.com/shoaldb/shoal/core/env"
)

// A cluster's shape changes during a run: instances join (they record no
// node.bootstrap, since they never bootstrap) and are expelled, and
// group 0's voters change. These helpers read that from the raft.conf
// records, which every instance writes for every group it is in, at
// start, on a snapshot's install and on each membership change.

// conf is one raft.conf record: a group's membership as of an index.
type conf struct {
	time     int64
	node     env.NodeID
	group    string
	index    int64
	voters   []env.NodeID
	learners []env.NodeID
}

func (c conf) has(n env.NodeID) bool {
	return slices.Contains(c.voters, n) || slices.Contains(c.learners, n)
}

// readConf reads a raft.conf record.
func readConf(r *env.Record) conf {
	c := conf{time: r.Time, node: r.Node}
	c.group, _ = r.Str("group")
	c.index, _ = r.Int("index")
	v, _ := r.Str("voters")
	l, _ := r.Str("learners")
	c.voters, c.learners = env.Split(v), env.Split(l)
	return c
}

// instanceSet is every node of the trace that is an instance: those that
// bootstrap, and every one a raft.conf record names or that records one
// (an instance that joined a formed cluster bootstraps nothing).
func instanceSet(trace []env.Record) map[env.NodeID]bool {
	out := map[env.NodeID]bool{}
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "node.bootstrap":
			out[r.Node] = true
		case "raft.conf":
			out[r.Node] = true
			c := readConf(r)
			for _, n := range slices.Concat(c.voters, c.learners) {
				out[n] = true
			}
		}
	}
	return out
}

// replicasetOf maps each instance to its replicaset: the one node.bootstrap
// names, or, for an instance that joined, the data group it records Raft
// state or membership for.
func replicasetOf(trace []env.Record) map[env.NodeID]string {
	out := map[env.NodeID]string{}
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "node.bootstrap":
			out[r.Node], _ = r.Str("replicaset")
		case "raft.conf", "raft.state":
			if g, _ := r.Str("group"); g != "" && g != "config" && out[r.Node] == "" {
				out[r.Node] = g
			}
		}
	}
	return out
}

// confHistory is a group's memberships as the trace recorded them.
type confHistory []conf

// latestAt is the membership of the highest index any instance had
// applied at time t (recorded at or before it), and whether there is one.
func (h confHistory) latestAt(t int64) (conf, bool) {
	var best conf
	found := false
	for _, c := range h {
		if c.time <= t && (!found || c.index > best.index) {
			best, found = c, true
		}
	}
	return best, found
}

// during lists the distinct memberships (by index) in force at some moment
// of [a, b]: the latest at a, and every one recorded in (a, b].
func (h confHistory) during(a, b int64) []conf {
	var out []conf
	seen := map[int64]bool{}
	if c, ok := h.latestAt(a); ok {
		out, seen[c.index] = append(out, c), true
	}
	for _, c := range h {
		if c.time > a && c.time <= b && !seen[c.index] {
			out, seen[c.index] = append(out, c), true
		}
	}
	return out
}

// last is the membership of the highest index recorded, and whether
// there is one.
func (h confHistory) last() (conf, bool) {
	return h.latestAt(1<<63 - 1)
}

// confHistories reads every group's memberships from the trace.
func confHistories(trace []env.Record) map[string]confHistory {
	out := map[string]confHistory{}
	for i := range trace {
		if r := &trace[i]; r.Kind == "raft.conf" {
			c := readConf(r)
			out[c.group] = append(out[c.group], c)
		}
	}
	return out
}
