package connector

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/kv"
)

// A Consumer is an instance's side of one Kafka inbound connector: the
// member of the connector's consumer group that this instance is. It asks
// the connector's endpoint (InboundEndpoint) for records, turns each into
// a message of the inbound queue, hands the messages to the queue, and
// commits the batch's offsets once every one of them is acknowledged, so
// that Kafka's committed offsets never pass a record the queue does not
// hold. Records fetched again (after a crash, a timeout, a rebalance)
// make the same message ids, which the queue takes once: exactly-once
// effect from at-least-once delivery.
//
// One batch is outstanding at a time: fetch, enqueue every record,
// commit, fetch again. Within a batch up to ConsumerConfig.InFlight
// enqueues are out at once, and the order the queue can keep is kept:
// the records of one routing key go one at a time, in the batch's order
// (a partition's records come in offset order), and a record goes only
// once the queue has acknowledged the one before it of its key. The
// queue settles in order only what one replicaset's queue holds, and
// it keeps no order between requests in flight together, so records of
// one key sent together could take effect in either order; records of
// different keys have no order to keep (they may go to different
// replicasets). A keyless record is routed by its own id, so it waits
// for nothing. Ordering by partition instead would leave a member that
// reads one partition with a single enqueue out, the bottleneck this
// replaces. Among the records free to go, the lowest in the batch goes
// first.
//
// A Consumer is deterministic: it does no I/O and reads no clock. Its
// caller feeds it ticks and answers, and does what each call's Out asks.
// Time is counted in the caller's ticks, as in core/outbound.
type Consumer struct {
	name   string // the connector
	member string
	spec   *KafkaInbound
	cfg    ConsumerConfig
	rng    *rand.Rand

	now       uint64 // ticks since the consumer began
	phase     phase
	due       uint64  // waiting: when to fetch; enqueuing and paused: when to enqueue again
	sent      uint64  // fetching, committing: when the request first went
	resent    uint64  // and when it last went
	fetchReq  *Fetch  // the outstanding fetch
	commitReq *Commit // the outstanding commit
	id        uint64  // the outstanding fetch's or commit's ID
	failures  int     // in a row, for the backoff
	nextN     uint64
	batch     *batch
}

type phase uint8

const (
	waiting    phase = iota // until due, then fetch
	fetching                // a Fetch outstanding
	enqueuing               // a batch's records going to the queue
	committing              // a Commit outstanding
)

var phaseNames = [...]string{waiting: "waiting", fetching: "fetching", enqueuing: "enqueuing", committing: "committing"}

func (p phase) String() string { return phaseNames[p] }

// batch is the records of one fetch, on their way to the queue.
type batch struct {
	generation int64
	items      []item
	ready      []int // the items free to go, in batch order
	out        []int // the items handed out and unanswered, at most InFlight
	acked      int   // items acknowledged
	paused     bool  // the queue was busy: nothing goes before due
	offsets    []Offset
}

// item is a record of a batch and where it stands.
type item struct {
	Enqueue
	state itemState
	next  int // the next item of the same routing key, or -1
}

type itemState uint8

const (
	itemBlocked itemState = iota // an earlier item of its key is not acknowledged
	itemReady                    // free to go
	itemOut                      // handed out, unanswered
	itemAcked                    // in the queue
)

// ConsumerConfig is a Consumer's timing and window. Durations are
// rounded up to whole ticks.
type ConsumerConfig struct {
	Tick time.Duration // the caller's tick
	// Timeout: a fetch or commit unanswered within it failed.
	Timeout time.Duration
	// Resend: a fetch or commit unanswered for this long is sent again,
	// with the same ID, until Timeout. A message lost on the way then
	// costs a Resend, not a Timeout (and not the member's place in the
	// group, whose session is usually shorter than Timeout).
	Resend time.Duration
	// BackoffMin is the wait after a first failure; it doubles with each
	// failure in a row up to BackoffMax, with jitter.
	BackoffMin, BackoffMax time.Duration
	// Idle is the wait after a fetch that found nothing, before the next.
	// It must be well within the group's session timeout: a member that
	// stops fetching leaves the group.
	Idle time.Duration
	// InFlight bounds the enqueues handed out and unanswered (0:
	// DefaultInFlight). The caller sends each from a client of its own
	// (the dedup table keeps one answer per client), so it is also how
	// many clients a consumer uses at most.
	InFlight int
}

