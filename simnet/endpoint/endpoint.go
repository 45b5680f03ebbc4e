// Package endpoint is the simulator's external systems: the webhook
// receiver or Kafka topic an outbound destination delivers to, run as a
// node of the World at connector.Endpoint(destination). It takes the
// engine's pushes (connector.Push), decides each item's fate by its mode,
// answers with one connector.Pushed per push, and records every item it
// takes or refuses in the trace. A destination of type shoal gets a
// Gateway (gateway.go) instead: the link to another cluster of the
// World, which answers an item only once that cluster acknowledged it.
//
// A push whose Spec is a *connector.KafkaOutbound is produced to a Kafka
// topic with acks=all: every item taken is appended as a
// connector.Record (Key, Value the request's body, Headers, which hold
// the Idempotency-Key) to the spec's Topic, of Config.Partitions
// partitions. An item with a key goes to the partition KafkaPartition
// picks, as the broker of an inbound connector does, so one key's
// records sit in one partition in the order they were taken; one
// without a key goes to the next partition round the topic. A duplicate
// is appended too, as Kafka does not deduplicate; the trace's dup says
// whether its idempotency key was taken before. Items of other
// destinations (webhooks) are taken without a log.
//
// Modes, set at start (Config.Initial) and by posting a SetMode:
//
//   - up: every item is taken and the push answered at once;
//   - fail: items are refused (Reason; by default "503 Service
//     Unavailable" for a webhook, DefaultKafkaReason, the broker's
//     NOT_ENOUGH_REPLICAS, for a kafka destination), each with
//     probability FailRate, every one when FailRate is 0; a refused item
//     is not taken, and not appended;
//   - slow: every item is taken (and appended) at once, and the answer
//     sent Delay later. An endpoint killed in between took the items but
//     never answers, as a receiver whose response was lost.
//
// An endpoint that is killed (World.Kill) or cut off gets nothing, and the
// engine's push times out.
//
// Like a real receiver it deduplicates by idempotency key: it remembers
// the keys it took (at most Config.MaxKeys, forgetting the oldest) and
// marks an item whose key it took before as a duplicate. That memory lives
// in the process and dies with it, so after a restart a key taken before
// the crash is no longer known as one. A kafka destination's topic lives
// there too, like the inbound broker's log (Kafka): a killed endpoint
// loses it, and its next incarnation starts every topic empty, at offset
// 0. The trace, not the endpoint, is the record of what was delivered: a
// checker judges duplicates and order from the endpoint.receive events,
// whatever dup says.
//
// Trace events, with the endpoint's node name in the node field:
//
//	endpoint.mode     destination, mode, fail_rate, delay (ns), reason:
//	                  the mode at every start and at every SetMode
//	endpoint.receive  destination, key (idempotency key), order (order
//	                  key), seq, replicaset, dup (1 if the key was taken
//	                  before, else 0), body (hex of the first 8 bytes of
//	                  the SHA-256 of the request's body), from (the
//	                  pushing instance), push (the push's ID): an item
//	                  taken; for a kafka destination also topic,
//	                  partition and offset, where the record was appended
//	endpoint.refuse   destination, key, reason, order, seq, replicaset,
//	                  from, push: an item refused
//
// endpoint.mode's reason in fail mode without a Reason is a webhook's,
// DefaultReason: the endpoint learns a destination's type from its
// pushes. The endpoint.refuse of a kafka item carries the reason it got.
//
// The endpoint draws randomness only from its Env (FailRate's draws) and
// waits only on its timers, so it is as deterministic as the rest of the
// World.
package endpoint

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
)

// The modes of an endpoint.
const (
	Up   = "up"
	Fail = "fail"
	Slow = "slow"
)

// DefaultReason is the error of a refused item when the mode names none.
const DefaultReason = "503 Service Unavailable"

// DefaultMaxKeys is how many idempotency keys an endpoint remembers when
// its Config sets no limit.
const DefaultMaxKeys = 1 << 20

