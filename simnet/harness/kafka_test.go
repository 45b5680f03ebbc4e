package harness

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/endpoint"
)

// kafkaConnectors declares the example pipeline's crm connector as a
// kafka consumer, and its destinations (which every connectors section
// must declare) as webhooks nobody simulates: customers send nothing
// outbound.
const kafkaConnectors = `
connectors:
  inbound:
    crm: {type: kafka, brokers: ["kafka-1:9092"], topic: crm-customers, max_batch: 8}
  outbound:
    test-sink: {type: webhook, url: "http://sink.example/hook"}
    billing: {type: webhook, url: "http://billing.example/hook"}
    warehouse: {type: webhook, url: "http://warehouse.example/hook"}
`

// kafkaRun is what one run of TestKafkaIngest saw.
type kafkaRun struct {
	hash     [32]byte
	produced int
	killed   bool          // n2 was killed in the middle of a batch
	killedAt time.Duration // when
	stored   map[env.NodeID]int
	dups     int // records enqueued by more than one request
	refused  int // commits the broker refused
}

// runKafka runs the scenario of TestKafkaIngest with seed, on network
// (nil: clean 1ms links), in a World of its own, closed before it
// returns.
func runKafka(t *testing.T, seed uint64, network *simnet.LinkConfig) kafkaRun {
	t.Helper()
	topo, m := examplePipeline(t)
	topo.Pipeline = append(topo.Pipeline, kafkaConnectors...)
	topo.Instances = 3
	topo.Brokers = []string{"crm"}
	w, err := simnet.New(simnet.Config{Seed: seed, KeepTrace: true, Network: network})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c, err := Start(w, topo, node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	run := kafkaRun{stored: map[env.NodeID]int{}}
	// A customer a record, every 40ms from 2s to 14s, keyed by the
	// customer's routing key.
	ids := map[string]string{} // record id → customer id
	for i := range 300 {
		id := fmt.Sprintf("k%d", i)
		op := crmCustomer(t, m, id, false)
		rec := endpoint.KafkaRecord{Key: []byte(op.Key), Value: op.Message.Payload, Headers: []connector.Header{{Name: "X-Kind", Value: "customer"}}}
		w.At(2*time.Second+time.Duration(i)*40*time.Millisecond, func() {
			if err := c.Produce("crm", rec); err != nil {
				t.Error(err)
			}
		})
		ids[id] = id
	}
	run.produced = len(ids)
	w.At(5*time.Second, func() {
		if err := c.Rebalance("crm"); err != nil {
			t.Error(err)
		}
	})
	// n2 is killed in the middle of a batch (its enqueues out, not all
	// answered: a batch's enqueues go together, and so do their
	// answers), and restarted 4s later: meanwhile its session ends, and
	// n1 and n3 take its partitions over.
	var watch func()
	watch = func() {
		if w.Now() > 10*time.Second {
			return
		}
		if n := c.Node("n2"); n != nil {
			if st, ok := n.Consumer("crm"); ok && st.Phase == "enqueuing" && st.InFlight > 0 {
				w.Kill("n2")
				run.killed, run.killedAt = true, w.Now()
				w.After(4*time.Second, func() { w.Restart("n2") })
				return
			}
		}
		w.After(time.Millisecond, watch)
	}
	w.At(7*time.Second, watch)
	// n3 is cut off from its peers, not from the broker, for 3s.
	w.At(11*time.Second, func() {
		for _, peer := range []env.NodeID{"n1", "n2"} {
			w.Cut("n3", peer)
			w.Cut(peer, "n3")
		}
	})
	w.At(14*time.Second, func() {
		for _, peer := range []env.NodeID{"n1", "n2"} {
			w.Uncut("n3", peer)
			w.Uncut(peer, "n3")
		}
	})
	runUntil(t, w, 40*time.Second)

	k := c.Broker("crm")
	for p := range k.Partitions() {
		if k.Committed(p) != k.End(p) {
			t.Errorf("partition %d: committed %d of %d records", p, k.Committed(p), k.End(p))
		}
	}
	for _, name := range c.Names {
		objs, err := c.Node(name).StoredObjects("rs1", "Customer")
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, o := range objs {
			id := customerID(m, o.PK)
			if ids[id] == "" || seen[id] {
				t.Errorf("%s: Customer %s stored, not produced once", name, id)
			}
			seen[id] = true
			if hist, err := c.Node(name).ObjectHistory("rs1", "Customer", o.PK); err != nil || len(hist) != 0 {
				t.Errorf("%s: Customer %s written %d times (%v)", name, id, len(hist)+1, err)
			}
		}
		run.stored[name] = len(seen)
		if len(seen) != len(ids) {
			t.Errorf("%s: %d of %d customers stored", name, len(seen), len(ids))
		}
		if q := queueOf(t, c, name, "rs1", ""); q.Depth != 0 || q.Repairs != 0 {
			t.Errorf("%s: %d messages wait, %d in repair", name, q.Depth, q.Repairs)
		}
	}
	run.dups, run.refused = checkKafkaCommits(t, records(t, w))
	run.hash = w.TraceHash()
	return run
}

// checkKafkaCommits checks in the trace that every offset the broker
// committed is of a record whose message the queue had acknowledged
// before; it returns how many records were enqueued by more than one
// request, and how many commits the broker refused.
func checkKafkaCommits(t *testing.T, recs []env.Record) (dups, refused int) {
	t.Helper()
	type req struct {
		client string
		seq    int64
	}
	idOf := map[req]string{}
	requests := map[string]map[req]bool{}
	acked := map[string]bool{}
	commits := 0
	for _, r := range recs {
		client, _ := r.Str("client")
		seq, _ := r.Int("seq")
		switch r.Kind {
		case "kv.request":
			if op, _ := r.Str("op"); op == "enqueue" {
				id, _ := r.Str("id")
				idOf[req{client, seq}] = id
				if requests[id] == nil {
					requests[id] = map[req]bool{}
				}
				requests[id][req{client, seq}] = true
			}
		case "kv.response":
			if st, _ := r.Str("status"); st == "ok" {
				if id, ok := idOf[req{client, seq}]; ok {
					acked[id] = true
				}
			}
		case "kafka.commit":
			commits++
			p, _ := r.Int("partition")
			next, _ := r.Int("next")
			for off := range next {
				if id := connector.RecordID("crm", "crm-customers", int32(p), off); !acked[id] {
					t.Errorf("%d: the broker committed partition %d up to %d, and %s was never acknowledged", r.Time, p, next, id)
					return
				}
			}
		case "kafka.refuse":
			if what, _ := r.Str("what"); what == "commit" {
				refused++
			}
		}
	}
	if commits == 0 {
		t.Error("the broker committed nothing")
	}
	for _, rs := range requests {
		if len(rs) > 1 {
			dups++
		}
	}
	return dups, refused
}

// TestKafkaIngest: a kafka connector feeds the example pipeline from a
// simulated broker through a forced rebalance, a consumer killed in the
// middle of a batch and restarted, and an instance cut off from its
// peers: every record's Customer is stored exactly once on every
// instance, every offset committed was acknowledged first, and the same
// seed gives the same trace.
func TestKafkaIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("a 40s simulation, twice")
	}
	first := runKafka(t, 11, nil)
	if !first.killed {
		t.Fatal("n2 was never caught in the middle of a batch")
	}
	t.Logf("%d records; n2 killed at %s; %d records enqueued more than once; %d commits refused; stored %v",
		first.produced, first.killedAt, first.dups, first.refused, first.stored)
	if t.Failed() {
		return
	}
	second := runKafka(t, 11, nil)
	if first.hash != second.hash {
		t.Fatalf("two runs of seed 11: trace hashes %x and %x", first.hash, second.hash)
	}
}

// TestKafkaIngestLossy: the same over links that lose, duplicate and
// reorder messages: lost fetches and commits are sent again, lost
// enqueues retried, and still every record takes effect once.
func TestKafkaIngestLossy(t *testing.T) {
	if testing.Short() {
		t.Skip("a 40s simulation")
	}
	lossy := &simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Uniform, Min: time.Millisecond, Max: 8 * time.Millisecond},
		Loss: 0.03, Duplicate: 0.02, Reorder: true}
	run := runKafka(t, 5, lossy)
	t.Logf("n2 killed at %s (in a batch: %v); %d records enqueued more than once; %d commits refused", run.killedAt, run.killed,
		run.dups, run.refused)
}
