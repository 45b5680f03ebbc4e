package reports

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
)

// Replication is one replication destination of a cluster (a
// destination of type shoal, sending the cluster's changes to another
// cluster): its queue as the leaders of the sending cluster's
// replicasets recorded it (outbound.state, summed over replicasets; the
// oldest message's age is the oldest of theirs), the pushes they sent
// (outbound.push), what the receiving cluster did with the changes
// (repl.apply: applied, or skipped as stale, each change once however
// many replicas applied it) per stretch of Bin µs, and how long the
// queue took to empty after each heal of a link between data centres
// (the dclink fault).
type Replication struct {
	Cluster     int `json:"cluster"` // the sending cluster
	Destination int `json:"destination"`
	// To is the receiving cluster when the trace tells which one it is
	// (as the simulator's gateway names it in its endpoint records,
	// else the only other cluster, or the one other cluster the
	// destination's name names); "" when it does not, and then Applied
	// and Stale count the sending cluster's changes in every other
	// cluster.
	To int `json:"to"`
	// The queue from each moment on. Past the cap, one point per
	// stretch of time: its deepest depth and its oldest age.
	States    int     `json:"states"` // outbound.state records; the columns may hold fewer
	Time      []int64 `json:"t"`
	Depth     []int64 `json:"depth"`
	Oldest    []int64 `json:"oldest"` // µs the oldest message had waited
	Deepest   int64   `json:"deepest"`
	DeepestAt int64   `json:"deepest_at"` // when the depth first reached Deepest, µs
	Eldest    int64   `json:"eldest"`     // the longest any message had waited, µs
	EldestAt  int64   `json:"eldest_at"`
	Pushes    int     `json:"pushes"` // outbound.push records
	Sent      int64   `json:"sent"`   // the changes in them (sent again after a failure counts again)
	// What the gateway to the receiving cluster recorded: changes the
	// receiving cluster acknowledged (endpoint.receive, not counting
	// those acknowledged again) and refusals (endpoint.refuse).
	Acked    int `json:"acked"`
	Refusals int `json:"refusals"`
	// Changes the receiving cluster applied and skipped as stale, in all
	// and per stretch of Bin µs from 0 (by the first replica's record).
	Applied    int   `json:"applied"`
	Stale      int   `json:"stale"`
	Bin        int64 `json:"bin"`
	PerApplied []int `json:"per_applied"`
	PerStale   []int `json:"per_stale"`
	// CatchUp is, for each dclink fault that touched the two clusters
	// and ended before the run did, how long after its end the queue
	// first held nothing.
	CatchUp []CatchUp `json:"catch_up"`
}

// CatchUp is the time a replication destination took to catch up after
// a heal: from Heal (µs, the fault's end) until its queue first held
// nothing, Took µs (0: it was empty at the heal; -1: never again).
type CatchUp struct {
	Heal int64 `json:"heal"`
	What int   `json:"what"` // the fault, in words
	Took int64 `json:"took"`
}