// DefaultInFlight is the enqueues a consumer has out at once unless
// ConsumerConfig.InFlight says otherwise: enough for the queue's leader
// to put many in one Raft append (and one fsync), few enough that a
// batch that fails leaves little to send again.
const DefaultInFlight = 16

// DefaultConsumerConfig is the timing the engine runs consumers with, for
// its default tick of 100 ms.
var DefaultConsumerConfig = ConsumerConfig{
	Tick: 100 * time.Millisecond, Timeout: 10 * time.Second, Resend: time.Second,
	BackoffMin: 200 * time.Millisecond, BackoffMax: 10 * time.Second, Idle: 500 * time.Millisecond,
	InFlight: DefaultInFlight,
}

// withDefaults fills in zero fields from DefaultConsumerConfig.
func (c ConsumerConfig) withDefaults() ConsumerConfig {
	d := DefaultConsumerConfig
	if c.Tick <= 0 {
		c.Tick = d.Tick
	}
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.Resend <= 0 {
		c.Resend = min(d.Resend, c.Timeout)
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = d.BackoffMin
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(d.BackoffMax, c.BackoffMin)
	}
	if c.Idle <= 0 {
		c.Idle = d.Idle
	}
	if c.InFlight <= 0 {
		c.InFlight = d.InFlight
	}
	return c
}

// Enqueue is a message the consumer hands to the inbound queue: an
// enqueue request routed by Key. N names this hand-out: the caller
// answers with Enqueued(N, ...), and sends the same request (the same
// client and sequence number) again until it has an answer or the
// consumer no longer awaits it (Awaits). A record handed out again
// after a busy queue gets a new N.
type Enqueue struct {
	N       uint64
	Key     string // the routing key: the record's key, else the message id
	Message kv.Message
	// Poison is why the record could not be enqueued as it is ("" if it
	// could): Message is then the small stand-in PoisonMessage makes.
	Poison    string
	Topic     string
	Partition int32
	Offset    int64
}

// Out is what a Consumer asks its caller to do after a call: send Fetch
// or Commit to InboundEndpoint(connector), hand Enqueues to the queue,
// in order. A Fetch or Commit that comes again with the ID of one sent
// before is its resending (ConsumerConfig.Resend): an endpoint answers
// each copy, and the consumer takes the first answer.
// Batch, Committed and Failure report what just happened, for the trace.
type Out struct {
	Fetch     *Fetch
	Commit    *Commit
	Enqueues  []Enqueue
	Batch     *Batch   // a fetch answered with records: the batch taken
	Committed *Commit  // the commit just accepted
	Failure   *Failure // what just failed, and how long the consumer waits
}

// Batch describes a batch taken.
type Batch struct {
	Fetch      uint64 // the fetch's ID
	Generation int64
	Records    int
	Poison     int     // records enqueued as poison stand-ins
	Ranges     []Range // by partition
}

// Range is the records of one partition in a batch.
type Range struct {
	Topic       string
	Partition   int32
	First, Last int64
}

// Failure is a failed step: What is fetch, commit or enqueue; ID the
// fetch's or commit's ID, or the Enqueue's N; Wait the pause before the
// consumer goes on (0: at once).
type Failure struct {
	What string
	ID   uint64
	Err  string
	Wait time.Duration
}

