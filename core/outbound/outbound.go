// Package outbound delivers a replicaset's outbound queue to its
// destinations' endpoints: the leader's side of at-least-once delivery.
//
// The queue itself is in the replicaset's state machine (core/kv's
// outbox): durable and replicated before anything is pushed. A leader
// keeps a Dispatcher, which chooses what to push (the oldest messages of a
// destination, never two of one order key at once, so that messages of a
// key arrive in order), renders each message with its destination's type
// (core/connector), and takes the endpoint's answers: a message taken is
// settled with an outbox command that removes it; one refused waits a
// capped exponential backoff with jitter, from the node's seeded source,
// and after the destination's max_attempts moves to the repair queue with
// the last reason. A push unanswered within the destination's timeout
// failed. A new leader starts from the queue as it stands, so a message
// taken whose settling did not commit is pushed again: receivers
// deduplicate with the idempotency key, the same on every attempt.
//
// Time here is counted in the node's ticks, never read from a clock: a
// Dispatcher is deterministic given its inputs.
package outbound

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/kv"
)

// Dispatcher is one replicaset leader's delivery, across destinations. It
// lives for one term: a new leader, or a new term, starts a new one.
type Dispatcher struct {
	tick   time.Duration // the node's tick: durations are rounded up to ticks
	now    uint64        // ticks since the dispatcher began
	nextID uint64
	dests  map[string]*dest
	// Prefix starts every idempotency key: the replicaset's name, so that
	// a key is unique in the cluster.
	prefix string
}

// dest is the delivery state of one destination.
type dest struct {
	name    string
	pushes  map[uint64]*push   // outstanding, by push id
	sending map[uint64]bool    // positions in an outstanding push
	retry   map[uint64]*failed // positions refused, waiting to be pushed again
	taken   map[uint64]uint64  // positions taken, to settle: the tick it was proposed (0: not yet)
	gaveUp  map[uint64]*failed // positions out of attempts, to settle as failed
}

type push struct {
	id     uint64
	at     uint64 // the tick it was sent
	seqs   []uint64
	queued []int64 // when each item was queued
}

// failed is a message's failures so far.
type failed struct {
	attempts int
	due      uint64 // the tick it may go again
	reason   string
	proposed uint64 // gaveUp: the tick its settling was proposed (0: not yet)
}

// New returns the dispatcher of a leader whose ticks are tick apart, for
// the replicaset named prefix.
func New(prefix string, tick time.Duration) *Dispatcher {
	return &Dispatcher{tick: tick, prefix: prefix, dests: map[string]*dest{}}
}

// Tick advances the dispatcher's clock by one tick.
func (d *Dispatcher) Tick() { d.now++ }

func (d *Dispatcher) dest(name string) *dest {
	ds := d.dests[name]
	if ds == nil {
		ds = &dest{name: name, pushes: map[uint64]*push{}, sending: map[uint64]bool{}, retry: map[uint64]*failed{},
			taken: map[uint64]uint64{}, gaveUp: map[uint64]*failed{}}
		d.dests[name] = ds
	}
	return ds
}

// IdempotencyKey names a message for its receivers: the same on every
// attempt, across leaders, and after a retry from the repair queue.
func (d *Dispatcher) IdempotencyKey(e *kv.OutboxEntry) string {
	return fmt.Sprintf("%s-%d", d.prefix, e.Origin)
}

// Window is how many of a destination's oldest messages Plan should be
// given: enough to fill every push it may have outstanding, and then
// some for messages blocked behind their key.
func Window(o *connector.Outbound) int { return min(4*o.Delivery.Batch*o.Delivery.InFlight, 4096) }

