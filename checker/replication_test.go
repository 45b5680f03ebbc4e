package checker

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/shoaldb/shoal/core/env"
)

// replApply is a repl.apply record of node, in the cluster its name
// starts with, of replicaset rs1.
func replApply(t int64, node, typ, pk, origin string, stamp int64, applied bool) env.Record {
	cluster, _, _ := strings.Cut(node, "-")
	return env.Record{Time: t, Node: env.NodeID(node), Kind: "repl.apply", Fields: []env.Field{
		env.Str("group", "rs1"), env.Str("cluster", cluster), env.Str("type", typ), env.Str("pk", pk),
		env.Str("origin", origin), env.Int("time", stamp), env.Str("id", fmt.Sprintf("%s/%s-%d", origin, pk, stamp)),
		env.Bool("applied", applied)}}
}

// replObjects is a repl.objects record of node for replicaset group.
func replObjects(t int64, node, group string, lines ...string) env.Record {
	cluster, _, _ := strings.Cut(node, "-")
	slices.Sort(lines)
	return env.Record{Time: t, Node: env.NodeID(node), Kind: "repl.objects", Fields: []env.Field{
		env.Str("group", group), env.Str("cluster", cluster), env.Int("count", int64(len(lines))),
		env.Str("objects", strings.Join(lines, "\n"))}}
}

func objLine(typ, pk string, version int, stamp int64, origin string) string {
	return fmt.Sprintf("%s\t%s\t%d\t%d\t%s\t%016x", typ, pk, version, stamp, origin, stamp*7919)
}

var twoClusters = map[string][]env.NodeID{"dc1": {"dc1-n1", "dc1-n2"}, "dc2": {"dc2-n1", "dc2-n2"}}

// replRun: order 1 written in dc1 at 100 and in dc2 at 150, order 2 in
// dc2 at 200. dc1 takes both of dc2's changes; dc2 skips dc1's as stale
// (its own write is later). Each change reaches both replicas.
func replRun() []env.Record {
	final := []string{objLine("order", "1", 2, 150, "dc2"), objLine("order", "2", 2, 200, "dc2")}
	return []env.Record{
		replApply(1000, "dc2-n1", "order", "1", "dc1", 100, false),
		replApply(1001, "dc2-n2", "order", "1", "dc1", 100, false),
		replApply(2000, "dc1-n1", "order", "1", "dc2", 150, true),
		replApply(2001, "dc1-n2", "order", "1", "dc2", 150, true),
		replApply(3000, "dc1-n1", "order", "2", "dc2", 200, true),
		replApply(3001, "dc1-n2", "order", "2", "dc2", 200, true),
		{Time: 3500, Node: "dc1-n1", Kind: "outbound.state", Fields: []env.Field{env.Str("group", "rs1"), env.Str("destination", "to-dc2"),
			env.Int("depth", 3), env.Int("oldest_ms", 1500), env.Int("retrying", 0)}},
		{Time: 3600, Node: "dc1-n1", Kind: "outbound.state", Fields: []env.Field{env.Str("group", "rs1"), env.Str("destination", "audit"),
			env.Int("depth", 9), env.Int("oldest_ms", 9000), env.Int("retrying", 0)}},
		{Time: 3700, Node: "ext/audit", Kind: "endpoint.receive", Fields: []env.Field{env.Str("destination", "audit")}},
		{Time: 3800, Node: "ext/to-dc2", Kind: "endpoint.receive", Fields: []env.Field{env.Str("destination", "to-dc2"), env.Str("cluster", "dc2")}},
		replObjects(9000, "dc1-n1", "rs1", final...),
		replObjects(9000, "dc1-n2", "rs1", final...),
		replObjects(9000, "dc2-n1", "rs1", final...),
		replObjects(9000, "dc2-n2", "rs1", final...),
	}
}