// NewConsumer returns the consumer of connector in (its Spec a
// *KafkaInbound) for member, drawing its backoff jitter from rng. It
// fetches on its first Tick.
func NewConsumer(in *Inbound, member string, cfg ConsumerConfig, rng *rand.Rand) *Consumer {
	spec, ok := in.Spec.(*KafkaInbound)
	if !ok {
		panic(fmt.Sprintf("connector: a consumer for %s, of type %s: only kafka connectors have one", in.Name, in.Type))
	}
	return &Consumer{name: in.Name, member: member, spec: spec, cfg: cfg.withDefaults(), rng: rng}
}

// Connector is the name of the consumer's connector.
func (c *Consumer) Connector() string { return c.name }

// Member is the consumer's member name.
func (c *Consumer) Member() string { return c.member }

// Spec is the connector's parameters the consumer runs with.
func (c *Consumer) Spec() *KafkaInbound { return c.spec }

// ConsumerStatus is a consumer's progress, for tests and the API.
type ConsumerStatus struct {
	Phase      string // waiting, fetching, enqueuing or committing
	Generation int64  // the batch's, while there is one
	Records    int    // in the batch
	Acked      int    // of them, acknowledged by the queue
	InFlight   int    // of them, handed out and unanswered
	Failures   int    // in a row
}

// Status reports the consumer's progress.
func (c *Consumer) Status() ConsumerStatus {
	s := ConsumerStatus{Phase: c.phase.String(), Failures: c.failures}
	if b := c.batch; b != nil {
		s.Generation, s.Records, s.Acked, s.InFlight = b.generation, len(b.items), b.acked, len(b.out)
	}
	return s
}

// Awaits reports whether the consumer awaits an answer to hand-out n.
// One it does not await (its batch was dropped, its answer taken) need
// not be sent again: an answer to it would be dropped.
func (c *Consumer) Awaits(n uint64) bool {
	return c.phase == enqueuing && c.batch.find(n) >= 0
}

// find is the position in b.out of hand-out n, or -1.
func (b *batch) find(n uint64) int {
	return slices.IndexFunc(b.out, func(i int) bool { return b.items[i].N == n })
}

// ticks is d in ticks, rounded up, at least one.
func (c *Consumer) ticks(d time.Duration) uint64 {
	return uint64(max((d+c.cfg.Tick-1)/c.cfg.Tick, 1))
}

// Tick advances the consumer's clock by one tick: a wait may end, an
// outstanding fetch or commit may time out.
func (c *Consumer) Tick() Out {
	c.now++
	switch c.phase {
	case waiting:
		if c.now >= c.due {
			return c.fetch()
		}
	case fetching, committing:
		if c.now-c.sent >= c.ticks(c.cfg.Timeout) {
			what := "fetch"
			if c.phase == committing {
				what = "commit"
			}
			return c.fail(what, c.id, fmt.Sprintf("no answer within %s", c.cfg.Timeout))
		}
		if c.now-c.resent >= c.ticks(c.cfg.Resend) {
			c.resent = c.now
			if c.phase == fetching {
				return Out{Fetch: c.fetchReq}
			}
			return Out{Commit: c.commitReq}
		}
	case enqueuing:
		if b := c.batch; b.paused && c.now >= c.due {
			b.paused = false
			return c.handOut()
		}
	}
	return Out{}
}

func (c *Consumer) fetch() Out {
	c.id++
	c.phase, c.sent, c.resent, c.batch = fetching, c.now, c.now, nil
	c.fetchReq = &Fetch{ID: c.id, Connector: c.name, Spec: c.spec, Member: c.member, Max: c.spec.MaxBatch}
	return Out{Fetch: c.fetchReq}
}

// fail drops whatever was under way and waits a backoff before fetching
// again: records not committed come again, and their ids make them take
// effect once. Enqueues still out are no longer awaited.
func (c *Consumer) fail(what string, id uint64, why string) Out {
	c.failures++
	wait := backoff(c.cfg.BackoffMin, c.cfg.BackoffMax, c.failures, c.rng)
	c.phase, c.due, c.batch = waiting, c.now+c.ticks(wait), nil
	return Out{Failure: &Failure{What: what, ID: id, Err: why, Wait: wait}}
}