// Plan chooses the next pushes to destination o from entries (its oldest
// messages, by position). Messages that cannot be rendered are given up at
// once (Settle reports them). It returns nothing while the destination's
// pushes are all outstanding.
func (d *Dispatcher) Plan(o *connector.Outbound, entries []kv.OutboxEntry) []*connector.Push {
	ds := d.dest(o.Name)
	ds.forget(entries)
	if o.Spec == nil {
		return nil // a type this binary lacks: the messages wait
	}
	var out []*connector.Push
	blocked := map[string]bool{}
	var cur *connector.Push
	var curPush *push
	for i := range entries {
		e := &entries[i]
		if _, ok := ds.taken[e.Seq]; ok {
			continue
		}
		if _, ok := ds.gaveUp[e.Seq]; ok {
			continue
		}
		if blocked[e.Key] {
			continue
		}
		blocked[e.Key] = true // one message of a key at a time: this one or an earlier
		if ds.sending[e.Seq] {
			continue
		}
		f := ds.retry[e.Seq]
		if f != nil && f.due > d.now {
			continue
		}
		if cur == nil {
			if len(ds.pushes) >= o.Delivery.InFlight {
				break
			}
			d.nextID++
			cur = &connector.Push{ID: d.nextID, Replicaset: d.prefix, Destination: o.Name, Spec: o.Spec, Timeout: o.Delivery.Timeout}
			curPush = &push{id: d.nextID, at: d.now}
			ds.pushes[cur.ID] = curPush
			out = append(out, cur)
		}
		key := d.IdempotencyKey(e)
		req, err := o.Spec.Render(&connector.Message{Destination: o.Name, Seq: e.Seq, IdempotencyKey: key,
			MessageID: e.MessageID, Key: e.Key, Value: e.Value})
		if err != nil {
			attempts := 1
			if f != nil {
				attempts = f.attempts + 1
			}
			delete(ds.retry, e.Seq)
			ds.gaveUp[e.Seq] = &failed{attempts: attempts, reason: "rendering: " + err.Error()}
			continue
		}
		cur.Items = append(cur.Items, connector.Item{Seq: e.Seq, IdempotencyKey: key, OrderKey: e.Key, Request: req})
		curPush.seqs = append(curPush.seqs, e.Seq)
		curPush.queued = append(curPush.queued, e.At)
		ds.sending[e.Seq] = true
		if len(cur.Items) >= o.Delivery.Batch {
			cur, curPush = nil, nil
		}
	}
	if cur != nil && len(cur.Items) == 0 {
		delete(ds.pushes, cur.ID)
		out = out[:len(out)-1]
	}
	return out
}

// forget drops what the store no longer holds: positions settled by a
// command that applied. entries are the destination's oldest messages;
// a position below the first of them, or missing between them, is gone.
func (ds *dest) forget(entries []kv.OutboxEntry) {
	present := make(map[uint64]bool, len(entries))
	for i := range entries {
		present[entries[i].Seq] = true
	}
	var last uint64
	if len(entries) > 0 {
		last = entries[len(entries)-1].Seq
	}
	gone := func(seq uint64) bool { return !present[seq] && (len(entries) == 0 || seq <= last) }
	maps.DeleteFunc(ds.taken, func(seq, _ uint64) bool { return gone(seq) })
	maps.DeleteFunc(ds.gaveUp, func(seq uint64, _ *failed) bool { return gone(seq) })
	maps.DeleteFunc(ds.retry, func(seq uint64, _ *failed) bool { return gone(seq) })
}

// Outcome is what an answer settled.
type Outcome struct {
	Taken, Refused int
	// OldestAt is when the oldest message taken was queued (0: none taken):
	// with the clock at the answer, the push's worst delivery latency.
	OldestAt int64
}

// Answer takes an endpoint's answer to a push. It reports whether the
// answer was for an outstanding push (a late answer, after the push
// timed out, is dropped: its messages are being retried). rng draws the
// backoff's jitter.
func (d *Dispatcher) Answer(o *connector.Outbound, a *connector.Pushed, rng *rand.Rand) (Outcome, bool) {
	var out Outcome
	ds := d.dests[a.Destination]
	if ds == nil {
		return out, false
	}
	p := ds.pushes[a.ID]
	if p == nil {
		return out, false
	}
	delete(ds.pushes, a.ID)
	results := make(map[uint64]string, len(a.Results))
	for _, r := range a.Results {
		results[r.Seq] = r.Err
	}
	for i, seq := range p.seqs {
		delete(ds.sending, seq)
		why, answered := results[seq]
		switch {
		case !answered:
			ds.refuse(d, o, seq, noAnswer, rng)
			out.Refused++
		case why == "":
			delete(ds.retry, seq)
			ds.taken[seq] = 0
			out.Taken++
			if at := p.queued[i]; out.OldestAt == 0 || at < out.OldestAt {
				out.OldestAt = at
			}
		default:
			ds.refuse(d, o, seq, why, rng)
			out.Refused++
		}
	}
	return out, true
}

