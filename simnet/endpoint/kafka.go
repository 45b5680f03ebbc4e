package endpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
)

// Kafka is the simulator's Kafka broker for one inbound connector, run
// as a node of the World at connector.InboundEndpoint(connector): one
// topic of Partitions partitions, and the connector's consumer group.
// Every instance sends its fetches and commits to this one node; the
// Fetch's Member tells the members apart.
//
// The harness appends records by posting a Produce. A record with a key
// goes to the partition KafkaPartition picks, one without to the next
// partition round the topic.
//
// The group: a member is an instance that fetched within SessionTimeout.
// The partitions are assigned round-robin over the sorted live members
// (partition p to member p mod n), and every change of the members, or
// a posted Rebalance, starts a new generation. A fetch returns up to Max
// records of the member's partitions, from each one's committed offset
// (so records handed out and not committed come again, to this member or
// to the next owner). A commit must name the current generation and only
// partitions assigned to its member, and no offset past a partition's
// end; otherwise it is refused with an error and nothing is committed.
// A group with no committed offset starts, at its first generation, at
// the beginning of each partition (start: earliest) or at its end
// (latest).
//
// Modes, set at start (KafkaConfig.Initial) and by posting a KafkaMode:
//
//   - up: every request is handled and answered at once;
//   - down: requests are ignored, unanswered (fetches then do not keep a
//     member in the group);
//   - slow: requests are handled at once and answered Delay later.
//
// The log and the committed offsets live in the broker's memory: a
// killed broker loses them, which a real one would not. Killing the
// broker is not a scenario we run; faults are the modes and Rebalance.
//
// Trace events, with the broker's node name in the node field:
//
//	kafka.mode       connector, mode, delay (ns): at start and at every KafkaMode
//	kafka.produce    connector, partition, offset, key, value (hex of the
//	                 first 8 bytes of the SHA-256 of the value), id (the
//	                 message id the engine makes of the record,
//	                 connector.RecordID), expect (KafkaRecord.Expect)
//	kafka.rebalance  connector, generation, members (comma-separated, sorted),
//	                 assignment ("0:n1,1:n2,2:n1"; a partition of no member
//	                 is left out), why (join, leave, forced)
//	kafka.fetch      connector, member, generation, id (the fetch's),
//	                 records, ranges ("0:5-9,2:3-3": partition:first-last)
//	kafka.commit     connector, member, generation, id (the commit's),
//	                 partition, from (the offset committed before), next:
//	                 one per partition of an accepted commit
//	kafka.refuse     connector, member, generation, id, what (fetch, commit),
//	                 error: a request refused
type Kafka struct {
	e          env.Env
	conn       string
	cfg        KafkaConfig
	mode       KafkaMode
	logs       [][]connector.Record // by partition
	committed  []int64              // by partition: the next offset to read
	started    bool                 // the group had its first generation
	generation int64
	members    map[string]env.TimerID // live members, with their session's timer
	assign     []string               // by partition: its member ("" none)
	nextPart   int                    // the partition of the next keyless record
}

var _ env.Node = (*Kafka)(nil)

// Modes of a broker beyond the endpoint's Up and Slow.
const Down = "down"

// DefaultPartitions is the partitions of a broker's topic when its
// config sets none.
const DefaultPartitions = 4

// DefaultSessionTimeout is how long a member stays in the group after a
// fetch, when the config sets no timeout.
const DefaultSessionTimeout = 3 * time.Second

// KafkaConfig shapes a broker.
type KafkaConfig struct {
	// Topic is the topic's name; "" is the connector's name. A fetch or
	// commit for another topic is refused.
	Topic string
	// Partitions of the topic; 0 is DefaultPartitions.
	Partitions int
	// SessionTimeout: a member that has not fetched within it leaves the
	// group; 0 is DefaultSessionTimeout.
	SessionTimeout time.Duration
	// Initial is the mode at start.
	Initial KafkaMode
}

// KafkaMode changes a broker's mode when posted to it; a zero KafkaMode
// is up. The broker panics on one Validate rejects.
type KafkaMode struct {
	Mode  string // Up, Down or Slow; "" is Up
	Delay time.Duration
}

