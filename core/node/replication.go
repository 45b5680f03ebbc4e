package node

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
)

// Replication between clusters (core/README.md): a cluster with a name
// stamps every write of an object, and queues each change made in it for
// the destinations of type shoal whose types include the object's; a
// message of an inbound connector of type shoal is a change made in
// another cluster, applied only if it is later than what the object holds.

// stamp gives a local write its replication part: at, the leader's clock
// (raised at apply past the object's stamp), this cluster's name, the
// route the write was routed by, and the destinations it goes to. A
// cluster without a name stamps nothing, and writes as before stamps. It
// refuses a write whose change would not fit a message of the receiving
// cluster's queue.
func (n *Node) stamp(w *kv.ObjectWrite, route string, at int64) error {
	name := n.conf.conf.Name
	if name == "" {
		return nil
	}
	w.At, w.Origin, w.Route = at, name, route
	p := n.pipeline()
	if p == nil || p.Connectors == nil {
		return nil
	}
	for _, o := range p.Connectors.Outbound { // sorted by name; at most kv.MaxReplicate of type shoal
		if r, ok := o.Spec.(*connector.Replication); ok && r.Cluster != name && r.Replicates(w.Type) {
			w.Replicate = append(w.Replicate, o.Name)
		}
	}
	if len(w.Replicate) > 0 && !kv.ChangeFits(w, name) {
		return fmt.Errorf("%s is too large to replicate to %s: its change would be over %d bytes", w.Type, strings.Join(w.Replicate, ", "), kv.MaxChange)
	}
	return nil
}

// receiver is the inbound connector of type shoal that message m came
// through, or nil when it came through any other.
func receiver(p interface {
	Connector(string) *connector.Inbound
}, m *kv.Message) *connector.ReplicationInbound {
	in := p.Connector(m.Connector)
	if in == nil {
		return nil
	}
	r, _ := in.Spec.(*connector.ReplicationInbound)
	return r
}

// settleChange turns a change another cluster sent into its settlement:
// the object write it makes, to apply only if later than what the object
// holds (kv.ObjectWrite.Replica), or a failure for the repair queue: a
// change that does not parse, comes from a cluster the connector does not
// take, or names what this cluster's model lacks. A change made in this
// cluster (a loop of destinations) settles with nothing.
func (n *Node) settleChange(g *group, mdl *model.Model, r *connector.ReplicationInbound, q *kv.Queued) kv.ProcessItem {
	it := kv.ProcessItem{Seq: q.Seq, ID: q.Message.ID}
	fail := func(format string, args ...any) kv.ProcessItem {
		it.Failure = failure("", -1, connector.ReplicationType, fmt.Sprintf(format, args...))
		return it
	}
	c, err := kv.ParseChange(q.Message.Payload)
	if err != nil {
		return fail("%v", err)
	}
	own := n.conf.conf.Name
	switch {
	case own == "":
		return fail("this cluster has no name, so its own writes carry no stamp to compare a change with: form it with a name to take replicated changes")
	case c.Origin == own:
		return it
	case !r.Accepts(c.Origin):
		return fail("connector %s takes changes from %s, not from cluster %s", q.Message.Connector, strings.Join(r.From, ", "), c.Origin)
	}
	t, ok := mdl.Type(c.Type)
	if !ok {
		return fail("the data model here has no type %q", c.Type)
	}
	w := kv.ObjectWrite{Type: t.Name, PK: c.PK, History: t.History, At: c.Time, Origin: c.Origin, Replica: true}
	if !c.Deleted {
		if c.Version > t.Latest() {
			return fail("the data model here has %s up to version %d, the change is at %d", t.Name, t.Latest(), c.Version)
		}
		obj, err := t.Validate(c.Version, c.Value)
		if err != nil {
			return fail("%s %s: %v", t.Name, c.PK, err)
		}
		if obj, err = t.Upgrade(c.Version, obj); err != nil {
			return fail("%s %s: %v", t.Name, c.PK, err)
		}
		pk, err := t.PrimaryKey(obj)
		if err != nil {
			return fail("%s: %v", t.Name, err)
		}
		if pk != c.PK {
			return fail("%s: the value's key is %s, the change names %s", t.Name, t.KeyString(pk), t.KeyString(c.PK))
		}
		entries, err := t.IndexEntries(obj)
		if err != nil {
			return fail("%s %s: %v", t.Name, t.KeyString(pk), err)
		}
		w.Version, w.Value, w.Indexes = t.Latest(), model.Encode(obj), indexEntries(entries)
		if len(w.Value) > kv.MaxObjectValue {
			return fail("%s %s: %d bytes upgraded, at most %d", t.Name, t.KeyString(pk), len(w.Value), kv.MaxObjectValue)
		}
	}
	if err := n.owns(g, t, c.PK); err != nil {
		return fail("%v", err)
	}
	it.Objects = []kv.ObjectWrite{w}
	return it
}