// SetMode changes an endpoint's mode when posted to it (World.Post); a
// zero SetMode is up. The endpoint panics on one that Validate rejects,
// which is a bug of whoever posted it: check it first.
type SetMode struct {
	Mode string // Up, Fail or Slow; "" is Up
	// FailRate is, in fail mode, the probability that an item is refused;
	// 0 refuses every item.
	FailRate float64
	// Delay is, in slow mode, how long after a push its answer is sent.
	Delay time.Duration
	// Reason is, in fail mode, the error a refused item gets; ""
	// is DefaultReason.
	Reason string
}

// Kind names a SetMode in the trace.
func (SetMode) Kind() string { return "endpoint.set-mode" }

// Validate checks a mode.
func (m SetMode) Validate() error {
	switch m.Mode {
	case "", Up, Fail, Slow:
	default:
		return fmt.Errorf("endpoint: unknown mode %q (want up, fail or slow)", m.Mode)
	}
	switch {
	case !(m.FailRate >= 0 && m.FailRate <= 1):
		return fmt.Errorf("endpoint: fail rate %v is not a probability", m.FailRate)
	case m.Delay < 0:
		return fmt.Errorf("endpoint: delay %s is negative", m.Delay)
	case m.Mode == Slow && m.Delay == 0:
		return fmt.Errorf("endpoint: slow mode needs a delay")
	}
	return nil
}

// normal is m with its defaults filled in, and the fields its mode does
// not use cleared, so that the trace shows what is in force.
func (m SetMode) normal() SetMode {
	switch m.Mode {
	case Fail:
		if m.Reason == "" {
			m.Reason = DefaultReason
		}
		m.Delay = 0
	case Slow:
		m.FailRate, m.Reason = 0, ""
	default:
		m = SetMode{Mode: Up}
	}
	return m
}

// Config shapes an endpoint.
type Config struct {
	// Initial is the mode at every start, restarts included. The harness
	// passes the mode it last set, so that a fault outlasts a crash.
	Initial SetMode
	// MaxKeys bounds the idempotency keys remembered; 0 is DefaultMaxKeys.
	MaxKeys int
	// Partitions is how many partitions each topic of a kafka destination
	// has; 0 is DefaultPartitions.
	Partitions int
}

// Endpoint is one simulated endpoint process.
type Endpoint struct {
	e     env.Env
	dest  string
	mode  SetMode
	taken keyMemory // the idempotency keys taken
	// kafkaReason is the error of a kafka item refused in fail mode: the
	// mode's Reason if the SetMode named one, else DefaultKafkaReason.
	kafkaReason string
	partitions  int
	topics      map[string]*topicLog // a kafka destination's, by name
}

var _ env.Node = (*Endpoint)(nil)

// answer is a slow push's answer, due Delay after the push.
type answer struct {
	to     env.NodeID
	pushed *connector.Pushed
}

func (answer) Kind() string { return "endpoint.answer" }

// Start returns the env.Start of an endpoint. The node must be named
// connector.Endpoint(destination).
func Start(cfg Config) env.Start {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = DefaultPartitions
	}
	return func(e env.Env) (env.Node, error) {
		dest, ok := connector.IsEndpoint(e.ID())
		if !ok {
			return nil, fmt.Errorf("endpoint: node %q is not named %s+destination", e.ID(), connector.EndpointPrefix)
		}
		if err := cfg.Initial.Validate(); err != nil {
			return nil, err
		}
		n := &Endpoint{e: e, dest: dest, taken: newKeyMemory(cfg.MaxKeys), partitions: cfg.Partitions,
			topics: map[string]*topicLog{}}
		n.setMode(cfg.Initial)
		return n, nil
	}
}

// Destination is the name of the destination this endpoint receives for.
func (n *Endpoint) Destination() string { return n.dest }

// Mode is the mode in force, with its defaults filled in.
func (n *Endpoint) Mode() SetMode { return n.mode }

// Receive handles a push; other messages are ignored.
func (n *Endpoint) Receive(from env.NodeID, m env.Message) {
	p, ok := m.(*connector.Push)
	if !ok {
		return
	}
	out := &connector.Pushed{ID: p.ID, Replicaset: p.Replicaset, Destination: p.Destination,
		Results: make([]connector.Result, len(p.Items))}
	for i := range p.Items {
		out.Results[i] = connector.Result{Seq: p.Items[i].Seq, Err: n.item(from, p, &p.Items[i])}
	}
	if n.mode.Mode == Slow {
		n.e.After(n.mode.Delay, answer{to: from, pushed: out})
		return
	}
	n.e.Send(from, out)
}

