package checker

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/shoaldb/shoal/core/env"
)

// Stamp is what a replicated change carries and an object holds: the
// time (ns) of the change and the cluster it was made in. A receiving
// cluster applies a change only if its stamp is later than the object's.
type Stamp struct {
	Time   int64
	Origin string
}

// Later reports whether s is later than t: its time, then its origin's
// name, is greater.
func (s Stamp) Later(t Stamp) bool {
	if s.Time != t.Time {
		return s.Time > t.Time
	}
	return s.Origin > t.Origin
}

func (s Stamp) String() string { return fmt.Sprintf("stamp %d from %s", s.Time, s.Origin) }

// replChange is one replicated change: an object and the stamp it
// carried.
type replChange struct {
	typ, pk string
	stamp   Stamp
}

func (c replChange) object() string { return c.typ + " " + c.pk }

func (c replChange) String() string {
	return "the change of " + c.object() + " with " + c.stamp.String()
}

// listing is one instance's repl.objects of one replicaset: its lines
// and the count it gave.
type listing struct {
	node    env.NodeID
	objects string
	count   int64
}

// Replication judges replication between clusters from what the
// receiving instances recorded (repl.apply: the replicaset, the
// receiving cluster, the object, its stamp, the message id and whether
// the change was applied) and what every instance held at the end
// (repl.objects: per replicaset it serves, one line per live object,
// "type\tpk\tversion\ttime\torigin\tsha"):
//
//   - no change applied twice: no instance applied one change (object
//     and stamp) more than once in one incarnation (a restart may lose
//     what was not synced, and applies it again);
//   - the conflict rule held: no instance applied a change whose stamp
//     was not later than one it had applied to the same object before,
//     in the same incarnation (the object's local writes are not in the
//     trace, so a change skipped as stale is never questioned);
//   - convergence: at the end every cluster held the same objects at
//     the same versions, stamps and contents. A cluster's state is the
//     union of its replicasets' listings; a replicaset's is the listing
//     most of its instances gave (the convergence check judges replicas
//     that disagree; the explanation names them).
//
// clusters names each cluster's instances (nil: the clusters the
// records name). A cluster without repl.objects, or a listing shorter
// than its count, makes the verdict unknown. Its explanation counts the
// changes applied and skipped as stale per cluster, the objects per
// cluster and, from the outbound queues' state (outbound.state of the
// replication destinations, ReplTopology.Replicates), the replication
// lag. NA without repl records or with fewer than two clusters.
func Replication(trace []env.Record, clusters map[string][]env.NodeID) Result {
	res := Result{Checker: "replication"}
	topo := ReplicationTopology(trace, clusters)
	type perNode struct {
		applied map[replChange]int64 // → when, in this incarnation
		held    map[[2]string]Stamp  // type, pk → the latest stamp applied
	}
	nodes := map[env.NodeID]*perNode{}
	fresh := func() *perNode {
		return &perNode{applied: map[replChange]int64{}, held: map[[2]string]Stamp{}}
	}
	// Per receiving cluster, each change: whether a replica applied it.
	received := map[string]map[replChange]bool{}
	listings := map[string]map[string]map[env.NodeID]listing{} // cluster → replicaset → instance → its last listing
	lag := map[[2]string]*destLag{}                            // sending cluster, destination
	var applies int
	for i := range trace {
		r := &trace[i]
		s := func(k string) string { v, _ := r.Str(k); return v }
		switch r.Kind {
		case "node.start":
			delete(nodes, r.Node)
		case "repl.apply", "repl.objects":
			c := s("cluster")
			if c == "" {
				c = topo.ClusterOf(r.Node)
			}
			if c == "" {
				return unknownAt(res, fmt.Sprintf("%s recorded %s at %s naming no cluster", r.Node, r.Kind, at(r.Time)))
			}
			if r.Kind == "repl.objects" {
				g := s("group")
				if listings[c] == nil {
					listings[c] = map[string]map[env.NodeID]listing{}
				}
				if listings[c][g] == nil {
					listings[c][g] = map[env.NodeID]listing{}
				}
				n, _ := r.Int("count")
				listings[c][g][r.Node] = listing{node: r.Node, objects: s("objects"), count: n}
				continue
			}
			applies++
			t, _ := r.Int("time")
			ch := replChange{typ: s("type"), pk: s("pk"), stamp: Stamp{Time: t, Origin: s("origin")}}
			applied, _ := r.Bool("applied")
			if received[c] == nil {
				received[c] = map[replChange]bool{}
			}
			received[c][ch] = received[c][ch] || applied
			if !applied {
				continue
			}
			n := nodes[r.Node]
			if n == nil {
				n = fresh()
				nodes[r.Node] = n
			}
			if when, twice := n.applied[ch]; twice {
				return invalidAt(res, r, fmt.Sprintf("%s applied %s twice (at %s and %s, message %s)", r.Node, ch, at(when), at(r.Time), s("id")))
			}
			n.applied[ch] = r.Time
			obj := [2]string{ch.typ, ch.pk}
			if held, ok := n.held[obj]; ok && !ch.stamp.Later(held) {
				return invalidAt(res, r, fmt.Sprintf("%s applied %s (message %s) although it had applied %s to it before: not later, it should have been skipped as stale",
					r.Node, ch, s("id"), held))
			}
			n.held[obj] = ch.stamp
		}
	}
	for i := range trace {
		r := &trace[i]
		if r.Kind != "outbound.state" {
			continue
		}
		dest, _ := r.Str("destination")
		c := topo.ClusterOf(r.Node)
		if !topo.Replicates(dest) || c == "" {
			continue
		}
		k := [2]string{c, dest}
		if lag[k] == nil {
			lag[k] = &destLag{}
		}
		depth, _ := r.Int("depth")
		oldest, _ := r.Int("oldest_ms")
		lag[k].add(r.Time, depth, oldest*1_000_000)
	}
	if applies == 0 && len(listings) == 0 {
		res.Verdict, res.Explanation = NA, "no replication between clusters (no repl.apply or repl.objects records)"
		return res
	}
	names := topo.Clusters
	if len(names) < 2 {
		res.Verdict, res.Explanation = NA, fmt.Sprintf("one cluster (%s): nothing to replicate", strings.Join(names, ""))
		return res
	}
	summary := replSummary(names, received, lag, topo)
	var missing []string
	for _, c := range names {
		if listings[c] == nil {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return unknownAt(res, fmt.Sprintf("%s recorded no repl.objects: the final state of %s is unknown; %s",
			count(len(missing), "cluster"), strings.Join(missing, ", "), summary))
	}
	states := map[string]map[string]string{} // cluster → "type\tpk" → "version\ttime\torigin\tsha"
	var notes []string
	incomplete := ""
	for _, c := range names {
		states[c] = map[string]string{}
		for _, g := range slices.Sorted(maps.Keys(listings[c])) {
			l, note := majority(listings[c][g])
			if note != "" {
				notes = append(notes, fmt.Sprintf("replicas of %s's %s disagree (%s)", c, g, note))
			}
			lines := 0
			for line := range strings.SplitSeq(l.objects, "\n") {
				if line == "" {
					continue
				}
				lines++
				f := strings.SplitN(line, "\t", 3)
				if len(f) != 3 || strings.Count(f[2], "\t") != 3 {
					return unknownAt(res, fmt.Sprintf("%s's listing of %s's %s has a line that is not type, pk, version, time, origin, sha: %q", l.node, c, g, line))
				}
				key := f[0] + "\t" + f[1]
				if prev, dup := states[c][key]; dup && prev != f[2] {
					notes = append(notes, fmt.Sprintf("%s holds %s %s in two replicasets, differently", c, f[0], f[1]))
				}
				states[c][key] = f[2]
			}
			if int64(lines) != l.count && incomplete == "" {
				incomplete = fmt.Sprintf("%s's listing of %s's %s has %d objects of the %d it counts", l.node, c, g, lines, l.count)
			}
		}
	}
	keys := map[string]bool{}
	for _, c := range names {
		for k := range states[c] {
			keys[k] = true
		}
	}
	differ := 0
	first := ""
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		v0, ok0 := states[names[0]][k]
		for _, c := range names[1:] {
			if v, ok := states[c][k]; v != v0 || ok != ok0 {
				if differ++; first == "" {
					first = k
				}
				break
			}
		}
	}
	var held []string
	for _, c := range names {
		held = append(held, fmt.Sprintf("%s %d", c, len(states[c])))
	}
	tail := summary + "; objects per cluster: " + strings.Join(held, ", ")
	if len(notes) > 0 {
		tail += "; " + strings.Join(notes, "; ")
	}
	if differ > 0 {
		typ, pk, _ := strings.Cut(first, "\t")
		var holds []string
		for _, c := range names {
			holds = append(holds, c+" "+describeHeld(states[c][first]))
		}
		res.Verdict = Invalid
		verb := "differ"
		if differ == 1 {
			verb = "differs"
		}
		res.Explanation = fmt.Sprintf("the clusters did not converge: %s %s, the first %s %s: %s; %s",
			count(differ, "object"), verb, typ, pk, strings.Join(holds, ", "), tail)
		return res
	}
	if incomplete != "" {
		return unknownAt(res, "the clusters agree on what they listed, but "+incomplete+"; "+tail)
	}
	res.Verdict = Valid
	res.Explanation = fmt.Sprintf("%s hold the same %s at the same versions, stamps and contents; no change applied twice, none against the conflict rule; %s",
		strings.Join(names, ", "), count(len(keys), "object"), tail)
	return res
}

