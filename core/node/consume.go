package node

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/bugs"
	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/handler"
	"github.com/shoaldb/shoal/core/kv"
)

// Kafka inbound connectors on an instance. Every instance runs a
// consumer (connector.Consumer has the policy) for each kafka connector
// of the pipeline in force, as one member of the connector's consumer
// group: it fetches records from the connector's endpoint
// (connector.InboundEndpoint), enqueues each record's message as a
// client would, and commits a batch's offsets once the queue has
// acknowledged all of its messages. The consumers start and stop with
// the pipeline, and are soft state: a restarted instance starts them
// afresh, and Kafka's committed offsets say where to resume.
//
// An enqueue is a kv.Request handed to this instance's own serve path
// with this instance as the sender; a redirect is followed to the leader
// (or member) it names, and a request unanswered within enqueueRetry is
// served here again, with the same client and sequence number, which the
// dedup table makes safe. The dedup table keeps one answer per client,
// so a consumer with several enqueues out (connector.ConsumerConfig's
// InFlight) sends each from a lane of its own: the client
// "INSTANCE/CONNECTOR.BOOT/LANE", one request outstanding per lane, so
// that the table's one answer per client is always the one awaited.
// Lanes are made as the consumer's window first needs them and reused
// lowest first; a lane whose request the consumer no longer awaits (its
// batch was dropped) is free, and its next request's higher sequence
// number makes the old answer one nobody takes. BOOT is drawn when the
// consumer starts: the dedup table keeps each client's last sequence
// number, and a restarted consumer counting from 1 again under an old
// name would have its enqueues answered ok and dropped.

// consumers is an instance's consumers.
type consumers struct {
	rev   int // the pipeline revision they follow; 0 before any
	procs map[string]*consumeProc
}

// consumeProc is one connector's consumer on this instance, with its
// lanes.
type consumeProc struct {
	c      *connector.Consumer
	client string // the lanes' clients are CLIENT/0, CLIENT/1, ...
	ticks  uint64
	lanes  []*lane
}

// lane is one client of a consumer, with its enqueue outstanding: the
// consumer's N, the request (nil: none), the tick it was last served
// here, and the redirects followed since.
type lane struct {
	client string
	seq    uint64
	n      uint64
	req    *kv.Request
	sent   uint64
	hops   int
}

const (
	// enqueueRetry is how long an enqueue waits for an answer before it
	// is served here again.
	enqueueRetry = time.Second
	// maxHops bounds the redirects followed between two retries: leaders
	// that name each other during an election wait for the retry.
	maxHops = 8
)

// consume is the consumers' tick: they follow the pipeline in force,
// their enqueues are retried, and their clocks advance.
func (n *Node) consume() {
	n.syncConsumers()
	retry := uint64(max((enqueueRetry+n.cfg.TickInterval-1)/n.cfg.TickInterval, 1))
	for _, name := range n.consumerNames() {
		p := n.consumers.procs[name]
		p.ticks++
		for _, l := range p.lanes {
			switch {
			case l.req == nil:
			case !p.c.Awaits(l.n):
				l.req, l.hops = nil, 0
			case p.ticks-l.sent >= retry:
				l.sent, l.hops = p.ticks, 0
				n.serve(n.e.ID(), l.req)
			}
		}
		n.consumerOut(p, p.c.Tick())
	}
}

func (n *Node) consumerNames() []string { return slices.Sorted(maps.Keys(n.consumers.procs)) }

