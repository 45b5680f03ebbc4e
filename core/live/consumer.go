package live

// The Kafka inbound adapter: how a live node's consumers reach Kafka.
//
// Every instance runs a consumer per kafka connector of the pipeline in
// force (core/node, connector.Consumer): it sends *connector.Fetch and
// *connector.Commit to connector.InboundEndpoint(name) and expects
// *connector.Fetched and *connector.Committed back, as the simulator's
// broker answers them (simnet/endpoint/kafka.go). A live node hands them
// to its kafkaConsumers instead of its transport. Per connector there is
// one kafkaConsumer: this instance's member of the connector's consumer
// group, made on the first Fetch, made anew when the connector's
// parameters change (the engine parses a new Spec), and closed when the
// node closes or when the engine has not asked anything for
// consumerIdle (the connector left the pipeline), so that its
// partitions go to the other members.
//
// A kafkaConsumer is kafka-go's ConsumerGroup (membership, heartbeats,
// assignments, commits) with one partition Reader per assigned partition,
// started at the group's committed offset and stopped when the
// generation ends. kafka-go's group Reader (ReaderConfig.GroupID) would
// be the shorter road, but it hides the generation and the assignment
// and commits whatever it is handed in whichever generation is current:
// a batch fetched before a rebalance would then commit a partition that
// has moved to another member, possibly behind what that member has read
// (its committed offset goes back and stays there until new records
// come), and a commit that timed out stays queued inside the Reader and
// lands later. With the generation in hand the adapter answers as the
// simulator's broker does: Fetched carries the generation, and a commit
// of another generation, or of a partition not assigned in it, is
// refused (the records come again, to this member or the next owner, and
// their message ids make them take effect once).
//
// The records a fetch hands out are kept, per partition in offset order,
// until a commit covers them, and every fetch serves them again first: a
// reader's position moves on as it reads, whatever is committed, and the
// engine may have dropped a batch (a timeout, a full queue), so a batch
// that skipped them would let a commit pass records never enqueued. When
// a generation ends the kept records go: in the next one each partition
// is read again from its committed offset, by whichever member has it.
//
// The engine resends a request every second until it has an answer,
// with the same ID: a copy of a request still queued or being served is
// ignored, and it is answered once.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
)

// Limits and timing of the Kafka inbound adapter.
const (
	// fetchWait bounds how long a fetch waits for records: the first
	// one, and then more (fetchLinger apart), all within it. It is well
	// within the consumer's resend interval (one second).
	fetchWait = 500 * time.Millisecond
	// fetchLinger is how long a fetch that has a record waits for the
	// next before it answers with what it has.
	fetchLinger = 5 * time.Millisecond
	// consumerIdle is how long a consumer the engine does not use stays
	// in its group. The engine fetches at least every few seconds (its
	// longest backoff is ten seconds, its timeout ten more); one it has
	// stopped asking has dropped the connector.
	consumerIdle = time.Minute
	// consumerRequests bounds the requests queued for one consumer; a
	// request beyond it is dropped, and the engine sends it again.
	consumerRequests = 16
	// consumerReadAhead bounds the records the partition readers of one
	// consumer have read and no fetch has taken yet.
	consumerReadAhead = 1024
	// kafkaSession: a member that has not sent a heartbeat for this long
	// leaves the group, and its partitions go to the others: a killed
	// instance's partitions wait this long. Kafka's brokers allow 6s at
	// least by default.
	kafkaSession = 10 * time.Second
	// kafkaHeartbeat is how often a member tells the group it lives, and
	// learns of a rebalance.
	kafkaHeartbeat = time.Second
	// kafkaRebalance is how long the group waits for its members to
	// rejoin in a rebalance.
	kafkaRebalance = 10 * time.Second
	// kafkaRequest bounds each request to the group's coordinator (a
	// commit among them) and each dial: an answer comes well within the
	// engine's ten-second timeout.
	kafkaRequest = 5 * time.Second
	// kafkaMaxWait is how long a partition reader's fetch waits at the
	// broker for records: it also bounds how long closing it takes.
	kafkaMaxWait = time.Second
)

// kafkaConsumers are a node's members of its kafka connectors' consumer
// groups, by connector.
type kafkaConsumers struct {
	log *slog.Logger
	// answer hands an answer to the engine, as from the connector's
	// endpoint.
	answer func(from env.NodeID, m env.Message)
	wg     sync.WaitGroup // consumers closing, and answers of no consumer

	mu     sync.Mutex // held briefly: send takes it on the event loop
	closed bool
	byName map[string]*kafkaConsumer
}