// ReplTopology is what a trace says of its clusters and of where they
// replicate to.
type ReplTopology struct {
	// Clusters are the clusters the caller named and those the repl
	// records name (receiving and origin), sorted.
	Clusters []string
	known    map[string]bool
	nodes    map[env.NodeID]string
	// receivers are the destinations of type shoal, each with the
	// cluster it replicates to: the engine's repl.lag records name both;
	// failing those, the simulator's gateway names the cluster in its
	// endpoint records (endpoint.receive, endpoint.refuse). A destination
	// of another type is absent, or maps to "".
	receivers map[string]string
}

// ReplicationTopology reads a trace's clusters: those clusters names
// (cluster → instances; nil for none) and those its repl records name.
func ReplicationTopology(trace []env.Record, clusters map[string][]env.NodeID) *ReplTopology {
	t := &ReplTopology{known: map[string]bool{}, nodes: map[env.NodeID]string{}, receivers: map[string]string{}}
	for c, ns := range clusters {
		t.known[c] = true
		for _, n := range ns {
			t.nodes[n] = c
		}
	}
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "repl.lag":
			d, _ := r.Str("destination")
			if c, _ := r.Str("cluster"); c != "" {
				t.receivers[d] = c
			}
		case "endpoint.receive", "endpoint.refuse":
			d, _ := r.Str("destination")
			if c, _ := r.Str("cluster"); c != "" && t.receivers[d] == "" {
				t.receivers[d] = c
			}
		case "repl.apply", "repl.objects":
			if o, _ := r.Str("origin"); o != "" {
				t.known[o] = true
			}
			c, _ := r.Str("cluster")
			if c == "" {
				continue
			}
			t.known[c] = true
			if _, ok := t.nodes[r.Node]; !ok {
				t.nodes[r.Node] = c
			}
		}
	}
	for _, c := range t.receivers {
		if c != "" {
			t.known[c] = true
		}
	}
	t.Clusters = slices.Sorted(maps.Keys(t.known))
	return t
}