// Kind names a KafkaMode in the trace.
func (KafkaMode) Kind() string { return "kafka.set-mode" }

// Validate checks a mode.
func (m KafkaMode) Validate() error {
	switch m.Mode {
	case "", Up, Down, Slow:
	default:
		return fmt.Errorf("endpoint: unknown broker mode %q (want up, down or slow)", m.Mode)
	}
	switch {
	case m.Delay < 0:
		return fmt.Errorf("endpoint: delay %s is negative", m.Delay)
	case m.Mode == Slow && m.Delay == 0:
		return fmt.Errorf("endpoint: slow mode needs a delay")
	}
	return nil
}

func (m KafkaMode) normal() KafkaMode {
	if m.Mode == Slow {
		return m
	}
	if m.Mode == "" {
		m.Mode = Up
	}
	m.Delay = 0
	return m
}

// Produce appends records to a broker's topic when posted to it.
type Produce struct{ Records []KafkaRecord }

// Kind names a Produce in the trace.
func (Produce) Kind() string { return "kafka.produce-records" }

// KafkaRecord is a record to produce: no key (nil or empty) sends it to
// the partitions in turn.
type KafkaRecord struct {
	Key, Value []byte
	Headers    []connector.Header
	// Expect names what the record should become, for the checkers (the
	// object label of checker.Delivery, "" for a record built to fail);
	// the broker only traces it.
	Expect string
}

// Rebalance, posted to a broker, starts a new generation of its group
// now, with the same members: every commit of the generation before is
// refused from then on.
type Rebalance struct{}

// Kind names a Rebalance in the trace.
func (Rebalance) Kind() string { return "kafka.rebalance-group" }

// session is a member's session timer coming due.
type session struct{ member string }

func (session) Kind() string { return "kafka.session" }

// delayed is a slow answer coming due.
type delayed struct {
	to env.NodeID
	m  env.Message
}

func (delayed) Kind() string { return "kafka.answer" }

// KafkaPartition is the partition of a record with key among n: FNV-1a
// 32 of the key, modulo n.
func KafkaPartition(key []byte, n int) int32 {
	h := fnv.New32a()
	h.Write(key)
	return int32(h.Sum32() % uint32(n))
}

// StartKafka returns the env.Start of a broker. The node must be named
// connector.InboundEndpoint(connector).
func StartKafka(cfg KafkaConfig) env.Start {
	return func(e env.Env) (env.Node, error) {
		conn, ok := connector.IsInboundEndpoint(e.ID())
		if !ok {
			return nil, fmt.Errorf("endpoint: node %q is not named %s+connector", e.ID(), connector.InboundPrefix)
		}
		if err := cfg.Initial.Validate(); err != nil {
			return nil, err
		}
		if cfg.Topic == "" {
			cfg.Topic = conn
		}
		if cfg.Partitions <= 0 {
			cfg.Partitions = DefaultPartitions
		}
		if cfg.SessionTimeout <= 0 {
			cfg.SessionTimeout = DefaultSessionTimeout
		}
		k := &Kafka{e: e, conn: conn, cfg: cfg, logs: make([][]connector.Record, cfg.Partitions),
			committed: make([]int64, cfg.Partitions), members: map[string]env.TimerID{}, assign: make([]string, cfg.Partitions)}
		k.setMode(cfg.Initial)
		return k, nil
	}
}

// Connector is the name of the connector the broker serves.
func (k *Kafka) Connector() string { return k.conn }

// Topic is the topic's name.
func (k *Kafka) Topic() string { return k.cfg.Topic }

// Partitions is how many partitions the topic has.
func (k *Kafka) Partitions() int { return k.cfg.Partitions }

// End is the offset the next record of partition p will have.
func (k *Kafka) End(p int) int64 { return int64(len(k.logs[p])) }

// Committed is the group's committed offset of partition p.
func (k *Kafka) Committed(p int) int64 { return k.committed[p] }

// Generation is the group's generation; 0 before the first member came.
func (k *Kafka) Generation() int64 { return k.generation }

