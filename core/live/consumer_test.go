package live

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
)

// ordersPartitions is how many partitions the consumer tests' topic has.
const ordersPartitions = 4

// testKafka is an in-process Kafka of one broker with the topic "orders"
// of four partitions, and a client's transport to it.
type testKafka struct {
	brokers []string
	tr      *kafka.Transport
}

func ordersCluster(t *testing.T) *testKafka {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(ordersPartitions, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	k := &testKafka{brokers: c.ListenAddrs(), tr: &kafka.Transport{}}
	t.Cleanup(func() {
		k.tr.CloseIdleConnections()
		c.Close()
	})
	return k
}

// produce writes records first..first+n-1 to orders: key "kI", value
// {"n":I}, header X-N: I.
func (k *testKafka) produce(t *testing.T, first, n int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(k.brokers...), Topic: "orders", Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll, Transport: k.tr}
	defer w.Close()
	var msgs []kafka.Message
	for i := first; i < first+n; i++ {
		msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, `{"n":%d}`, i),
			Headers: []kafka.Header{{Key: "X-N", Value: fmt.Append(nil, i)}}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// ends is the next offset of each partition of orders.
func (k *testKafka) ends(t *testing.T) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	out := make([]int64, ordersPartitions)
	for p := range out {
		conn, err := kafka.DialLeader(ctx, "tcp", k.brokers[0], "orders", p)
		if err != nil {
			t.Fatal(err)
		}
		out[p], err = conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// committed is group's committed offset of each partition of
// orders (-1: none).
func (k *testKafka) committed(t *testing.T, group string) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(k.brokers...), Transport: k.tr}
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{"orders": {0, 1, 2, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	out := []int64{-1, -1, -1, -1}
	for _, p := range resp.Topics["orders"] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// clients lists the client IDs of group's members.
func (k *testKafka) clients(t *testing.T, group string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(k.brokers...), Transport: k.tr}
	resp, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range resp.Groups {
		for _, m := range g.Members {
			out = append(out, m.ClientID)
		}
	}
	slices.Sort(out)
	return out
}

// until retries f until it holds or guard passes.
func until(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, guard, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testMember is one instance's kafkaConsumers, driven as the engine
// drives them.
type testMember struct {
	*kafkaConsumers
	name    string
	spec    *connector.KafkaInbound
	answers chan env.Message
	id      uint64
}

func newTestMember(t *testing.T, name string, spec *connector.KafkaInbound) *testMember {
	t.Helper()
	m := &testMember{name: name, spec: spec, answers: make(chan env.Message, 64)}
	m.kafkaConsumers = newKafkaConsumers(slog.New(slog.DiscardHandler), func(from env.NodeID, a env.Message) {
		if from != connector.InboundEndpoint("orders") {
			panic(fmt.Sprintf("an answer from %s", from))
		}
		m.answers <- a
	})
	t.Cleanup(m.close)
	return m
}

// await returns the answer with id.
func (m *testMember) await(t *testing.T, id uint64) env.Message {
	t.Helper()
	for {
		select {
		case a := <-m.answers:
			switch a := a.(type) {
			case *connector.Fetched:
				if a.ID == id {
					return a
				}
			case *connector.Committed:
				if a.ID == id {
					return a
				}
			}
		case <-time.After(guard):
			t.Fatalf("%s: no answer to request %d", m.name, id)
			return nil
		}
	}
}

func (m *testMember) fetch(t *testing.T, limit int) *connector.Fetched {
	t.Helper()
	m.id++
	m.send(connector.InboundEndpoint("orders"), &connector.Fetch{ID: m.id, Connector: "orders", Spec: m.spec, Member: m.name, Max: limit})
	return m.await(t, m.id).(*connector.Fetched)
}

func (m *testMember) commit(t *testing.T, gen int64, offsets ...connector.Offset) *connector.Committed {
	t.Helper()
	m.id++
	m.send(connector.InboundEndpoint("orders"), &connector.Commit{ID: m.id, Connector: "orders", Spec: m.spec, Member: m.name, Generation: gen, Offsets: offsets})
	return m.await(t, m.id).(*connector.Committed)
}

// batchOffsets are the offsets a consumer commits for a batch: one past
// the last record of each partition.
func batchOffsets(recs []connector.Record) []connector.Offset {
	var out []connector.Offset
	for _, r := range recs {
		i := slices.IndexFunc(out, func(o connector.Offset) bool { return o.Partition == r.Partition })
		if i < 0 {
			out = append(out, connector.Offset{Topic: r.Topic, Partition: r.Partition, Next: r.Offset + 1})
		} else {
			out[i].Next = max(out[i].Next, r.Offset+1)
		}
	}
	return out
}

// checkBatch checks the records of a fetch: by partition, in offset
// order, each as produced.
func checkBatch(t *testing.T, recs []connector.Record) {
	t.Helper()
	for i, r := range recs {
		if i > 0 {
			if q := recs[i-1]; q.Partition > r.Partition || (q.Partition == r.Partition && q.Offset >= r.Offset) {
				t.Errorf("record %d/%d follows %d/%d", r.Partition, r.Offset, q.Partition, q.Offset)
			}
		}
		var n int
		if _, err := fmt.Sscanf(string(r.Key), "k%d", &n); err != nil || r.Topic != "orders" ||
			string(r.Value) != fmt.Sprintf(`{"n":%d}`, n) || len(r.Headers) != 1 || r.Headers[0] != (connector.Header{Name: "X-N", Value: fmt.Sprint(n)}) {
			t.Errorf("record %d/%d: %+v", r.Partition, r.Offset, r)
		}
	}
}

func recordIDs(recs []connector.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%d/%d", r.Partition, r.Offset))
	}
	return out
}

// TestKafkaConsumerFetchesAndCommits: a fetch serves the records of
// every partition; a batch not committed is served again first; a
// commit moves the group's offsets, and is refused for another
// generation, a partition not assigned or an offset not handed out.
func TestKafkaConsumerFetchesAndCommits(t *testing.T) {
	noLeaks(t)
	k := ordersCluster(t)
	spec := &connector.KafkaInbound{Brokers: k.brokers, Topic: "orders", Group: "shoal-orders", MaxBatch: 100, Start: "earliest"}
	m := newTestMember(t, "n1", spec)
	k.produce(t, 0, 40)

	// The group forms, the readers read: every fetch serves again what
	// the ones before handed out, and more, until all 40 are there.
	var first *connector.Fetched
	until(t, "all 40 records in one fetch", func() error {
		first = m.fetch(t, 100)
		if first.Err != "" || len(first.Records) != 40 {
			return fmt.Errorf("%d records, error %q", len(first.Records), first.Err)
		}
		return nil
	})
	checkBatch(t, first.Records)
	if first.Generation <= 0 {
		t.Errorf("generation %d", first.Generation)
	}
	// Dropped by the engine, the batch comes again, at once.
	start := time.Now()
	again := m.fetch(t, 100)
	if !slices.Equal(recordIDs(again.Records), recordIDs(first.Records)) || again.Generation != first.Generation {
		t.Errorf("served again: %v in %d, want %v in %d", recordIDs(again.Records), again.Generation, recordIDs(first.Records), first.Generation)
	}
	if d := time.Since(start); d >= fetchWait {
		t.Errorf("a fetch with kept records took %v", d)
	}
	if small := m.fetch(t, 3); !slices.Equal(recordIDs(small.Records), recordIDs(first.Records)[:3]) {
		t.Errorf("Max 3: %v", recordIDs(small.Records))
	}

	offsets := batchOffsets(first.Records)
	for _, tc := range []struct {
		name    string
		gen     int64
		offsets []connector.Offset
		want    string
	}{
		{"another generation", first.Generation + 1, offsets, "is stale"},
		{"a partition not assigned", first.Generation, []connector.Offset{{Topic: "orders", Partition: 9, Next: 1}}, "partition 9 is not assigned"},
		{"an offset not handed out", first.Generation, []connector.Offset{{Topic: "orders", Partition: offsets[0].Partition, Next: offsets[0].Next + 5}}, "was not handed out"},
		{"another topic", first.Generation, []connector.Offset{{Topic: "invoices", Partition: 0, Next: 1}}, `unknown topic "invoices"`},
	} {
		if a := m.commit(t, tc.gen, tc.offsets...); !strings.Contains(a.Err, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, a.Err, tc.want)
		}
	}
	if got := k.committed(t, spec.Group); !slices.Equal(got, []int64{-1, -1, -1, -1}) {
		t.Errorf("refused commits committed %v", got)
	}
	if a := m.commit(t, first.Generation, offsets...); a.Err != "" {
		t.Fatalf("commit: %s", a.Err)
	}
	ends := k.ends(t)
	if got := k.committed(t, spec.Group); !slices.Equal(got, ends) {
		t.Errorf("committed %v, want the ends %v", got, ends)
	}
	// The same offsets again (a batch fetched twice) change nothing.
	if a := m.commit(t, first.Generation, offsets...); a.Err != "" {
		t.Errorf("the same commit again: %s", a.Err)
	}
	if a := m.fetch(t, 100); len(a.Records) != 0 || a.Err != "" {
		t.Errorf("after the commit: %v %q", recordIDs(a.Records), a.Err)
	}
	k.produce(t, 40, 4)
	var next *connector.Fetched
	until(t, "the 4 new records", func() error {
		next = m.fetch(t, 100)
		if len(next.Records) != 4 {
			return fmt.Errorf("%v", recordIDs(next.Records))
		}
		return nil
	})
	checkBatch(t, next.Records)
	for _, r := range next.Records {
		if r.Offset < ends[r.Partition] {
			t.Errorf("record %d/%d again after its commit", r.Partition, r.Offset)
		}
	}
}

// engineLoop drives m as the engine's consumer does until stop: fetch,
// enqueue (into got), commit, again. It returns the records it enqueued
// and how many commits were refused.
func engineLoop(t *testing.T, m *testMember, stop <-chan struct{}) (got map[string]int, refused int) {
	got = map[string]int{}
	for {
		select {
		case <-stop:
			return got, refused
		default:
		}
		f := m.fetch(t, 50)
		if f.Err != "" || len(f.Records) == 0 {
			continue
		}
		for _, r := range f.Records {
			got[fmt.Sprintf("%d/%d", r.Partition, r.Offset)]++
		}
		if a := m.commit(t, f.Generation, batchOffsets(f.Records)...); a.Err != "" {
			refused++
		}
	}
}

// TestKafkaConsumerRebalance: a second member joins while the first
// holds a batch it has not committed; the first's commit of the old
// generation is refused, the partitions are shared, and every record is
// enqueued (once or more) while the group's offsets reach the end of
// every partition.
func TestKafkaConsumerRebalance(t *testing.T) {
	noLeaks(t)
	k := ordersCluster(t)
	spec := &connector.KafkaInbound{Brokers: k.brokers, Topic: "orders", Group: "shoal-orders", MaxBatch: 50, Start: "earliest"}
	n1 := newTestMember(t, "n1", spec)
	n2 := newTestMember(t, "n2", spec)
	k.produce(t, 0, 200)

	var held *connector.Fetched
	until(t, "n1 holding records of every partition", func() error {
		held = n1.fetch(t, 200)
		if ps := len(batchOffsets(held.Records)); ps != ordersPartitions {
			return fmt.Errorf("records of %d partitions", ps)
		}
		return nil
	})
	// n2 joins; n1 learns of the rebalance at its next heartbeat.
	until(t, "n2 in the group", func() error {
		if f := n2.fetch(t, 50); f.Generation <= held.Generation || len(f.Records) == 0 {
			return fmt.Errorf("generation %d, %d records", f.Generation, len(f.Records))
		}
		return nil
	})
	if a := n1.commit(t, held.Generation, batchOffsets(held.Records)...); !strings.Contains(a.Err, "stale") && !strings.Contains(a.Err, "is over") {
		t.Errorf("n1's commit of generation %d: %q, want it refused", held.Generation, a.Err)
	}
	if clients := k.clients(t, spec.Group); !slices.Equal(clients, []string{"shoal-n1", "shoal-n2"}) {
		t.Errorf("the group's clients: %v", clients)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]map[string]int, 2)
	for i, m := range []*testMember{n1, n2} {
		wg.Go(func() { results[i], _ = engineLoop(t, m, stop) })
	}
	k.produce(t, 200, 200)
	ends := k.ends(t)
	until(t, "the group's offsets at the end of every partition", func() error {
		if got := k.committed(t, spec.Group); !slices.Equal(got, ends) {
			return fmt.Errorf("committed %v, ends %v", got, ends)
		}
		return nil
	})
	close(stop)
	wg.Wait()

	all := map[string]int{}
	for _, r := range held.Records {
		all[fmt.Sprintf("%d/%d", r.Partition, r.Offset)]++
	}
	for i, got := range results {
		if len(got) == 0 {
			t.Errorf("n%d enqueued nothing", i+1)
		}
		for id, k := range got {
			all[id] += k
		}
	}
	var missing []string
	for p, end := range ends {
		for o := range end {
			if all[fmt.Sprintf("%d/%d", p, o)] == 0 {
				missing = append(missing, fmt.Sprintf("%d/%d", p, o))
			}
		}
	}
	if len(missing) > 0 || len(all) != 400 {
		t.Errorf("%d records enqueued, want 400; missing %v", len(all), missing)
	}
	again := 0
	for _, k := range all {
		again += k - 1
	}
	t.Logf("records enqueued more than once (n1's batch, read again after the rebalance): %d", again)
}

