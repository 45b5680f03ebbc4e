package node

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/outbound"
	"go.etcd.io/raft/v3"
)

// The outbound queue on an instance. A replicaset's leader delivers its
// outbound queue (core/outbound has the policy): it pushes each
// destination's oldest messages to the destination's endpoint
// (connector.Endpoint, reached with env.Send), and settles what the
// endpoint took, or what ran out of attempts, with an outbox command. It
// delivers on every tick, after a command that may have queued or settled
// messages applied, and on an endpoint's answer. A destination the
// pipeline's connectors section does not declare holds its messages until
// one is declared.

// outboundProc is a replicaset leader's delivery.
type outboundProc struct {
	term   uint64
	d      *outbound.Dispatcher
	seen   uint64 // the machine's OutboxChanges at the last delivery
	traced map[string][3]int64
}

// deliverAll delivers every replicaset this instance leads. tick is set on
// the node's tick, which also expires unanswered pushes and counts time.
func (n *Node) deliverAll(tick bool) {
	for _, g := range n.groups {
		if g.id == cluster.ConfigGroup {
			continue
		}
		if g.role() != raft.StateLeader {
			g.out = outboundProc{}
			continue
		}
		// Between ticks, only a changed outbox has anything new to push
		// or settle: answers push on their own (pushed), and expiries and
		// backoffs wait for the tick.
		fresh := g.out.d == nil || g.out.term != g.rn.BasicStatus().Term
		if !tick && !fresh && g.out.seen == g.sm.(dataMachine).m.OutboxChanges() {
			continue
		}
		n.deliver(g, tick)
	}
}

func (n *Node) deliver(g *group, tick bool) {
	if t := g.rn.BasicStatus().Term; t != g.out.term || g.out.d == nil {
		g.out = outboundProc{term: t, d: outbound.New(g.name, n.cfg.TickInterval)}
	}
	d := g.out.d
	if tick {
		d.Tick()
	}
	m := g.sm.(dataMachine).m
	g.out.seen = m.OutboxChanges()
	dests, err := m.Destinations()
	must(err)
	if tick {
		n.traceOutbound(g, dests)
	}
	var conns *connector.Config
	if p := n.pipeline(); p != nil {
		conns = p.Connectors
	}
	for _, ds := range dests {
		o := conns.Destination(ds.Destination)
		if o == nil {
			continue // not declared (yet): its messages wait
		}
		if tick {
			d.Expire(o, n.e.Rand())
		}
		n.pushOutbound(g, m, o)
	}
}

// pushOutbound sends destination o's next pushes, and settles what is
// settled.
func (n *Node) pushOutbound(g *group, m *kv.Machine, o *connector.Outbound) {
	d := g.out.d
	entries, err := m.Outbox(o.Name, 0, outbound.Window(o))
	must(err)
	for _, p := range d.Plan(o, entries) {
		n.trace("outbound.push", env.Str("group", g.name), env.Str("destination", o.Name), env.Int("id", int64(p.ID)),
			env.Int("messages", int64(len(p.Items))), env.Int("first", int64(p.Items[0].Seq)))
		n.e.Send(connector.Endpoint(o.Name), p)
	}
	n.settleOutbound(g, o.Name)
}

// settleOutbound proposes the outbox command that records destination
// dest's deliveries and failures, if there are any new.
func (n *Node) settleOutbound(g *group, dest string) {
	box, ok := g.out.d.Settle(dest, n.e.Now().UnixNano())
	if !ok {
		return
	}
	c := kv.Command{Op: kv.OpOutbox, Outbox: box}
	id := "o/" + g.name + "/" + dest + "/" + strconv.FormatUint(g.out.term, 10)
	if err := g.rn.Propose(envelope(id, c.Encode())); err != nil {
		return // proposed again after resettle ticks
	}
	n.trace("outbound.settle", env.Str("group", g.name), env.Str("destination", dest),
		env.Int("delivered", int64(len(box.Delivered))), env.Int("failed", int64(len(box.Failed))))
}