// syncConsumers starts and stops consumers as the pipeline in force
// changed. It parses the pipeline itself, untraced, where the engine has
// not yet: an instance without kafka connectors traces exactly what it
// would without consumers.
func (n *Node) syncConsumers() {
	cur := n.conf.conf.Pipeline
	rev := 0
	if cur != nil {
		rev = cur.Revision
	}
	if rev == n.consumers.rev {
		return
	}
	n.consumers.rev = rev
	var want []*connector.Inbound
	if cur != nil && cur.Source != "" {
		p := n.pipe.p
		if n.pipe.rev != rev {
			p, _ = handler.ParseWith("pipeline.yaml", []byte(cur.Source), handler.Options{AllowUnknown: true})
		}
		if p != nil && p.Connectors != nil {
			for _, in := range p.Connectors.Inbound {
				if _, ok := in.Spec.(*connector.KafkaInbound); ok {
					want = append(want, in)
				}
			}
		}
	}
	for _, name := range n.consumerNames() {
		p := n.consumers.procs[name]
		i := slices.IndexFunc(want, func(in *connector.Inbound) bool { return in.Name == name })
		if i >= 0 && sameKafka(p.c.Spec(), want[i].Spec.(*connector.KafkaInbound)) {
			continue
		}
		delete(n.consumers.procs, name)
		n.trace("consumer.stop", env.Str("connector", name), env.Str("member", string(n.e.ID())), env.Str("client", p.client))
	}
	for _, in := range want {
		if _, ok := n.consumers.procs[in.Name]; ok {
			continue
		}
		if n.consumers.procs == nil {
			n.consumers.procs = map[string]*consumeProc{}
		}
		cfg := connector.DefaultConsumerConfig
		cfg.Tick = n.cfg.TickInterval
		cfg.InFlight = in.Spec.(*connector.KafkaInbound).InFlight
		p := &consumeProc{
			c:      connector.NewConsumer(in, string(n.e.ID()), cfg, n.e.Rand()),
			client: fmt.Sprintf("%s/%s.%016x", n.e.ID(), in.Name, n.e.Rand().Uint64()),
		}
		n.consumers.procs[in.Name] = p
		spec := p.c.Spec()
		n.trace("consumer.start", env.Str("connector", in.Name), env.Str("member", string(n.e.ID())), env.Str("client", p.client),
			env.Str("topic", spec.Topic), env.Str("group", spec.Group))
	}
}

// sameKafka reports whether two readings of a kafka connector agree.
func sameKafka(a, b *connector.KafkaInbound) bool {
	return slices.Equal(a.Brokers, b.Brokers) && a.Topic == b.Topic && a.Group == b.Group && a.MaxBatch == b.MaxBatch && a.Start == b.Start && a.InFlight == b.InFlight
}

// consumerReceive takes an answer for a consumer: the endpoint's to a
// fetch or commit, or the queue's to an enqueue.
func (n *Node) consumerReceive(from env.NodeID, m env.Message) {
	switch m := m.(type) {
	case *kv.Response:
		n.enqueued(m)
	case *connector.Fetched:
		if p := n.consumers.procs[m.Connector]; p != nil && from == connector.InboundEndpoint(m.Connector) {
			n.consumerOut(p, p.c.Fetched(m))
		}
	case *connector.Committed:
		if p := n.consumers.procs[m.Connector]; p != nil && from == connector.InboundEndpoint(m.Connector) {
			n.consumerOut(p, p.c.Committed(m))
		}
	}
}

// enqueued takes an answer to a consumer's enqueue: a redirect is
// followed, anything else goes to the consumer.
func (n *Node) enqueued(r *kv.Response) {
	p, l := n.laneOf(r.Client)
	if l == nil || l.req == nil || r.Seq != l.seq {
		return
	}
	if r.Status == kv.StatusRedirect {
		to := r.Leader
		if to == "" {
			to = r.Hint
		}
		if to == "" || l.hops >= maxHops {
			return // served here again at the retry
		}
		l.hops++
		if to == n.e.ID() {
			n.serve(to, l.req)
		} else {
			n.e.Send(to, l.req)
		}
		return
	}
	num := l.n
	l.n, l.req, l.hops = 0, nil, 0
	n.consumerOut(p, p.c.Enqueued(num, r.Status, time.Duration(r.RetryAfter), r.Error))
}

// laneOf finds the consumer and lane whose client is client.
func (n *Node) laneOf(client string) (*consumeProc, *lane) {
	for _, name := range n.consumerNames() {
		p := n.consumers.procs[name]
		if !strings.HasPrefix(client, p.client+"/") {
			continue
		}
		for _, l := range p.lanes {
			if l.client == client {
				return p, l
			}
		}
	}
	return nil, nil
}