func TestReplicationChecker(t *testing.T) {
	with := func(rs ...env.Record) []env.Record { return append(replRun(), rs...) }
	changed := func(node string, lines ...string) []env.Record {
		tr := replRun()
		for i := range tr {
			if tr[i].Kind == "repl.objects" && string(tr[i].Node) == node {
				tr[i] = replObjects(9000, node, "rs1", lines...)
			}
		}
		return tr
	}
	for _, c := range []struct {
		name     string
		trace    []env.Record
		clusters map[string][]env.NodeID
		want     Verdict
		why      []string
	}{
		{"valid", replRun(), twoClusters, Valid, []string{
			"dc1, dc2 hold the same 2 objects",
			"dc1 applied 2 changes and skipped 0 as stale, dc2 applied 0 changes and skipped 1 as stale",
			"replication lag: dc1 → dc2 (to-dc2) at most 3 waiting (at 3.5µs), the oldest for up to 1.5s (at 3.5µs); objects per cluster: dc1 2, dc2 2"}},
		{"clusters from the records", replRun(), nil, Valid, []string{"dc1, dc2 hold the same 2 objects"}},
		{"nothing", nil, twoClusters, NA, []string{"no replication"}},
		{"one cluster", slices.DeleteFunc(replRun(), func(r env.Record) bool { return r.Kind != "repl.objects" || r.Node[:3] == "dc2" }), nil, NA,
			[]string{"one cluster (dc1)"}},
		{"a cluster without listings", slices.DeleteFunc(replRun(), func(r env.Record) bool { return r.Kind == "repl.objects" && r.Node[:3] == "dc2" }),
			twoClusters, Unknown, []string{"1 cluster recorded no repl.objects: the final state of dc2 is unknown", "dc1 applied 2 changes"}},
		{"a named cluster silent", replRun(), map[string][]env.NodeID{"dc1": nil, "dc2": nil, "dc3": {"dc3-n1"}}, Unknown,
			[]string{"final state of dc3 is unknown"}},
		{"a listing short of its count", func() []env.Record {
			tr := replRun()
			tr[len(tr)-1].Fields[2] = env.Int("count", 3)
			tr[len(tr)-2].Fields[2] = env.Int("count", 3)
			return tr
		}(), twoClusters, Unknown, []string{"dc2-n1's listing of dc2's rs1 has 2 objects of the 3 it counts"}},
		{"applied twice", with(replApply(4000, "dc1-n2", "order", "2", "dc2", 200, true)), twoClusters, Invalid,
			[]string{"dc1-n2 applied the change of order 2 with stamp 200 from dc2 twice (at 3.001µs and 4µs, message dc2/2-200)"}},
		{"applied again after a restart", with(env.Record{Time: 3900, Node: "dc1-n2", Kind: "node.start", Fields: []env.Field{env.Int("inc", 2)}},
			replApply(4000, "dc1-n2", "order", "2", "dc2", 200, true)), twoClusters, Valid, nil},
		{"a stale change applied", with(replApply(4000, "dc1-n1", "order", "1", "dc1", 150, true)), twoClusters, Invalid,
			[]string{"dc1-n1 applied the change of order 1 with stamp 150 from dc1 (message dc1/1-150) although it had applied stamp 150 from dc2 to it before"}},
		{"an older change applied", with(replApply(4000, "dc1-n1", "order", "2", "dc1", 199, true)), twoClusters, Invalid,
			[]string{"with stamp 199 from dc1", "had applied stamp 200 from dc2"}},
		{"replicas disagree", append(changed("dc2-n1", objLine("order", "1", 2, 150, "dc2"), objLine("order", "2", 2, 190, "dc1")),
			replObjects(9000, "dc2-n3", "rs1", objLine("order", "1", 2, 150, "dc2"), objLine("order", "2", 2, 200, "dc2"))), twoClusters, Valid,
			[]string{"replicas of dc2's rs1 disagree (dc2-n2, dc2-n3 listed 2 objects, dc2-n1 listed 2 objects; taken: dc2-n2, dc2-n3's)"}},
		{"diverged everywhere", func() []env.Record {
			lines := []string{objLine("order", "1", 2, 150, "dc2"), objLine("order", "2", 1, 190, "dc1"), objLine("order", "3", 1, 5, "dc2")}
			tr := changed("dc2-n1", lines...)
			tr[len(tr)-1] = replObjects(9000, "dc2-n2", "rs1", lines...)
			return tr
		}(), twoClusters, Invalid, []string{
			"the clusters did not converge: 2 objects differ, the first order 2: dc1 holds version 2, stamp 200 from dc2, sha 0000000000182ab8, dc2 holds version 1, stamp 190 from dc1, sha 000000000016f562"}},
		{"missing object", func() []env.Record {
			tr := changed("dc2-n1", objLine("order", "1", 2, 150, "dc2"))
			tr[len(tr)-1] = replObjects(9000, "dc2-n2", "rs1", objLine("order", "1", 2, 150, "dc2"))
			return tr
		}(), twoClusters, Invalid, []string{"1 object differs, the first order 2: dc1 holds version 2", "dc2 does not hold it"}},
		{"two replicasets make a cluster", func() []env.Record {
			tr := changed("dc2-n1", objLine("order", "1", 2, 150, "dc2"))
			tr[len(tr)-1] = replObjects(9000, "dc2-n2", "rs1", objLine("order", "1", 2, 150, "dc2"))
			return append(tr, replObjects(9000, "dc2-n3", "rs2", objLine("order", "2", 2, 200, "dc2")))
		}(), twoClusters, Valid, []string{"hold the same 2 objects"}},
		{"a malformed line", func() []env.Record {
			tr := changed("dc2-n1", "order\t1\t2")
			tr[len(tr)-1] = replObjects(9000, "dc2-n2", "rs1", "order\t1\t2")
			return tr
		}(), twoClusters, Unknown, []string{"is not type, pk, version, time, origin, sha"}},
	} {
		res := Replication(c.trace, c.clusters)
		if res.Checker != "replication" || res.Verdict != c.want {
			t.Errorf("%s: %s: %s", c.name, res.Verdict, res.Explanation)
			continue
		}
		for _, why := range c.why {
			if !strings.Contains(res.Explanation, why) {
				t.Errorf("%s: the explanation lacks %q: %s", c.name, why, res.Explanation)
			}
		}
		if (res.Verdict == Invalid && strings.Contains(c.name, "applied")) != (res.First != nil) {
			t.Errorf("%s: first bad %+v", c.name, res.First)
		}
		if res.First != nil && (res.First.Time != 4000 || res.First.What != res.Explanation) {
			t.Errorf("%s: first bad %+v", c.name, res.First)
		}
	}
}