func newKafkaConsumers(log *slog.Logger, answer func(env.NodeID, env.Message)) *kafkaConsumers {
	return &kafkaConsumers{log: log, answer: answer, byName: map[string]*kafkaConsumer{}}
}

// send hands a fetch or a commit to the connector's consumer. It runs on
// the event loop, so it never blocks: answers come from other goroutines.
func (cs *kafkaConsumers) send(to env.NodeID, m env.Message) {
	name, _ := connector.IsInboundEndpoint(to)
	var spec connector.InboundSpec
	var conn string
	switch m := m.(type) {
	case *connector.Fetch:
		spec, conn = m.Spec, m.Connector
	case *connector.Commit:
		spec, conn = m.Spec, m.Connector
	default:
		cs.log.Warn("dropped a message to an inbound connector: not a fetch or a commit", "to", string(to), "type", fmt.Sprintf("%T", m))
		return
	}
	k, ok := spec.(*connector.KafkaInbound)
	var refuse string
	switch {
	case conn != name:
		refuse = fmt.Sprintf("sent to %s's endpoint, for connector %q", name, conn)
	case !ok:
		refuse = fmt.Sprintf("connector %s is not a kafka connector (parameters %T): this binary reads no other from its endpoint", name, spec)
	case len(k.Brokers) == 0 || k.Topic == "" || k.Group == "":
		refuse = fmt.Sprintf("connector %s's parameters lack brokers, topic or group", name)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return
	}
	c := cs.byName[name]
	if refuse == "" && (c == nil || c.spec != k) {
		if _, commit := m.(*connector.Commit); commit {
			// Nothing was handed out with these parameters.
			refuse = fmt.Sprintf("connector %s: this instance's member of group %s was closed or replaced since that fetch; the records come again", name, k.Group)
		} else {
			if c != nil {
				cs.retire(c)
			}
			c = newKafkaConsumer(cs, name, k, member(m))
			cs.byName[name] = c
		}
	}
	if refuse != "" {
		cs.wg.Add(1)
		go func() {
			defer cs.wg.Done()
			cs.answer(to, refusal(m, name, refuse))
		}()
		return
	}
	c.take(m)
}

func member(m env.Message) string {
	if f, ok := m.(*connector.Fetch); ok {
		return f.Member
	}
	return ""
}

// refusal is the answer to m that says why.
func refusal(m env.Message, conn, why string) env.Message {
	switch m := m.(type) {
	case *connector.Fetch:
		return &connector.Fetched{ID: m.ID, Connector: conn, Err: why}
	case *connector.Commit:
		return &connector.Committed{ID: m.ID, Connector: conn, Err: why}
	}
	panic(fmt.Sprintf("live: no refusal for %T", m))
}

// retire takes c out of service and closes it in the background. cs.mu
// is held.
func (cs *kafkaConsumers) retire(c *kafkaConsumer) {
	if cs.byName[c.name] == c {
		delete(cs.byName, c.name)
	}
	cs.wg.Add(1)
	go func() {
		defer cs.wg.Done()
		c.close()
	}()
}

// retireIdle retires c if it is still in service and has not been asked
// anything since before; false if it was asked since.
func (cs *kafkaConsumers) retireIdle(c *kafkaConsumer, before time.Time) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed || cs.byName[c.name] != c {
		return true // closing anyway
	}
	if !c.lastUsed().Before(before) {
		return false
	}
	cs.log.Info("closing an idle consumer: its group gets its partitions back", "connector", c.name, "group", c.spec.Group, "idle", consumerIdle)
	cs.retire(c)
	return true
}

// close closes every consumer (their members leave their groups) and
// waits for their goroutines. Later requests are dropped.
func (cs *kafkaConsumers) close() {
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		return
	}
	cs.closed = true
	for _, name := range slices.Sorted(maps.Keys(cs.byName)) {
		cs.retire(cs.byName[name])
	}
	cs.mu.Unlock()
	cs.wg.Wait()
}