// backoff is the wait after the n-th failure in a row: min doubled per
// earlier failure, capped at max, of which a random half ("equal
// jitter"), so that the members of a group do not come back together.
func backoff(lo, hi time.Duration, n int, rng *rand.Rand) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + time.Duration(rng.Int64N(int64(half)+1))
}

// Fetched takes the endpoint's answer to a fetch. An answer to any fetch
// but the outstanding one is dropped.
func (c *Consumer) Fetched(f *Fetched) Out {
	if c.phase != fetching || f.ID != c.id || f.Connector != c.name {
		return Out{}
	}
	if f.Err != "" {
		return c.fail("fetch", f.ID, f.Err)
	}
	c.failures = 0
	if len(f.Records) == 0 {
		c.phase, c.due = waiting, c.now+c.ticks(c.cfg.Idle)
		return Out{}
	}
	b := &batch{generation: f.Generation, items: make([]item, len(f.Records))}
	sum := &Batch{Fetch: f.ID, Generation: f.Generation, Records: len(f.Records)}
	last := make(map[string]int, len(f.Records)) // the latest item of each routing key
	for i := range f.Records {
		r := &f.Records[i]
		msg, key, poison := RecordMessage(c.name, r)
		b.items[i] = item{Enqueue: Enqueue{Key: key, Message: msg, Poison: poison, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset},
			next: -1}
		if j, ok := last[key]; ok {
			b.items[j].next = i
		} else {
			b.items[i].state = itemReady
			b.ready = append(b.ready, i)
		}
		last[key] = i
		if poison != "" {
			sum.Poison++
		}
		// The next offset of each partition is one past its highest
		// record: the batch covers exactly the records it holds.
		j := slices.IndexFunc(b.offsets, func(o Offset) bool { return o.Topic == r.Topic && o.Partition == r.Partition })
		if j < 0 {
			b.offsets = append(b.offsets, Offset{Topic: r.Topic, Partition: r.Partition, Next: r.Offset + 1})
			sum.Ranges = append(sum.Ranges, Range{Topic: r.Topic, Partition: r.Partition, First: r.Offset, Last: r.Offset})
			continue
		}
		b.offsets[j].Next = max(b.offsets[j].Next, r.Offset+1)
		sum.Ranges[j].First = min(sum.Ranges[j].First, r.Offset)
		sum.Ranges[j].Last = max(sum.Ranges[j].Last, r.Offset)
	}
	c.phase, c.batch = enqueuing, b
	out := c.handOut()
	out.Batch = sum
	return out
}

// handOut hands records to the queue, the lowest free ones first, until
// the window is full, none is free, or the batch is paused.
func (c *Consumer) handOut() Out {
	b := c.batch
	var out Out
	for !b.paused && len(b.out) < c.cfg.InFlight && len(b.ready) > 0 {
		i := b.ready[0]
		b.ready = b.ready[1:]
		it := &b.items[i]
		if it.state != itemReady {
			panic(fmt.Sprintf("connector: %s: item %d of the batch is free to go in state %d", c.name, i, it.state))
		}
		c.nextN++
		it.N, it.state = c.nextN, itemOut
		b.out = append(b.out, i)
		out.Enqueues = append(out.Enqueues, it.Enqueue)
	}
	return out
}

// free makes item i free to go again, in its place in the batch's order.
func (b *batch) free(i int) {
	b.items[i].state = itemReady
	at, _ := slices.BinarySearch(b.ready, i)
	b.ready = slices.Insert(b.ready, at, i)
}