// traceReceived is a data machine's OnReceived: every replica traces each
// received change as it applies, applied or not.
func (n *Node) traceReceived(group string) func(w *kv.ObjectWrite, later bool) {
	return func(w *kv.ObjectWrite, later bool) {
		n.trace("repl.apply", env.Str("group", group), env.Str("cluster", n.conf.conf.Name), env.Str("type", w.Type),
			env.Str("pk", w.PK), env.Str("origin", w.Origin), env.Int("time", w.At), env.Bool("applied", later),
			env.Bool("deleted", len(w.Value) == 0))
	}
}

// traceObjects lists a replica's objects with their stamps (repl.objects),
// for the check that clusters replicating to each other hold the same: a
// line per object, sorted, "type TAB pk TAB version TAB time TAB origin
// TAB sha" (pk quoted as a Go string; sha: the first 16 hex digits of the
// SHA-256 of its JSON). Only
// a cluster with a name lists them.
func (n *Node) traceObjects(g *group, m *kv.Machine) {
	if n.conf.conf.Name == "" {
		return
	}
	var b strings.Builder
	count := 0
	types, err := m.ObjectTypes()
	must(err)
	for _, typ := range types {
		after := ""
		for {
			recs, err := m.ScanObjects(typ, after, 1000)
			must(err)
			for _, r := range recs {
				sum := sha256.Sum256(r.Value)
				if count > 0 {
					b.WriteByte('\n')
				}
				count++
				b.WriteString(r.Type + "\t" + strconv.Quote(r.PK) + "\t" + strconv.Itoa(r.Version) + "\t" + strconv.FormatInt(r.Stamp.Time, 10) +
					"\t" + r.Stamp.Origin + "\t" + hex.EncodeToString(sum[:8]))
			}
			if len(recs) < 1000 {
				break
			}
			after = recs[len(recs)-1].PK
		}
	}
	n.trace("repl.objects", env.Str("group", g.name), env.Str("cluster", n.conf.conf.Name), env.Int("count", int64(count)),
		env.Str("objects", b.String()))
}

// ReplicationLag is how far a replicaset's changes are behind at one
// destination of type shoal, as this instance applied its outbound queue.
type ReplicationLag struct {
	Replicaset  string
	Destination string
	Cluster     string // the receiving cluster
	Entries     int    // changes waiting
	// Oldest is how long the oldest waiting change has waited, by this
	// instance's clock (0 with none waiting).
	Oldest time.Duration
}

// ReplicationLags reports, for every replicaset this instance serves and
// every destination of type shoal the pipeline in force declares, the
// changes still to deliver, by replicaset then destination.
func (n *Node) ReplicationLags() []ReplicationLag {
	p := n.pipeline()
	if p == nil || p.Connectors == nil {
		return nil
	}
	now := n.e.Now().UnixNano()
	var out []ReplicationLag
	for _, g := range n.groups {
		d, ok := g.sm.(dataMachine)
		if !ok {
			continue
		}
		states, err := d.m.Destinations()
		must(err)
		for _, o := range p.Connectors.Outbound {
			r, ok := o.Spec.(*connector.Replication)
			if !ok {
				continue
			}
			lag := ReplicationLag{Replicaset: g.name, Destination: o.Name, Cluster: r.Cluster}
			for _, s := range states {
				if s.Destination == o.Name {
					lag.Entries = s.Depth
					if s.OldestAt > 0 && now > s.OldestAt {
						lag.Oldest = time.Duration(now - s.OldestAt)
					}
				}
			}
			out = append(out, lag)
		}
	}
	return out
}

// traceLag records a leader's replication lag to a destination of type
// shoal with its outbound state (repl.lag: group, destination, cluster,
// entries, oldest_ms), so that metrics and reports name it as such.
func (n *Node) traceLag(g *group, dest string, depth int, oldestMS int64) {
	p := n.pipeline()
	if p == nil || p.Connectors == nil {
		return
	}
	o := p.Connectors.Destination(dest)
	if o == nil {
		return
	}
	if r, ok := o.Spec.(*connector.Replication); ok {
		n.trace("repl.lag", env.Str("group", g.name), env.Str("destination", dest), env.Str("cluster", r.Cluster),
			env.Int("entries", int64(depth)), env.Int("oldest_ms", oldestMS))
	}
}