// kafkaConsumer is one connector's member of its consumer group.
type kafkaConsumer struct {
	cs     *kafkaConsumers
	name   string
	spec   *connector.KafkaInbound
	log    *slog.Logger
	group  *kafka.ConsumerGroup
	dialer *kafka.Dialer
	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the worker and the generation watcher
	reqs   chan env.Message
	// records are what the partition readers read, with the generation
	// they read it in.
	records chan readRecord

	mu      sync.Mutex
	busy    map[request]bool  // requests queued or being served
	gen     *kafka.Generation // the generation in force; nil before the first and between two
	joinErr error             // why the last attempt to join failed, until one succeeds
	used    time.Time         // when the engine last asked something

	// Owned by the worker.
	keptGen   int32
	kept      map[int32][]connector.Record // handed out, not committed: by partition, in offset order
	committed map[int32]int64              // the next offset of each partition, as committed in keptGen
}

// request names a fetch or a commit: the engine numbers both from one
// counter, but a copy is told apart by its kind too.
type request struct {
	commit bool
	id     uint64
}

type readRecord struct {
	gen int32
	rec connector.Record
}

func newKafkaConsumer(cs *kafkaConsumers, name string, spec *connector.KafkaInbound, member string) *kafkaConsumer {
	ctx, cancel := context.WithCancel(context.Background())
	log := cs.log.With("connector", name, "group", spec.Group, "topic", spec.Topic)
	c := &kafkaConsumer{
		cs: cs, name: name, spec: spec, log: log, ctx: ctx, cancel: cancel,
		dialer:  &kafka.Dialer{Timeout: kafkaRequest, DualStack: true, ClientID: clientID(member)},
		reqs:    make(chan env.Message, consumerRequests),
		records: make(chan readRecord, consumerReadAhead),
		busy:    map[request]bool{}, used: time.Now(),
		kept: map[int32][]connector.Record{}, committed: map[int32]int64{},
	}
	start := kafka.FirstOffset
	if spec.Start == "latest" {
		start = kafka.LastOffset
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: spec.Group, Brokers: spec.Brokers, Topics: []string{spec.Topic}, Dialer: c.dialer,
		HeartbeatInterval: kafkaHeartbeat, SessionTimeout: kafkaSession, RebalanceTimeout: kafkaRebalance,
		Timeout: kafkaRequest, StartOffset: start,
		Logger: kafkaLogger(log, slog.LevelDebug), ErrorLogger: kafkaLogger(log, slog.LevelWarn),
	})
	if err != nil {
		// The config is the engine's parse of the connector, which checked
		// what kafka-go checks: this is a bug.
		panic(fmt.Sprintf("live: consumer group of connector %s: %v", name, err))
	}
	c.group = group
	log.Info("joining the consumer group", "brokers", spec.Brokers, "start", spec.Start)
	c.wg.Add(2)
	go c.follow()
	go c.work()
	return c
}

// clientID names the instance to the brokers, as Kafka's tools show it.
func clientID(member string) string {
	if member == "" {
		return "shoal"
	}
	return "shoal-" + member
}

func kafkaLogger(log *slog.Logger, level slog.Level) kafka.LoggerFunc {
	return func(format string, args ...any) {
		log.Log(context.Background(), level, fmt.Sprintf(format, args...), "component", "kafka-go")
	}
}

// take queues m for the worker, unless a copy of it is queued or being
// served already. It runs on the event loop.
func (c *kafkaConsumer) take(m env.Message) {
	r := requestOf(m)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.used = time.Now()
	if c.busy[r] {
		return
	}
	select {
	case c.reqs <- m:
		c.busy[r] = true
	default:
		c.log.Warn("dropped a request: too many queued", "commit", r.commit, "id", r.id, "limit", consumerRequests)
	}
}

func requestOf(m env.Message) request {
	switch m := m.(type) {
	case *connector.Fetch:
		return request{id: m.ID}
	case *connector.Commit:
		return request{commit: true, id: m.ID}
	}
	panic(fmt.Sprintf("live: %T is no request", m))
}

func (c *kafkaConsumer) lastUsed() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// current is the generation in force (nil if none) and why joining last
// failed.
func (c *kafkaConsumer) current() (*kafka.Generation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.joinErr
}