// TestKafkaConsumerLifecycle: new parameters replace the member (a
// commit of the old ones is refused), a copy of a request being served
// is answered once, and closing leaves the group.
func TestKafkaConsumerLifecycle(t *testing.T) {
	noLeaks(t)
	k := ordersCluster(t)
	v1 := &connector.KafkaInbound{Brokers: k.brokers, Topic: "orders", Group: "g", MaxBatch: 100, Start: "earliest"}
	m := newTestMember(t, "n1", v1)
	k.produce(t, 0, 8)
	var f *connector.Fetched
	until(t, "the 8 records", func() error {
		if f = m.fetch(t, 100); len(f.Records) != 8 {
			return fmt.Errorf("%d records", len(f.Records))
		}
		return nil
	})
	if got := k.clients(t, "g"); !slices.Equal(got, []string{"shoal-n1"}) {
		t.Errorf("the group's clients: %v", got)
	}

	// Copies of a fetch: one answer while it is served.
	m.id++
	fetch := &connector.Fetch{ID: m.id, Connector: "orders", Spec: v1, Member: "n1", Max: 100}
	for range 3 {
		m.send(connector.InboundEndpoint("orders"), fetch)
	}
	m.await(t, fetch.ID)
	select {
	case a := <-m.answers:
		t.Errorf("a second answer: %+v", a)
	case <-time.After(2 * fetchWait):
	}

	// Another connector's request, a connector of another type.
	m.send(connector.InboundEndpoint("orders"), &connector.Fetch{ID: 100, Connector: "other", Spec: v1, Member: "n1", Max: 1})
	if a := m.await(t, 100).(*connector.Fetched); !strings.Contains(a.Err, `for connector "other"`) {
		t.Errorf("another connector's fetch: %q", a.Err)
	}
	m.send(connector.InboundEndpoint("orders"), &connector.Fetch{ID: 101, Connector: "orders", Spec: &connector.HTTPInbound{}, Member: "n1", Max: 1})
	if a := m.await(t, 101).(*connector.Fetched); !strings.Contains(a.Err, "not a kafka connector") {
		t.Errorf("an http connector's fetch: %q", a.Err)
	}

	// New parameters: the old member leaves, the new one reads from the
	// start (nothing was committed).
	v2 := &connector.KafkaInbound{Brokers: k.brokers, Topic: "orders", Group: "g", MaxBatch: 100, Start: "earliest"}
	m.spec = v2
	until(t, "the 8 records through the new member", func() error {
		if g := m.fetch(t, 100); len(g.Records) != 8 {
			return fmt.Errorf("%d records", len(g.Records))
		}
		return nil
	})
	m.spec = v1
	if a := m.commit(t, f.Generation, batchOffsets(f.Records)...); !strings.Contains(a.Err, "closed or replaced") {
		t.Errorf("a commit of the old member's batch: %q", a.Err)
	}
	m.close()
	if got := k.clients(t, "g"); len(got) != 0 {
		t.Errorf("after close, the group's clients: %v", got)
	}
	// Requests after close are dropped.
	m.send(connector.InboundEndpoint("orders"), fetch)
}

// TestNodeRoutesFetchesToConsumers: an instance's engine reaches an
// inbound connector's endpoint through its consumers, not its peers;
// closing the instance leaves the group.
func TestNodeRoutesFetchesToConsumers(t *testing.T) {
	noLeaks(t)
	k := ordersCluster(t)
	n, err := Open(Config{Name: "n1", DataDir: filepath.Join(t.TempDir(), "n1"), PeerAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	spec := &connector.KafkaInbound{Brokers: k.brokers, Topic: "orders", Group: "g", MaxBatch: 100, Start: "earliest"}
	n.post(func() {
		envOf{n}.Send(connector.InboundEndpoint("orders"), &connector.Fetch{ID: 1, Connector: "orders", Spec: spec, Member: "n1", Max: 10})
	})
	until(t, "n1 in the group", func() error {
		if got := k.clients(t, "g"); !slices.Equal(got, []string{"shoal-n1"}) {
			return fmt.Errorf("clients %v", got)
		}
		return nil
	})
	n.Close()
	if got := k.clients(t, "g"); len(got) != 0 {
		t.Errorf("after close, the group's clients: %v", got)
	}
}