// TestReplicationOrderDoesNotMatter: clusters that receive the same
// changes in different orders and apply each only if it is later than
// what the object holds end with the same objects, and the checker says
// so; an instance that applied one change it skipped makes it invalid.
func TestReplicationOrderDoesNotMatter(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		type change struct {
			pk    string
			stamp Stamp
		}
		n := rapid.IntRange(1, 12).Draw(t, "changes")
		var changes []change
		seen := map[change]bool{}
		for range n {
			c := change{pk: rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "pk"),
				stamp: Stamp{Time: rapid.Int64Range(1, 5).Draw(t, "time"), Origin: rapid.SampledFrom([]string{"dc1", "dc2", "dc3"}).Draw(t, "origin")}}
			if !seen[c] {
				seen[c] = true
				changes = append(changes, c)
			}
		}
		var trace []env.Record
		clock := int64(0)
		for _, cl := range []string{"dc1", "dc2", "dc3"} {
			order := rapid.Permutation(changes).Draw(t, cl)
			held := map[string]Stamp{}
			for _, c := range order {
				h, ok := held[c.pk]
				applied := !ok || c.stamp.Later(h)
				if applied {
					held[c.pk] = c.stamp
				}
				for _, node := range []string{cl + "-n1", cl + "-n2"} {
					clock++
					trace = append(trace, replApply(clock, node, "doc", c.pk, c.stamp.Origin, c.stamp.Time, applied))
				}
			}
			var lines []string
			for pk, s := range held {
				lines = append(lines, objLine("doc", pk, 1, s.Time, s.Origin))
			}
			for _, node := range []string{cl + "-n1", cl + "-n2"} {
				trace = append(trace, replObjects(clock+1, node, "rs1", lines...))
			}
		}
		if res := Replication(trace, nil); res.Verdict != Valid {
			t.Fatalf("%s: %s", res.Verdict, res.Explanation)
		}
		var skipped []int
		for i, r := range trace {
			if ok, _ := r.Bool("applied"); r.Kind == "repl.apply" && !ok {
				skipped = append(skipped, i)
			}
		}
		if len(skipped) == 0 {
			return
		}
		i := rapid.SampledFrom(skipped).Draw(t, "flipped")
		trace[i].Fields[len(trace[i].Fields)-1] = env.Bool("applied", true)
		if res := Replication(trace, nil); res.Verdict != Invalid || res.First == nil || res.First.Time != trace[i].Time {
			t.Fatalf("a skipped change applied: %s: %s", res.Verdict, res.Explanation)
		}
	})
}