const noAnswer = "the endpoint's answer left the message out"

// refuse counts a failed attempt at seq: it waits its backoff, or, out of
// attempts, is given up.
func (ds *dest) refuse(d *Dispatcher, o *connector.Outbound, seq uint64, why string, rng *rand.Rand) {
	f := ds.retry[seq]
	if f == nil {
		f = &failed{}
		ds.retry[seq] = f
	}
	f.attempts++
	f.reason = why
	if f.attempts >= o.Delivery.MaxAttempts {
		delete(ds.retry, seq)
		ds.gaveUp[seq] = f
		return
	}
	wait := Backoff(o.Delivery, f.attempts, rng)
	f.due = d.now + uint64((wait+d.tick-1)/d.tick)
}

// Backoff is the wait after a message's attempts-th failure: BackoffMin
// doubled per earlier failure, capped at BackoffMax, of which a random
// half ("equal jitter") so that messages refused together do not come
// back together.
func Backoff(p connector.Delivery, attempts int, rng *rand.Rand) time.Duration {
	d := p.BackoffMin
	for i := 1; i < attempts && d < p.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, p.BackoffMax)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + time.Duration(rng.Int64N(int64(half)+1))
}

// Expire fails the pushes to o outstanding for longer than its timeout.
func (d *Dispatcher) Expire(o *connector.Outbound, rng *rand.Rand) (expired int) {
	ds := d.dests[o.Name]
	if ds == nil {
		return 0
	}
	limit := uint64((o.Delivery.Timeout + d.tick - 1) / d.tick)
	for _, id := range sortedKeys(ds.pushes) {
		p := ds.pushes[id]
		if d.now-p.at < limit {
			continue
		}
		delete(ds.pushes, id)
		for _, seq := range p.seqs {
			delete(ds.sending, seq)
			ds.refuse(d, o, seq, fmt.Sprintf("no answer within %s", o.Delivery.Timeout), rng)
		}
		expired++
	}
	return expired
}

// resettle is how many ticks a settling may take to apply before it is
// proposed again (raft may have dropped the proposal).
const resettle = 20

// Settle returns the outbox command that records what destination name's
// endpoint took and what was given up, and false when there is nothing
// new to record.
func (d *Dispatcher) Settle(name string, at int64) (*kv.Outbox, bool) {
	ds := d.dests[name]
	if ds == nil {
		return nil, false
	}
	o := &kv.Outbox{Destination: name, At: at}
	for _, seq := range sortedKeys(ds.taken) {
		if p := ds.taken[seq]; p == 0 || d.now+1-p >= resettle {
			ds.taken[seq] = d.now + 1 // never 0 once proposed
			o.Delivered = append(o.Delivered, seq)
		}
		if len(o.Delivered) >= kv.MaxOutboxSeqs/2 {
			break
		}
	}
	for _, seq := range sortedKeys(ds.gaveUp) {
		f := ds.gaveUp[seq]
		if f.proposed == 0 || d.now+1-f.proposed >= resettle {
			f.proposed = d.now + 1
			reason := f.reason
			if len(reason) > kv.MaxReason {
				reason = reason[:kv.MaxReason]
			}
			o.Failed = append(o.Failed, kv.OutboxFailure{Seq: seq, Attempts: f.attempts, Reason: reason})
		}
		if len(o.Failed) >= kv.MaxOutboxSeqs/2 {
			break
		}
	}
	return o, len(o.Delivered)+len(o.Failed) > 0
}

// Stats is a destination's delivery state, for traces and metrics.
type Stats struct {
	Pushes   int // outstanding
	Sending  int // messages in them
	Retrying int // messages waiting their backoff
}

// Stats reports destination name's delivery state.
func (d *Dispatcher) Stats(name string) Stats {
	ds := d.dests[name]
	if ds == nil {
		return Stats{}
	}
	return Stats{Pushes: len(ds.pushes), Sending: len(ds.sending), Retrying: len(ds.retry)}
}

// Destinations lists the destinations the dispatcher has state for.
func (d *Dispatcher) Destinations() []string { return sortedKeys(d.dests) }

func sortedKeys[K int | uint64 | string, V any](m map[K]V) []K { return slices.Sorted(maps.Keys(m)) }