// Members lists the live members, sorted.
func (k *Kafka) Members() []string { return slices.Sorted(maps.Keys(k.members)) }

// Mode is the mode in force.
func (k *Kafka) Mode() KafkaMode { return k.mode }

// Receive handles a fetch or a commit; other messages are ignored.
func (k *Kafka) Receive(from env.NodeID, m env.Message) {
	if k.mode.Mode == Down {
		return
	}
	switch m := m.(type) {
	case *connector.Fetch:
		k.answer(from, k.fetch(m))
	case *connector.Commit:
		k.answer(from, k.commit(m))
	}
}

func (k *Kafka) answer(to env.NodeID, m env.Message) {
	if k.mode.Mode == Slow {
		k.e.After(k.mode.Delay, delayed{to: to, m: m})
		return
	}
	k.e.Send(to, m)
}

// check refuses a request for another connector, topic or no member.
func (k *Kafka) check(conn string, spec connector.InboundSpec, member string) string {
	if conn != k.conn {
		return fmt.Sprintf("this broker serves connector %q, not %q", k.conn, conn)
	}
	if s, ok := spec.(*connector.KafkaInbound); ok && s.Topic != k.cfg.Topic {
		return fmt.Sprintf("unknown topic %q: this broker has %q", s.Topic, k.cfg.Topic)
	}
	if member == "" {
		return "a request without a member"
	}
	return ""
}

func (k *Kafka) refuse(member string, id uint64, what, why string) {
	k.e.Trace("kafka.refuse", env.Str("connector", k.conn), env.Str("member", member), env.Int("generation", k.generation),
		env.Uint("id", id), env.Str("what", what), env.Str("error", why))
}

func (k *Kafka) fetch(f *connector.Fetch) *connector.Fetched {
	a := &connector.Fetched{ID: f.ID, Connector: f.Connector}
	if why := k.check(f.Connector, f.Spec, f.Member); why != "" {
		k.refuse(f.Member, f.ID, "fetch", why)
		a.Err = why
		return a
	}
	k.touch(f.Member, f.Spec)
	a.Generation = k.generation
	var ranges []string
	for p, m := range k.assign {
		if m != f.Member {
			continue
		}
		from := k.committed[p]
		n := min(int64(len(k.logs[p]))-from, int64(max(f.Max, 0)-len(a.Records)))
		if n <= 0 {
			continue
		}
		a.Records = append(a.Records, k.logs[p][from:from+n]...)
		ranges = append(ranges, fmt.Sprintf("%d:%d-%d", p, from, from+n-1))
	}
	k.e.Trace("kafka.fetch", env.Str("connector", k.conn), env.Str("member", f.Member), env.Int("generation", k.generation),
		env.Uint("id", f.ID), env.Int("records", int64(len(a.Records))), env.Str("ranges", strings.Join(ranges, ",")))
	return a
}

// touch keeps member in the group for another session, and lets it join.
func (k *Kafka) touch(member string, spec connector.InboundSpec) {
	t, known := k.members[member]
	if known {
		k.e.Cancel(t)
	}
	k.members[member] = k.e.After(k.cfg.SessionTimeout, session{member: member})
	if known {
		return
	}
	if !k.started {
		k.started = true
		if s, ok := spec.(*connector.KafkaInbound); ok && s.Start == "latest" {
			for p := range k.committed {
				k.committed[p] = int64(len(k.logs[p]))
			}
		}
	}
	k.rebalance("join")
}

// rebalance starts a new generation with the live members.
func (k *Kafka) rebalance(why string) {
	k.generation++
	members := k.Members()
	var parts []string
	for p := range k.assign {
		k.assign[p] = ""
		if len(members) > 0 {
			k.assign[p] = members[p%len(members)]
			parts = append(parts, strconv.Itoa(p)+":"+k.assign[p])
		}
	}
	k.e.Trace("kafka.rebalance", env.Str("connector", k.conn), env.Int("generation", k.generation),
		env.Str("members", strings.Join(members, ",")), env.Str("assignment", strings.Join(parts, ",")), env.Str("why", why))
}

