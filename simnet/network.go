package simnet

import (
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// Dist is the shape of a link's latency distribution.
type Dist uint8

const (
	// Constant latency: always Min.
	Constant Dist = iota
	// Uniform latency between Min and Max.
	Uniform
	// Exponential latency: Min plus an exponential with mean (Max-Min)/4,
	// capped at Max.
	Exponential
)

var distNames = [...]string{Constant: "constant", Uniform: "uniform", Exponential: "exponential"}

func (d Dist) String() string {
	if int(d) < len(distNames) {
		return distNames[d]
	}
	return fmt.Sprintf("Dist(%d)", uint8(d))
}

// Latency is a one-way delay distribution.
type Latency struct {
	Dist     Dist
	Min, Max time.Duration
}

// LinkConfig is how one directed link behaves.
type LinkConfig struct {
	Latency Latency
	// Loss is the probability that a message is dropped.
	Loss float64
	// Duplicate is the probability that a message is delivered twice, each
	// copy with its own latency.
	Duplicate float64
	// Reorder lets messages overtake each other. When false the link is
	// FIFO: a message is never delivered before one sent earlier on the
	// same link.
	Reorder bool
}

// DefaultLink is a clean 1 ms FIFO link.
var DefaultLink = LinkConfig{Latency: Latency{Dist: Constant, Min: time.Millisecond}}

// Validate checks a link's configuration.
func (c LinkConfig) Validate() error {
	l := c.Latency
	switch {
	case l.Dist > Exponential:
		return fmt.Errorf("simnet: unknown latency distribution %d", l.Dist)
	case l.Min < 0:
		return fmt.Errorf("simnet: latency min %s is negative", l.Min)
	case l.Dist != Constant && l.Max < l.Min:
		return fmt.Errorf("simnet: latency max %s is below min %s", l.Max, l.Min)
	case !(c.Loss >= 0 && c.Loss <= 1):
		return fmt.Errorf("simnet: loss %v is not a probability", c.Loss)
	case !(c.Duplicate >= 0 && c.Duplicate <= 1):
		return fmt.Errorf("simnet: duplicate %v is not a probability", c.Duplicate)
	}
	return nil
}

// link is the directed path between two nodes: its configuration, its own
// random stream, whether it is cut, and its counters.
type link struct {
	cfg    LinkConfig
	rng    *mrand.Rand
	cut    bool
	lastAt int64 // latest scheduled delivery, for FIFO
	stats  []KindStats
}

// KindStats counts one message kind on one link.
type KindStats struct {
	Kind       string
	Sent       uint64
	Delivered  uint64
	Dropped    uint64
	Duplicated uint64
}

// LinkStats is the traffic of one directed link.
type LinkStats struct {
	From, To env.NodeID
	Kinds    []KindStats // sorted by kind
}

func (l *link) kind(k string) *KindStats {
	for i := range l.stats {
		if l.stats[i].Kind == k {
			return &l.stats[i]
		}
	}
	l.stats = append(l.stats, KindStats{Kind: k})
	return &l.stats[len(l.stats)-1]
}

func (l *link) delay() int64 { return int64(l.cfg.Latency.Draw(l.rng)) }

// Draw draws one delay from the distribution: constant is Min; uniform is
// in [Min, Max]; exponential is Min plus an exponential of mean
// (Max-Min)/4, capped at Max. It takes one draw from r, none for a
// constant.
func (lat Latency) Draw(r *mrand.Rand) time.Duration {
	switch lat.Dist {
	case Uniform:
		if lat.Max == lat.Min {
			return lat.Min
		}
		return lat.Min + time.Duration(r.Int64N(int64(lat.Max-lat.Min)+1))
	case Exponential:
		span := float64(lat.Max - lat.Min)
		d := math.Min(r.ExpFloat64()*(span/4), span)
		return lat.Min + time.Duration(d)
	}
	return lat.Min
}

func (w *World) link(from, to int32) *link {
	return w.links[from][to]
}

// growLinks adds the links to and from a new node, each with a stream
// derived from the two names alone.
func (w *World) growLinks(n *node) {
	for _, m := range w.nodes {
		w.links[m.idx] = append(w.links[m.idx], w.newLink(m.id, n.id))
	}
	row := make([]*link, 0, len(w.nodes)+1)
	for _, m := range w.nodes {
		row = append(row, w.newLink(n.id, m.id))
	}
	row = append(row, w.newLink(n.id, n.id))
	w.links = append(w.links, row)
}

func (w *World) newLink(from, to env.NodeID) *link {
	return &link{cfg: w.defLink, rng: NewRand(w.seed, "link", string(from), string(to))}
}

// send is Env.Send: it decides the message's fate now (cut, lost, or
// delivered after a latency, possibly twice) and schedules delivery.
func (w *World) send(from *node, to env.NodeID, m env.Message) {
	kind := m.Kind()
	w.nextMsg++
	id := w.nextMsg
	dst, ok := w.byName[to]
	if !ok {
		w.unknown++
		w.trace(from.id, "net.drop", env.Str("from", string(from.id)), env.Str("to", string(to)),
			env.Str("msg", kind), env.Int("id", int64(id)), env.Str("why", "unknown"))
		return
	}
	l := w.link(from.idx, dst.idx)
	st := l.kind(kind)
	st.Sent++
	why := ""
	switch {
	case l.cut:
		why = "cut"
	case l.cfg.Loss > 0 && l.rng.Float64() < l.cfg.Loss:
		why = "loss"
	}
	if why != "" {
		st.Dropped++
		w.trace(from.id, "net.drop", env.Str("from", string(from.id)), env.Str("to", string(to)),
			env.Str("msg", kind), env.Int("id", int64(id)), env.Str("why", why))
		return
	}
	w.schedule(l, from, dst, id, m)
	if l.cfg.Duplicate > 0 && l.rng.Float64() < l.cfg.Duplicate {
		st.Duplicated++
		w.schedule(l, from, dst, id, m)
	}
}

func (w *World) schedule(l *link, from, to *node, id uint64, m env.Message) {
	at := w.now + l.delay()
	if !l.cfg.Reorder {
		at = max(at, l.lastAt)
		l.lastAt = at
	}
	w.q.push(at, slot{what: doRecv, node: to.idx, from: from.idx, inc: to.inc, id: id, sent: w.now, msg: m})
}

// deliver hands a message to its destination, unless the destination is
// down, has restarted since the message was sent (like data on a TCP
// connection that died with the process), or the link was cut while it
// was in flight.
func (w *World) deliver(s *slot) {
	from, to := w.nodes[s.from], w.nodes[s.node]
	l := w.link(s.from, s.node)
	why := ""
	switch {
	case !to.up:
		why = "down"
	case to.inc != s.inc:
		why = "restarted"
	case l.cut && !s.arrived:
		why = "cut"
	}
	if why != "" {
		l.kind(s.msg.Kind()).Dropped++
		w.trace(to.id, "net.drop", env.Str("from", string(from.id)), env.Str("to", string(to.id)),
			env.Str("msg", s.msg.Kind()), env.Int("id", int64(s.id)), env.Str("why", why))
		return
	}
	kind := s.msg.Kind()
	if to.paused {
		s.arrived = true
		to.held = append(to.held, *s)
		w.trace(to.id, "net.hold", env.Str("from", string(from.id)), env.Str("msg", kind),
			env.Int("id", int64(s.id)), env.Int("sent", s.sent))
		return
	}
	l.kind(kind).Delivered++
	w.delivered++
	w.trace(to.id, "net.recv", env.Str("from", string(from.id)), env.Str("msg", kind),
		env.Int("id", int64(s.id)), env.Int("sent", s.sent))
	w.dispatch = to
	to.impl.Receive(from.id, s.msg)
}

// SetLink configures the directed link from → to.
func (w *World) SetLink(from, to env.NodeID, c LinkConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	l := w.link(w.mustNode(from).idx, w.mustNode(to).idx)
	l.cfg = c
	w.trace(env.WorldNode, "net.link", env.Str("from", string(from)), env.Str("to", string(to)),
		env.Str("dist", c.Latency.Dist.String()), env.Int("min", int64(c.Latency.Min)), env.Int("max", int64(c.Latency.Max)),
		env.Float("loss", c.Loss), env.Float("duplicate", c.Duplicate), env.Bool("reorder", c.Reorder))
	return nil
}

// SetAllLinks configures every link between distinct nodes, and the
// default for nodes added later.
func (w *World) SetAllLinks(c LinkConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	w.defLink = c
	for _, row := range w.links {
		for _, l := range row {
			l.cfg = c
		}
	}
	w.trace(env.WorldNode, "net.links",
		env.Str("dist", c.Latency.Dist.String()), env.Int("min", int64(c.Latency.Min)), env.Int("max", int64(c.Latency.Max)),
		env.Float("loss", c.Loss), env.Float("duplicate", c.Duplicate), env.Bool("reorder", c.Reorder))
	return nil
}

// Cut stops messages from → to (one way). Messages in flight on the link
// when it is cut are lost, as are those sent while it stays cut.
func (w *World) Cut(from, to env.NodeID) {
	w.link(w.mustNode(from).idx, w.mustNode(to).idx).cut = true
	w.trace(env.WorldNode, "net.cut", env.Str("from", string(from)), env.Str("to", string(to)))
}

// Uncut restores the link from → to.
func (w *World) Uncut(from, to env.NodeID) {
	w.link(w.mustNode(from).idx, w.mustNode(to).idx).cut = false
	w.trace(env.WorldNode, "net.uncut", env.Str("from", string(from)), env.Str("to", string(to)))
}

// Partition splits the nodes into components that hear only each other:
// every link between two components is cut both ways, every link inside
// one is restored. Nodes named in no component form one more component
// together. Each node may appear once.
func (w *World) Partition(components ...[]env.NodeID) error {
	comp := make([]int, len(w.nodes))
	for i := range comp {
		comp[i] = -1
	}
	for c, names := range components {
		for _, id := range names {
			n, ok := w.byName[id]
			if !ok {
				return fmt.Errorf("simnet: partition names unknown node %q", id)
			}
			if comp[n.idx] != -1 {
				return fmt.Errorf("simnet: partition names node %q twice", id)
			}
			comp[n.idx] = c
		}
	}
	for from, row := range w.links {
		for to, l := range row {
			l.cut = comp[from] != comp[to]
		}
	}
	w.trace(env.WorldNode, "net.partition", env.Str("components", w.describeComponents(comp)))
	return nil
}

// describeComponents renders a partition as "n1,n2|n3,n4,n5", components
// ordered by their first member.
func (w *World) describeComponents(comp []int) string {
	groups := map[int][]string{}
	var order []int
	for i, c := range comp {
		if _, seen := groups[c]; !seen {
			order = append(order, c)
		}
		groups[c] = append(groups[c], string(w.nodes[i].id))
	}
	parts := make([]string, 0, len(order))
	for _, c := range order {
		parts = append(parts, strings.Join(groups[c], ","))
	}
	return strings.Join(parts, "|")
}

// Heal restores every link.
func (w *World) Heal() {
	for _, row := range w.links {
		for _, l := range row {
			l.cut = false
		}
	}
	w.trace(env.WorldNode, "net.heal")
}

// Reachable reports whether a message sent now from → to can arrive.
func (w *World) Reachable(from, to env.NodeID) bool {
	return !w.link(w.mustNode(from).idx, w.mustNode(to).idx).cut
}

// Links returns the traffic counters of every link that carried a message,
// ordered by source and destination.
func (w *World) Links() []LinkStats {
	var out []LinkStats
	for _, from := range w.nodes {
		for _, to := range w.nodes {
			l := w.link(from.idx, to.idx)
			if len(l.stats) == 0 {
				continue
			}
			kinds := slices.Clone(l.stats)
			slices.SortFunc(kinds, func(a, b KindStats) int { return strings.Compare(a.Kind, b.Kind) })
			out = append(out, LinkStats{From: from.id, To: to.id, Kinds: kinds})
		}
	}
	return out
}