// freeLane is a lane of p with no request the consumer awaits, the
// lowest first; a new one when every lane is busy. The consumer awaits
// at most its InFlight enqueues, so it never has more lanes.
func (p *consumeProc) freeLane() *lane {
	for _, l := range p.lanes {
		if l.req == nil || !p.c.Awaits(l.n) {
			return l
		}
	}
	l := &lane{client: p.client + "/" + strconv.Itoa(len(p.lanes))}
	p.lanes = append(p.lanes, l)
	return l
}

// consumerOut records what a consumer reports and does what it asks.
func (n *Node) consumerOut(p *consumeProc, out connector.Out) {
	name, member := p.c.Connector(), string(n.e.ID())
	if f := out.Failure; f != nil {
		n.trace("consumer.error", env.Str("connector", name), env.Str("member", member), env.Str("what", f.What),
			env.Uint("id", f.ID), env.Str("error", f.Err), env.Int("wait", int64(f.Wait)))
	}
	if c := out.Committed; c != nil {
		n.trace("consumer.committed", env.Str("connector", name), env.Str("member", member), env.Uint("id", c.ID),
			env.Int("generation", c.Generation), env.Str("offsets", offsets(c.Offsets)))
	}
	if b := out.Batch; b != nil {
		ranges := make([]string, len(b.Ranges))
		for i, r := range b.Ranges {
			ranges[i] = fmt.Sprintf("%d:%d-%d", r.Partition, r.First, r.Last)
		}
		n.trace("consumer.batch", env.Str("connector", name), env.Str("member", member), env.Uint("id", b.Fetch),
			env.Int("generation", b.Generation), env.Int("records", int64(b.Records)), env.Int("poison", int64(b.Poison)),
			env.Str("ranges", strings.Join(ranges, ",")))
		if n.cfg.Bugs.Has(bugs.CommitOnFetch) {
			// Planted: commit what was fetched before any of it is
			// enqueued. The consumer drops the answer (it awaits no
			// commit); the broker has moved the offsets on regardless.
			c := &connector.Commit{Connector: name, Spec: p.c.Spec(), Member: member, Generation: b.Generation}
			for _, r := range b.Ranges {
				c.Offsets = append(c.Offsets, connector.Offset{Topic: r.Topic, Partition: r.Partition, Next: r.Last + 1})
			}
			n.e.Send(connector.InboundEndpoint(name), c)
		}
	}
	if c := out.Commit; c != nil {
		n.trace("consumer.commit", env.Str("connector", name), env.Str("member", member), env.Uint("id", c.ID),
			env.Int("generation", c.Generation), env.Str("offsets", offsets(c.Offsets)))
		n.e.Send(connector.InboundEndpoint(name), c)
	}
	if f := out.Fetch; f != nil {
		n.trace("consumer.fetch", env.Str("connector", name), env.Str("member", member), env.Uint("id", f.ID), env.Int("max", int64(f.Max)))
		n.e.Send(connector.InboundEndpoint(name), f)
	}
	for i := range out.Enqueues {
		e := &out.Enqueues[i]
		l := p.freeLane()
		l.seq++
		l.n, l.sent, l.hops = e.N, p.ticks, 0
		l.req = &kv.Request{Client: l.client, Seq: l.seq, Op: kv.OpEnqueue, Key: e.Key, Message: &e.Message}
		n.serve(n.e.ID(), l.req)
	}
}

// offsets renders a commit's offsets as "partition:next,...".
func offsets(os []connector.Offset) string {
	var b strings.Builder
	for i, o := range os {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(o.Partition)))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(o.Next, 10))
	}
	return b.String()
}

// Consumer reports the progress of this instance's consumer of the
// connector named name, and whether it runs one.
func (n *Node) Consumer(name string) (connector.ConsumerStatus, bool) {
	p := n.consumers.procs[name]
	if p == nil {
		return connector.ConsumerStatus{}, false
	}
	return p.c.Status(), true
}