// follow takes each generation of the group as it comes: it starts a
// reader for each partition assigned, which the generation's end stops.
func (c *kafkaConsumer) follow() {
	defer c.wg.Done()
	for {
		gen, err := c.group.Next(c.ctx)
		if c.ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
			return
		}
		if err != nil {
			c.log.Warn("joining the consumer group failed; kafka-go tries again", "error", err)
			c.mu.Lock()
			c.joinErr = err
			c.mu.Unlock()
			continue
		}
		assigned := gen.Assignments[c.spec.Topic]
		parts := make([]int, len(assigned))
		for i, a := range assigned {
			parts[i] = a.ID
		}
		slices.Sort(parts)
		c.log.Info("a generation of the consumer group", "generation", gen.ID, "member", gen.MemberID, "partitions", parts)
		c.mu.Lock()
		c.gen, c.joinErr = gen, nil
		c.mu.Unlock()
		// Every function a generation starts runs until it ends (when one
		// returns, it ends).
		gen.Start(func(ctx context.Context) {
			<-ctx.Done()
			c.mu.Lock()
			if c.gen == gen {
				c.gen = nil
			}
			c.mu.Unlock()
		})
		for _, a := range assigned {
			gen.Start(func(ctx context.Context) { c.read(ctx, gen.ID, a) })
		}
	}
}

// read reads partition a from its committed offset (or where a new group
// starts) until ctx, the generation's, ends.
func (c *kafkaConsumer) read(ctx context.Context, gen int32, a kafka.PartitionAssignment) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.spec.Brokers, Topic: c.spec.Topic, Partition: a.ID, Dialer: c.dialer,
		MaxWait: kafkaMaxWait, Logger: kafkaLogger(c.log, slog.LevelDebug), ErrorLogger: kafkaLogger(c.log, slog.LevelWarn),
	})
	defer r.Close()
	if err := r.SetOffset(a.Offset); err != nil {
		c.log.Error("a partition reader would not start", "partition", a.ID, "offset", a.Offset, "error", err)
		return
	}
	for {
		m, err := r.FetchMessage(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// kafka-go retries with its own backoff (ReadBackoffMin..Max).
			c.log.Warn("reading a partition", "partition", a.ID, "error", err)
			continue
		}
		select {
		case c.records <- readRecord{gen: gen, rec: kafkaRecord(&m)}:
		case <-ctx.Done():
			return
		}
	}
}

func kafkaRecord(m *kafka.Message) connector.Record {
	r := connector.Record{Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset, Value: m.Value}
	if len(m.Key) > 0 {
		r.Key = m.Key
	}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, connector.Header{Name: h.Key, Value: string(h.Value)})
	}
	return r
}

// work serves the requests one at a time, and retires the consumer once
// the engine stops asking.
func (c *kafkaConsumer) work() {
	defer c.wg.Done()
	idle := time.NewTicker(consumerIdle / 4)
	defer idle.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case m := <-c.reqs:
			var a env.Message
			switch m := m.(type) {
			case *connector.Fetch:
				a = c.fetch(m)
			case *connector.Commit:
				a = c.commit(m)
			}
			c.mu.Lock()
			delete(c.busy, requestOf(m))
			c.mu.Unlock()
			c.cs.answer(connector.InboundEndpoint(c.name), a)
		case now := <-idle.C:
			if c.cs.retireIdle(c, now.Add(-consumerIdle)) {
				return
			}
		}
	}
}

// keep moves the kept records to gen's, dropping those of another
// generation: in gen each partition is read again from its committed
// offset.
func (c *kafkaConsumer) keep(gen *kafka.Generation) {
	if gen.ID == c.keptGen {
		return
	}
	c.keptGen = gen.ID
	clear(c.kept)
	clear(c.committed)
	for _, a := range gen.Assignments[c.spec.Topic] {
		if a.Offset >= 0 {
			c.committed[int32(a.ID)] = a.Offset
		}
	}
}

func (c *kafkaConsumer) keptCount() int {
	n := 0
	for _, rs := range c.kept {
		n += len(rs)
	}
	return n
}