// ClusterOf is the cluster of an instance: the one the caller or its
// repl records named, else a cluster its name starts with ("dc1-n1"),
// else "".
func (t *ReplTopology) ClusterOf(n env.NodeID) string {
	if c, ok := t.nodes[n]; ok {
		return c
	}
	if i := strings.LastIndexByte(string(n), '-'); i > 0 && t.known[string(n[:i])] {
		return string(n[:i])
	}
	return ""
}

// Replicates reports whether an outbound destination is one of type
// shoal: the engine traced its lag (repl.lag), or the simulator's gateway
// carried its pushes to a cluster.
func (t *ReplTopology) Replicates(dest string) bool { return t.receivers[dest] != "" }

// Receiver is the cluster a destination replicates to; "" for a
// destination of another type.
func (t *ReplTopology) Receiver(dest string) string { return t.receivers[dest] }

// destLag is the deepest a replication destination's queue was and the
// longest its oldest message had waited, with when.
type destLag struct {
	depth, depthAt, oldest, oldestAt int64
}

func (l *destLag) add(t, depth, oldest int64) {
	if depth > l.depth {
		l.depth, l.depthAt = depth, t
	}
	if oldest > l.oldest {
		l.oldest, l.oldestAt = oldest, t
	}
}

// replSummary counts the changes per receiving cluster, and gives the
// replication lag per destination.
func replSummary(names []string, received map[string]map[replChange]bool, lag map[[2]string]*destLag, topo *ReplTopology) string {
	var parts []string
	for _, c := range names {
		applied, stale := 0, 0
		for _, ok := range received[c] {
			if ok {
				applied++
			} else {
				stale++
			}
		}
		parts = append(parts, fmt.Sprintf("%s applied %s and skipped %d as stale", c, count(applied, "change"), stale))
	}
	s := strings.Join(parts, ", ")
	if len(lag) == 0 {
		return s
	}
	parts = parts[:0]
	for _, k := range slices.SortedFunc(maps.Keys(lag), func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) }) {
		l := lag[k]
		d := fmt.Sprintf("%s → %s at most %d waiting", k[0], k[1], l.depth)
		if to := topo.Receiver(k[1]); to != "" {
			d = fmt.Sprintf("%s → %s (%s) at most %d waiting", k[0], to, k[1], l.depth)
		}
		if l.depth > 0 {
			d += " (at " + at(l.depthAt) + ")"
		}
		if l.oldest > 0 {
			d += fmt.Sprintf(", the oldest for up to %s (at %s)", at(l.oldest), at(l.oldestAt))
		}
		parts = append(parts, d)
	}
	return s + "; replication lag: " + strings.Join(parts, ", ")
}