// Enqueued takes the queue's answer to Enqueue n: kv.StatusOK (the
// message is in the queue, now or from before: the next record of its
// key is free to go), kv.StatusBusy (the queue is full; nothing was
// enqueued: the record goes again, and nothing new goes before
// retryAfter) or any other status (refused, why says why: the record
// goes again as a poison stand-in, and a stand-in refused ends the
// batch, as a failed fetch does). Redirects are the caller's to follow;
// an answer to any hand-out the consumer does not await is dropped.
func (c *Consumer) Enqueued(n uint64, status kv.Status, retryAfter time.Duration, why string) Out {
	if c.phase != enqueuing {
		return Out{}
	}
	b := c.batch
	k := b.find(n)
	if k < 0 {
		return Out{}
	}
	i := b.out[k]
	b.out = slices.Delete(b.out, k, k+1)
	it := &b.items[i]
	switch status {
	case kv.StatusOK:
		it.state = itemAcked
		b.acked++
		if it.next >= 0 {
			b.free(it.next)
		}
		if b.acked == len(b.items) {
			return c.commit()
		}
		return c.handOut()
	case kv.StatusBusy:
		wait := max(retryAfter, c.cfg.Tick)
		b.free(i)
		if due := c.now + c.ticks(wait); !b.paused || due > c.due {
			c.due = due
		}
		b.paused = true
		if why == "" {
			why = "the inbound queue is full"
		}
		return Out{Failure: &Failure{What: "enqueue", ID: n, Err: "busy: " + why, Wait: wait}}
	}
	if it.Poison != "" {
		return c.fail("enqueue", n, fmt.Sprintf("%s/%d/%d: the queue refused even its poison stand-in: %s", it.Topic, it.Partition, it.Offset, why))
	}
	reason := "the queue refused it: " + why
	it.Key = poisonKey(it.Key, it.Message.ID)
	it.Message = PoisonMessage(c.name, it.Topic, it.Partition, it.Offset, reason)
	it.Poison = reason
	b.free(i)
	out := c.handOut()
	out.Failure = &Failure{What: "enqueue", ID: n, Err: why}
	return out
}

func (c *Consumer) commit() Out {
	b := c.batch
	if b.acked != len(b.items) || len(b.out) > 0 {
		panic(fmt.Sprintf("connector: %s: committing a batch of %d records with %d acknowledged, %d out", c.name, len(b.items), b.acked, len(b.out)))
	}
	c.id++
	c.phase, c.sent, c.resent = committing, c.now, c.now
	c.commitReq = &Commit{ID: c.id, Connector: c.name, Spec: c.spec, Member: c.member, Generation: b.generation,
		Offsets: slices.Clone(b.offsets)}
	return Out{Commit: c.commitReq}
}

// Committed takes the endpoint's answer to a commit. A refused commit (a
// rebalance moved the partitions on) drops the batch: the records are
// in the queue, and whoever reads the partitions next fetches them
// again, to the same ids. Either way the consumer fetches again at once.
// An answer to any commit but the outstanding one is dropped.
func (c *Consumer) Committed(a *Committed) Out {
	if c.phase != committing || a.ID != c.id || a.Connector != c.name {
		return Out{}
	}
	b := c.batch
	done := &Commit{ID: a.ID, Connector: c.name, Spec: c.spec, Member: c.member, Generation: b.generation, Offsets: b.offsets}
	if a.Err != "" {
		out := c.fetch()
		out.Failure = &Failure{What: "commit", ID: a.ID, Err: a.Err}
		return out
	}
	c.failures = 0
	out := c.fetch()
	out.Committed = done
	return out
}

// Headers the consumer gives a record's message.
const (
	// KeyHeader carries the record's key, when it has one.
	KeyHeader = "Kafka-Key"
	// PoisonHeader marks a poison record's stand-in, with the reason.
	PoisonHeader = "X-Shoal-Poison"
)