// fetch answers f: the kept records first, then new ones, up to f.Max,
// waiting at most fetchWait, by partition and in offset order.
func (c *kafkaConsumer) fetch(f *connector.Fetch) *connector.Fetched {
	a := &connector.Fetched{ID: f.ID, Connector: c.name}
	gen, joinErr := c.current()
	if gen == nil {
		if joinErr != nil {
			a.Err = fmt.Sprintf("joining consumer group %s: %v", c.spec.Group, joinErr)
		}
		return a // the group is forming: nothing yet
	}
	c.keep(gen)
	limit := max(f.Max, 1)
	n := c.keptCount()
	deadline := time.Now().Add(fetchWait)
	wait := time.Until(deadline)
	if n > 0 {
		wait = 0
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n < limit {
		d, ok := c.next(timer, wait)
		if !ok {
			break
		}
		if d.gen != gen.ID {
			cur, _ := c.current()
			if cur == nil || cur.ID != d.gen {
				continue // read in a generation that is over
			}
			gen = cur
			c.keep(gen)
			n = 0
		}
		p := d.rec.Partition
		c.kept[p] = append(c.kept[p], d.rec)
		n++
		wait = min(fetchLinger, time.Until(deadline))
	}
	a.Generation = int64(gen.ID)
	for _, p := range slices.Sorted(maps.Keys(c.kept)) {
		rs := c.kept[p]
		a.Records = append(a.Records, rs[:min(len(rs), limit-len(a.Records))]...)
		if len(a.Records) == limit {
			break
		}
	}
	return a
}

// next is the next record read, waiting at most wait (not at all if it
// is not positive); false if none came.
func (c *kafkaConsumer) next(timer *time.Timer, wait time.Duration) (readRecord, bool) {
	if wait <= 0 {
		select {
		case d := <-c.records:
			return d, true
		default:
			return readRecord{}, false
		}
	}
	timer.Reset(wait)
	select {
	case d := <-c.records:
		return d, true
	case <-timer.C:
		return readRecord{}, false
	case <-c.ctx.Done():
		return readRecord{}, false
	}
}

// commit answers m: it commits the offsets if they are of the generation
// in force, of partitions assigned in it, and each one just past a record
// handed out (or committed already).
func (c *kafkaConsumer) commit(m *connector.Commit) *connector.Committed {
	a := &connector.Committed{ID: m.ID, Connector: c.name}
	gen, _ := c.current()
	switch {
	case gen == nil:
		a.Err = fmt.Sprintf("generation %d is over: group %s is rebalancing", m.Generation, c.spec.Group)
		return a
	case m.Generation != int64(gen.ID) || c.keptGen != gen.ID:
		a.Err = fmt.Sprintf("generation %d is stale: group %s is at %d (a rebalance)", m.Generation, c.spec.Group, gen.ID)
		return a
	}
	assigned := map[int32]bool{}
	for _, p := range gen.Assignments[c.spec.Topic] {
		assigned[int32(p.ID)] = true
	}
	offsets := map[int]int64{}
	for _, o := range m.Offsets {
		p := o.Partition
		switch {
		case o.Topic != c.spec.Topic:
			a.Err = fmt.Sprintf("unknown topic %q: connector %s reads %q", o.Topic, c.name, c.spec.Topic)
		case !assigned[p]:
			a.Err = fmt.Sprintf("partition %d is not assigned to this member in generation %d", p, gen.ID)
		case o.Next <= c.committed[p]:
			continue // committed already: a copy, or a batch fetched twice
		case !slices.ContainsFunc(c.kept[p], func(r connector.Record) bool { return r.Offset == o.Next-1 }):
			a.Err = fmt.Sprintf("partition %d: offset %d was not handed out in generation %d", p, o.Next-1, gen.ID)
		}
		if a.Err != "" {
			return a
		}
		offsets[int(p)] = o.Next
	}
	if len(offsets) == 0 {
		return a
	}
	if err := gen.CommitOffsets(map[string]map[int]int64{c.spec.Topic: offsets}); err != nil {
		a.Err = fmt.Sprintf("committing to group %s in generation %d: %v", c.spec.Group, gen.ID, err)
		return a
	}
	for p, next := range offsets {
		p := int32(p)
		c.committed[p] = next
		rs := c.kept[p]
		i, _ := slices.BinarySearchFunc(rs, next, func(r connector.Record, next int64) int { return cmp.Compare(r.Offset, next) })
		if i == len(rs) {
			delete(c.kept, p)
		} else {
			c.kept[p] = slices.Delete(rs, 0, i)
		}
	}
	return a
}

// close leaves the group and stops the consumer's goroutines: the
// partition readers with the generation, the worker (a request it is
// serving ends first, within kafkaRequest), the generation watcher.
func (c *kafkaConsumer) close() {
	c.cancel()
	if err := c.group.Close(); err != nil {
		c.log.Warn("leaving the consumer group", "error", err)
	}
	c.wg.Wait()
	c.log.Info("left the consumer group")
}