// replication gathers the replication destinations of a run with repl
// records, in order of cluster and destination. The trace does not say
// which destinations are of type shoal: it takes every destination
// whose queue or pushes an instance of a cluster recorded and whose
// endpoint records name a receiving cluster (the simulator's gateway
// between clusters writes them so), or that has none at all
// (checker.ReplTopology.Replicates). A destination is per sending
// cluster: two clusters may name theirs alike.
func (b *builder) replication(trace []env.Record, limit int) {
	repl := false
	for i := range trace {
		if k := trace[i].Kind; k == "repl.apply" || k == "repl.objects" {
			repl = true
			break
		}
	}
	if !repl {
		return
	}
	topo := checker.ReplicationTopology(trace, nil)
	type key struct{ cluster, dest string }
	type state struct{ t, depth, oldest int64 }
	type dest struct {
		states         []state
		groups         map[string][2]int64 // replicaset → depth, oldest
		order          []string
		pushes         int
		sent           int64
		acked, refused int
	}
	ds := map[key]*dest{}
	// A change once per receiving cluster: applied if any replica did,
	// at the first record that says so.
	type change struct {
		cluster, typ, pk, origin string
		time                     int64
	}
	type fate struct {
		at      int64
		applied bool
	}
	changes := map[change]*fate{}
	var order []change
	for i := range trace {
		r := &trace[i]
		s := func(k string) string { v, _ := r.Str(k); return v }
		n := func(k string) int64 { v, _ := r.Int(k); return v }
		switch r.Kind {
		case "outbound.state", "outbound.push", "endpoint.receive", "endpoint.refuse":
			sender := r.Node
			if strings.HasPrefix(r.Kind, "endpoint.") {
				sender = env.NodeID(s("from"))
			}
			c := topo.ClusterOf(sender)
			if c == "" || !topo.Replicates(s("destination")) {
				continue
			}
			k := key{c, s("destination")}
			d := ds[k]
			if d == nil {
				d = &dest{groups: map[string][2]int64{}}
				ds[k] = d
			}
			switch r.Kind {
			case "outbound.push":
				d.pushes++
				d.sent += n("messages")
				continue
			case "endpoint.receive":
				if n("dup") == 0 {
					d.acked++
				}
				continue
			case "endpoint.refuse":
				d.refused++
				continue
			}
			g := s("group")
			if _, ok := d.groups[g]; !ok {
				d.order = append(d.order, g)
			}
			d.groups[g] = [2]int64{n("depth"), n("oldest_ms") * 1000}
			sum := state{t: us(r.Time)}
			for _, g := range d.order {
				sum.depth += d.groups[g][0]
				sum.oldest = max(sum.oldest, d.groups[g][1])
			}
			d.states = append(d.states, sum)
		case "repl.apply":
			c := s("cluster")
			if c == "" {
				c = topo.ClusterOf(r.Node)
			}
			ch := change{c, s("type"), s("pk"), s("origin"), n("time")}
			applied, _ := r.Bool("applied")
			f := changes[ch]
			if f == nil {
				f = &fate{at: r.Time}
				changes[ch] = f
				order = append(order, ch)
			}
			if applied && !f.applied {
				f.at, f.applied = r.Time, true
			}
		}
	}
	keys := make([]key, 0, len(ds))
	for k := range ds {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(a.cluster+"\x00"+a.dest, b.cluster+"\x00"+b.dest) })
	limit = max(limit, 1)
	step := max(b.d.End/int64(limit), 1000)
	bin, nb := b.bins()
	at := func(ns int64) int { return int(min(max(us(ns)/bin, 0), int64(nb-1))) }
	sampled := false
	for _, k := range keys {
		d := ds[k]
		to := topo.Receiver(k.dest)
		out := Replication{Cluster: b.str(k.cluster), Destination: b.str(k.dest), To: b.str(to), States: len(d.states),
			Pushes: d.pushes, Sent: d.sent, Acked: d.acked, Refusals: d.refused, Bin: bin, PerApplied: make([]int, nb), PerStale: make([]int, nb)}
		for _, ch := range order {
			if ch.origin != k.cluster || ch.cluster == k.cluster || to != "" && ch.cluster != to {
				continue
			}
			if f := changes[ch]; f.applied {
				out.Applied++
				out.PerApplied[at(f.at)]++
			} else {
				out.Stale++
				out.PerStale[at(f.at)]++
			}
		}
		last := int64(-1) << 62
		for _, s := range d.states {
			if s.depth > out.Deepest {
				out.Deepest, out.DeepestAt = s.depth, s.t
			}
			if s.oldest > out.Eldest {
				out.Eldest, out.EldestAt = s.oldest, s.t
			}
			j := len(out.Time) - 1
			if len(d.states) > limit && j >= 0 && s.t/step == last {
				out.Depth[j], out.Oldest[j] = max(out.Depth[j], s.depth), max(out.Oldest[j], s.oldest)
				continue
			}
			last = s.t / step
			out.Time, out.Depth, out.Oldest = append(out.Time, s.t), append(out.Depth, s.depth), append(out.Oldest, s.oldest)
		}
		sampled = sampled || len(out.Time) < len(d.states)
		for _, f := range b.d.Faults {
			if f.Fault != "dclink" || f.Stop < 0 || f.Stop >= b.d.End || !touches(f.Targets+" "+f.What, k.cluster, to, topo.Clusters) {
				continue
			}
			c := CatchUp{Heal: f.Stop, What: b.str(f.What), Took: -1}
			depth := int64(0) // before the first state, nothing waited
			for _, s := range d.states {
				if s.t > f.Stop {
					if depth == 0 {
						break
					}
					depth = s.depth
					if depth == 0 {
						c.Took = s.t - f.Stop
						break
					}
					continue
				}
				depth = s.depth
			}
			if depth == 0 && c.Took < 0 {
				c.Took = 0
			}
			out.CatchUp = append(out.CatchUp, c)
		}
		b.d.Replication = append(b.d.Replication, out)
	}
	if sampled {
		b.d.Notes = append(b.d.Notes, fmt.Sprintf("The replication queues' state is kept once every %s of virtual time: the deepest depth and the oldest age of each stretch.", fmtDuration(step*1000)))
	}
}

// names reports whether s names cluster c: c appears in it, neither
// preceded nor followed by a letter or digit ("to-dc2", "dc1-n1", not
// "dc10").
func names(s, c string) bool {
	alnum := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' }
	for i := 0; ; {
		j := strings.Index(s[i:], c)
		if j < 0 {
			return false
		}
		j += i
		if (j == 0 || !alnum(s[j-1])) && (j+len(c) == len(s) || !alnum(s[j+len(c)])) {
			return true
		}
		i = j + 1
	}
}

// touches reports whether a fault that names clusters in text ("dc1|dc2
// cut: 4 links") names from or to; a fault that names no cluster
// touches every one.
func touches(text, from, to string, clusters []string) bool {
	if names(text, from) || to != "" && names(text, to) {
		return true
	}
	for _, c := range clusters {
		if names(text, c) {
			return false
		}
	}
	return true
}