// RecordID is the id of the message a record of connector becomes: the
// idempotency key that makes a record fetched again take effect once.
// It is "CONNECTOR/TOPIC/PARTITION/OFFSET"; a topic that would make it
// longer than kv.MaxMessageID is replaced by "~" and a hash of it.
func RecordID(connector, topic string, partition int32, offset int64) string {
	id := recordID(connector, topic, partition, offset)
	if len(id) <= kv.MaxMessageID {
		return id
	}
	sum := sha256.Sum256([]byte(topic))
	return recordID(connector, "~"+hex.EncodeToString(sum[:16]), partition, offset)
}

func recordID(connector, topic string, partition int32, offset int64) string {
	return connector + "/" + topic + "/" + strconv.FormatInt(int64(partition), 10) + "/" + strconv.FormatInt(offset, 10)
}

// RecordMessage turns a record of connector into the message it is
// enqueued as, and the routing key of its enqueue: the record's key when
// it has one (a key of no bytes is none), else the message's id. The
// message has the record's id (RecordID), the connector's name, the
// record's headers (the last of each name, as Kafka's lastHeader) plus
// KeyHeader, sorted by name, and the value as payload. A record the
// queue cannot take as it is (a payload over kv.MaxPayload, headers over
// kv's bounds) is a poison record: poison says why, and the message is
// PoisonMessage's stand-in, so that the partition moves on and the
// record is seen in the repair queue.
func RecordMessage(connector string, r *Record) (m kv.Message, key, poison string) {
	id := RecordID(connector, r.Topic, r.Partition, r.Offset)
	hs := make([]kv.Header, 0, len(r.Headers)+1)
	for _, h := range r.Headers {
		if h.Name == KeyHeader && len(r.Key) > 0 {
			continue
		}
		hs = append(hs, kv.Header{Name: h.Name, Value: h.Value})
	}
	if len(r.Key) > 0 {
		hs = append(hs, kv.Header{Name: KeyHeader, Value: string(r.Key)})
	}
	// Sorted stably by name, the last of each name kept.
	slices.SortStableFunc(hs, func(a, b kv.Header) int { return strings.Compare(a.Name, b.Name) })
	kept := hs[:0]
	for i, h := range hs {
		if i+1 < len(hs) && hs[i+1].Name == h.Name {
			continue
		}
		kept = append(kept, h)
	}
	m = kv.Message{ID: id, Connector: connector, Headers: kept, Payload: r.Value}
	key = id
	if len(r.Key) > 0 {
		key = string(r.Key)
	}
	if err := m.Check(); err != nil {
		reason := err.Error()
		return PoisonMessage(connector, r.Topic, r.Partition, r.Offset, reason), poisonKey(key, id), reason
	}
	return m, key, ""
}

// poisonKey is the routing key of a poison record's stand-in: the
// record's routing key, unless that is longer than a header may be (then
// the id).
func poisonKey(key, id string) string {
	if len(key) > kv.MaxHeaderLen {
		return id
	}
	return key
}

// PoisonMessage is the stand-in enqueued for a poison record: the
// record's id, the connector's name, PoisonHeader with the reason, and a
// small JSON payload naming the record:
//
//	{"poison": REASON, "topic": TOPIC, "partition": P, "offset": O}
//
// No routing rule that asks for a record's own headers or fields takes
// it, so it goes to the repair queue, where an operator sees it.
func PoisonMessage(connector, topic string, partition int32, offset int64, reason string) kv.Message {
	reason = cut(reason, kv.MaxHeaderLen-len(PoisonHeader))
	payload, err := json.Marshal(struct {
		Poison    string `json:"poison"`
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	}{reason, topic, partition, offset})
	if err != nil {
		panic(err) // strings and integers always encode
	}
	return kv.Message{ID: RecordID(connector, topic, partition, offset), Connector: connector,
		Headers: []kv.Header{{Name: PoisonHeader, Value: reason}}, Payload: payload}
}

// cut shortens s to at most n bytes of valid UTF-8.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