// pushed takes an endpoint's answer.
func (n *Node) pushed(from env.NodeID, a *connector.Pushed) {
	dest, ok := connector.IsEndpoint(from)
	g := n.groupNamed(a.Replicaset)
	if !ok || dest != a.Destination || g == nil || g.out.d == nil || g.role() != raft.StateLeader {
		return
	}
	var o *connector.Outbound
	if p := n.pipeline(); p != nil {
		o = p.Connectors.Destination(dest)
	}
	if o == nil {
		return
	}
	out, ok := g.out.d.Answer(o, a, n.e.Rand())
	if !ok {
		n.trace("outbound.late", env.Str("group", g.name), env.Str("destination", dest), env.Int("id", int64(a.ID)))
		return
	}
	// latency_ms: from the oldest message taken being queued to now, on
	// the leaders' wall clocks.
	latency := int64(0)
	if out.OldestAt > 0 {
		latency = max(0, n.e.Now().UnixNano()-out.OldestAt) / 1e6
	}
	n.trace("outbound.pushed", env.Str("group", g.name), env.Str("destination", dest), env.Int("id", int64(a.ID)),
		env.Int("taken", int64(out.Taken)), env.Int("refused", int64(out.Refused)), env.Int("latency_ms", latency))
	n.pushOutbound(g, g.sm.(dataMachine).m, o)
}

// traceOutbound records a leader's outbound queue when it changed: per
// destination, the messages waiting, the oldest one's age (ms) and those
// waiting their backoff.
func (n *Node) traceOutbound(g *group, dests []kv.DestinationState) {
	now := n.e.Now().UnixNano()
	seen := make(map[string]bool, len(dests))
	for _, ds := range dests {
		seen[ds.Destination] = true
		age := int64(0)
		if ds.OldestAt > 0 && now > ds.OldestAt {
			age = (now - ds.OldestAt) / 1e6
		}
		st := g.out.d.Stats(ds.Destination)
		cur := [3]int64{int64(ds.Depth), age / 1000, int64(st.Retrying)} // age in seconds decides a new record
		if g.out.traced == nil {
			g.out.traced = map[string][3]int64{}
		}
		if g.out.traced[ds.Destination] == cur {
			continue
		}
		g.out.traced[ds.Destination] = cur
		n.trace("outbound.state", env.Str("group", g.name), env.Str("destination", ds.Destination), env.Int("depth", int64(ds.Depth)),
			env.Int("oldest_ms", age), env.Int("retrying", int64(st.Retrying)), env.Int("pushes", int64(st.Pushes)))
		n.traceLag(g, ds.Destination, ds.Depth, age)
	}
	for _, dest := range slices.Sorted(maps.Keys(g.out.traced)) {
		if !seen[dest] {
			delete(g.out.traced, dest)
			n.trace("outbound.state", env.Str("group", g.name), env.Str("destination", dest), env.Int("depth", 0),
				env.Int("oldest_ms", 0), env.Int("retrying", 0), env.Int("pushes", 0))
			n.traceLag(g, dest, 0, 0)
		}
	}
}

// OutboundQueue reads replicaset rs's outbound queue as this instance has
// applied it: the last position given, the messages waiting (every
// destination's, by destination then position) and the outbound repair
// entries.
func (n *Node) OutboundQueue(rs string) (tail uint64, waiting []kv.OutboxEntry, repairs []kv.OutRepairEntry, err error) {
	g := n.groupNamed(rs)
	if g == nil || g.id == cluster.ConfigGroup {
		return 0, nil, nil, fmt.Errorf("node: %s is not a member of replicaset %q", n.e.ID(), rs)
	}
	m := g.sm.(dataMachine).m
	st, err := m.Queue("", 0, 0)
	if err != nil {
		return 0, nil, nil, err
	}
	dests, err := m.Destinations()
	if err != nil {
		return 0, nil, nil, err
	}
	for _, d := range dests {
		es, err := m.Outbox(d.Destination, 0, d.Depth)
		if err != nil {
			return 0, nil, nil, err
		}
		waiting = append(waiting, es...)
	}
	repairs, err = m.OutRepairs(0, st.OutRepairs)
	return st.OutTail, waiting, repairs, err
}