// majority is the listing most instances of a replicaset gave (ties:
// the longest, then the first instance's by name), and, when they
// disagree, who listed what.
func majority(byNode map[env.NodeID]listing) (listing, string) {
	votes := map[string][]env.NodeID{}
	for _, n := range slices.Sorted(maps.Keys(byNode)) {
		votes[byNode[n].objects] = append(votes[byNode[n].objects], n)
	}
	kinds := slices.SortedFunc(maps.Keys(votes), func(a, b string) int {
		return cmp.Or(-cmp.Compare(len(votes[a]), len(votes[b])), -cmp.Compare(len(a), len(b)), cmp.Compare(votes[a][0], votes[b][0]))
	})
	best := byNode[votes[kinds[0]][0]]
	if len(kinds) == 1 {
		return best, ""
	}
	var who []string
	for _, k := range kinds {
		ns := votes[k]
		who = append(who, fmt.Sprintf("%s listed %s", joinNodes(ns), count(byNode[ns[0]].lines(), "object")))
	}
	return best, strings.Join(who, ", ") + "; taken: " + joinNodes(votes[kinds[0]]) + "'s"
}

func (l listing) lines() int {
	if l.objects == "" {
		return 0
	}
	return strings.Count(l.objects, "\n") + 1
}

func joinNodes(ns []env.NodeID) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}

// describeHeld renders what a cluster holds of an object: its listing's
// "version\ttime\torigin\tsha", or "" for nothing.
func describeHeld(v string) string {
	if v == "" {
		return "does not hold it"
	}
	f := strings.Split(v, "\t")
	t, _ := strconv.ParseInt(f[1], 10, 64)
	return fmt.Sprintf("holds version %s, %s, sha %s", f[0], Stamp{Time: t, Origin: f[2]}, f[3])
}

func unknownAt(res Result, why string) Result {
	res.Verdict, res.Explanation = Unknown, why
	return res
}