func (k *Kafka) commit(c *connector.Commit) *connector.Committed {
	a := &connector.Committed{ID: c.ID, Connector: c.Connector}
	why := k.check(c.Connector, c.Spec, c.Member)
	if why == "" {
		why = k.commitRefused(c)
	}
	if why != "" {
		k.refuse(c.Member, c.ID, "commit", why)
		a.Err = why
		return a
	}
	for _, o := range c.Offsets {
		p := o.Partition
		k.e.Trace("kafka.commit", env.Str("connector", k.conn), env.Str("member", c.Member), env.Int("generation", k.generation),
			env.Uint("id", c.ID), env.Int("partition", int64(p)), env.Int("from", k.committed[p]), env.Int("next", o.Next))
		k.committed[p] = o.Next
	}
	return a
}

// commitRefused is why c may not commit, or "".
func (k *Kafka) commitRefused(c *connector.Commit) string {
	if _, ok := k.members[c.Member]; !ok {
		return fmt.Sprintf("member %q is not in the group (generation %d)", c.Member, k.generation)
	}
	if c.Generation != k.generation {
		return fmt.Sprintf("generation %d is stale: the group is at %d (a rebalance)", c.Generation, k.generation)
	}
	for _, o := range c.Offsets {
		p := int(o.Partition)
		switch {
		case o.Topic != k.cfg.Topic:
			return fmt.Sprintf("unknown topic %q", o.Topic)
		case p < 0 || p >= len(k.logs):
			return fmt.Sprintf("partition %d: the topic has %d", p, len(k.logs))
		case k.assign[p] != c.Member:
			return fmt.Sprintf("partition %d is not assigned to member %q in generation %d", p, c.Member, k.generation)
		case o.Next < 0 || o.Next > int64(len(k.logs[p])):
			return fmt.Sprintf("partition %d: offset %d is past its end %d", p, o.Next, len(k.logs[p]))
		}
	}
	return ""
}

// Handle handles produced records, mode changes, forced rebalances,
// expired sessions and slow answers.
func (k *Kafka) Handle(ev env.Event) {
	switch ev := ev.(type) {
	case Produce:
		k.produce(ev.Records)
	case *Produce:
		k.produce(ev.Records)
	case KafkaMode:
		k.post(ev)
	case *KafkaMode:
		k.post(*ev)
	case Rebalance, *Rebalance:
		k.rebalance("forced")
	case session:
		delete(k.members, ev.member)
		k.rebalance("leave")
	case delayed:
		k.e.Send(ev.to, ev.m)
	}
}

func (k *Kafka) produce(recs []KafkaRecord) {
	for _, r := range recs {
		var p int32
		if len(r.Key) > 0 {
			p = KafkaPartition(r.Key, len(k.logs))
		} else {
			p = int32(k.nextPart)
			k.nextPart = (k.nextPart + 1) % len(k.logs)
		}
		off := int64(len(k.logs[p]))
		k.logs[p] = append(k.logs[p], connector.Record{Topic: k.cfg.Topic, Partition: p, Offset: off,
			Key: r.Key, Value: r.Value, Headers: r.Headers})
		sum := sha256.Sum256(r.Value)
		k.e.Trace("kafka.produce", env.Str("connector", k.conn), env.Int("partition", int64(p)), env.Int("offset", off),
			env.Str("key", string(r.Key)), env.Str("value", hex.EncodeToString(sum[:8])),
			env.Str("id", connector.RecordID(k.conn, k.cfg.Topic, p, off)), env.Str("expect", r.Expect))
	}
}

func (k *Kafka) post(m KafkaMode) {
	if err := m.Validate(); err != nil {
		panic(fmt.Sprintf("endpoint %s: posted %v", k.e.ID(), err))
	}
	k.setMode(m)
}

func (k *Kafka) setMode(m KafkaMode) {
	k.mode = m.normal()
	k.e.Trace("kafka.mode", env.Str("connector", k.conn), env.Str("mode", k.mode.Mode), env.Int("delay", int64(k.mode.Delay)))
}