// item takes or refuses one item of a push, and returns its error. An
// item of a kafka destination that is taken is appended to its topic.
func (n *Endpoint) item(from env.NodeID, p *connector.Push, it *connector.Item) string {
	k, _ := p.Spec.(*connector.KafkaOutbound)
	reason := ""
	switch {
	case p.Destination != n.dest:
		reason = fmt.Sprintf("destination %q is not %q", p.Destination, n.dest)
	case n.mode.Mode == Fail && n.refuses():
		reason = n.mode.Reason
		if k != nil {
			reason = n.kafkaReason
		}
	}
	if reason != "" || k == nil {
		traceFate(n.e, n.dest, &n.taken, p, it, from, reason)
		return reason
	}
	r := n.topic(k.Topic).append(&it.Request)
	traceFate(n.e, n.dest, &n.taken, p, it, from, "",
		env.Str("topic", r.Topic), env.Int("partition", int64(r.Partition)), env.Int("offset", r.Offset))
	return ""
}

// traceFate records an item an endpoint or a gateway of destination dest
// refused for reason (endpoint.refuse) or, reason "", took
// (endpoint.receive, dup 1 when taken names its idempotency key taken
// before), with the push's fields and extra.
func traceFate(e env.Env, dest string, taken *keyMemory, p *connector.Push, it *connector.Item, from env.NodeID, reason string, extra ...env.Field) {
	fields := []env.Field{env.Str("destination", dest), env.Str("key", it.IdempotencyKey)}
	if reason != "" {
		fields = append(fields, env.Str("reason", reason), env.Str("order", it.OrderKey), env.Uint("seq", it.Seq),
			env.Str("replicaset", p.Replicaset), env.Str("from", string(from)), env.Uint("push", p.ID))
		e.Trace("endpoint.refuse", append(fields, extra...)...)
		return
	}
	dup := int64(0)
	if !taken.take(it.IdempotencyKey) {
		dup = 1
	}
	sum := sha256.Sum256(it.Request.Body)
	fields = append(fields, env.Str("order", it.OrderKey), env.Uint("seq", it.Seq), env.Str("replicaset", p.Replicaset),
		env.Int("dup", dup), env.Str("body", hex.EncodeToString(sum[:8])), env.Str("from", string(from)), env.Uint("push", p.ID))
	e.Trace("endpoint.receive", append(fields, extra...)...)
}

// refuses draws whether fail mode refuses the next item. A rate of 0 or 1
// refuses every item and draws nothing.
func (n *Endpoint) refuses() bool {
	r := n.mode.FailRate
	if r == 0 || r == 1 {
		return true
	}
	return n.e.Rand().Float64() < r
}

// Handle handles a mode change or a slow push's answer coming due.
func (n *Endpoint) Handle(ev env.Event) {
	switch ev := ev.(type) {
	case SetMode:
		n.post(ev)
	case *SetMode:
		n.post(*ev)
	case answer:
		n.e.Send(ev.to, ev.pushed)
	}
}

func (n *Endpoint) post(m SetMode) {
	if err := m.Validate(); err != nil {
		panic(fmt.Sprintf("endpoint %s: posted %v", n.e.ID(), err))
	}
	n.setMode(m)
}

func (n *Endpoint) setMode(m SetMode) {
	n.mode = traceMode(n.e, n.dest, m)
	n.kafkaReason = cmp.Or(m.Reason, DefaultKafkaReason)
}

// traceMode puts m in force at an endpoint or a gateway of destination
// dest: it returns m as it applies, and traces it (endpoint.mode).
func traceMode(e env.Env, dest string, m SetMode) SetMode {
	m = m.normal()
	e.Trace("endpoint.mode", env.Str("destination", dest), env.Str("mode", m.Mode),
		env.Float("fail_rate", m.FailRate), env.Int("delay", int64(m.Delay)), env.Str("reason", m.Reason))
	return m
}
