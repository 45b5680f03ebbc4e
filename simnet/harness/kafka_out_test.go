package harness

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/endpoint"
)

// kafkaSink declares the example pipeline's test-sink as a kafka
// destination producing to topic test-echo, which retries for longer
// than the test's outage, and its other destinations as webhooks.
const kafkaSink = `
connectors:
  outbound:
    test-sink:
      type: kafka
      brokers: ["kafka-1:9092"]
      topic: test-echo
      timeout: 1s
      backoff_max: 2s
      max_attempts: 1000
    billing: {type: webhook, url: "http://billing.example/hook"}
    warehouse: {type: webhook, url: "http://warehouse.example/hook"}
`

// TestOutboundKafkaTopic: test traffic for 8 customers, 6 messages each,
// goes to test-sink keyed by customer id. test-sink is a kafka
// destination whose topic refuses every record (NOT_ENOUGH_REPLICAS) for
// 7s, then answers later than the destination's 1s timeout for 4s (the
// records are appended, the pushes time out and are sent again, so the
// topic holds duplicates), then is up. Every message reaches the topic;
// each customer's records (the order key is the record's key) sit in the
// one partition its key hashes to, the first copies in the order of
// their positions, each with its Idempotency-Key; the outbound check
// holds; and the run replays exactly.
func TestOutboundKafkaTopic(t *testing.T) {
	a, b := kafkaOutRun(t, 5), kafkaOutRun(t, 5)
	if a != b {
		t.Fatalf("two runs of seed 5 differ: %x, %x", a[:8], b[:8])
	}
}

// kafkaOutRun runs TestOutboundKafkaTopic's scenario with seed, checks
// it, and returns its trace's hash.
func kafkaOutRun(t *testing.T, seed uint64) [32]byte {
	const (
		customers = 8
		each      = 6
		topic     = "test-echo"
	)
	topo, m := examplePipeline(t)
	// Test traffic goes out keyed by customer, not all under the chain's
	// routing key, so that the topic has keys to partition by.
	const step, keyed = "- outbound: test-sink\n", "- outbound: {destination: test-sink, key: $.customer.id}\n"
	if bytes.Count(topo.Pipeline, []byte(step)) != 1 {
		t.Fatalf("the example pipeline has no single %q", step)
	}
	topo.Pipeline = bytes.Replace(topo.Pipeline, []byte(step), []byte(keyed), 1)
	topo.Pipeline = append(topo.Pipeline, kafkaSink...)
	topo.Instances = 3
	topo.Endpoints = []string{"test-sink"}
	w, c := start(t, seed, topo, node.Config{})
	var ops []client.Op
	for i := range customers * each {
		op := crmCustomer(t, m, fmt.Sprintf("t%d", i%customers), false)
		op.Label = ""
		op.Message.ID = fmt.Sprintf("msg-%d", i) // one customer, several messages
		op.Message.Headers = append(op.Message.Headers, kv.Header{Name: "X-Test", Value: "1"})
		ops = append(ops, op)
	}
	var st client.Stats
	if _, err := c.AddClients(1, client.Config{Target: "random", Interval: 150 * time.Millisecond, Stats: &st, Delay: 2 * time.Second},
		func(int) client.Workload { return &client.List{Ops: ops} }); err != nil {
		t.Fatal(err)
	}
	sink := connector.Endpoint("test-sink")
	mode := func(at time.Duration, m endpoint.SetMode) {
		w.At(at, func() {
			if err := c.SetEndpointMode(sink, m); err != nil {
				t.Error(err)
			}
		})
	}
	mode(3*time.Second, endpoint.SetMode{Mode: endpoint.Fail})
	mode(10*time.Second, endpoint.SetMode{Mode: endpoint.Slow, Delay: 1500 * time.Millisecond})
	mode(14*time.Second, endpoint.SetMode{Mode: endpoint.Up})
	runUntil(t, w, 40*time.Second)
	if st.OK != len(ops) {
		t.Fatalf("seed %d: %d of %d enqueues ok (%d failed, %d unknown)", seed, st.OK, len(ops), st.Fail, st.Info)
	}
	recs := records(t, w)
	if res := checker.Outbound(recs, outboundFinals(t, c)); res.Verdict != checker.Valid {
		t.Fatalf("seed %d: outbound: %s: %s", seed, res.Verdict, res.Explanation)
	}

	ep := c.Endpoint(sink)
	if ep == nil {
		t.Fatalf("seed %d: test-sink is not running", seed)
	}
	parts := ep.Topic(topic)
	if len(parts) != endpoint.DefaultPartitions {
		t.Fatalf("seed %d: topic %s has %d partitions, want %d", seed, topic, len(parts), endpoint.DefaultPartitions)
	}
	// Where the trace says each item went: its record's position, and
	// what the engine pushed.
	type receipt struct {
		idem, order string
		seq         uint64
		dup         bool
	}
	at := map[[2]int64]receipt{}
	refused := 0
	for i := range recs {
		r := &recs[i]
		if r.Node != sink {
			continue
		}
		switch r.Kind {
		case "endpoint.refuse":
			if reason, _ := r.Str("reason"); reason != endpoint.DefaultKafkaReason {
				t.Fatalf("seed %d: an item refused with %q, want %q", seed, reason, endpoint.DefaultKafkaReason)
			}
			refused++
		case "endpoint.receive":
			tp, _ := r.Str("topic")
			p, _ := r.Int("partition")
			o, _ := r.Int("offset")
			if tp != topic {
				t.Fatalf("seed %d: an item went to topic %q", seed, tp)
			}
			idem, _ := r.Str("key")
			order, _ := r.Str("order")
			seq, _ := r.Uint("seq")
			dup, _ := r.Int("dup")
			at[[2]int64{p, o}] = receipt{idem: idem, order: order, seq: seq, dup: dup != 0}
		}
	}
	if refused == 0 {
		t.Fatalf("seed %d: the topic refused nothing: the outage did not happen", seed)
	}

	partOf := map[string]int{}  // order key → its records' partition
	last := map[string]uint64{} // order key → the last position appended as new
	idems := map[string]bool{}  // the idempotency keys in the topic
	perKey := map[string]int{}  // order key → records appended as new
	used := map[int]bool{}      // partitions holding records
	total, dups := 0, 0
	for p, log := range parts {
		for o, r := range log {
			total++
			used[p] = true
			rc, ok := at[[2]int64{int64(p), int64(o)}]
			if !ok {
				t.Fatalf("seed %d: record %d:%d is in the topic, not in the trace", seed, p, o)
			}
			var idem string
			for _, h := range r.Headers {
				if h.Name == "Idempotency-Key" {
					idem = h.Value
				}
			}
			if idem == "" || idem != rc.idem {
				t.Fatalf("seed %d: record %d:%d has Idempotency-Key %q, the trace says %q", seed, p, o, idem, rc.idem)
			}
			if string(r.Key) != rc.order {
				t.Fatalf("seed %d: record %d:%d has key %q, the order key is %q", seed, p, o, r.Key, rc.order)
			}
			if q, seen := partOf[rc.order]; seen && q != p {
				t.Fatalf("seed %d: order key %q has records in partitions %d and %d", seed, rc.order, q, p)
			}
			partOf[rc.order] = p
			if want := int(endpoint.KafkaPartition(r.Key, len(parts))); p != want {
				t.Fatalf("seed %d: record %d:%d of key %q is not in its partition %d", seed, p, o, r.Key, want)
			}
			idems[idem] = true
			if rc.dup {
				dups++
				continue
			}
			if rc.seq <= last[rc.order] {
				t.Fatalf("seed %d: record %d:%d of key %q is position %d, after %d", seed, p, o, rc.order, rc.seq, last[rc.order])
			}
			last[rc.order] = rc.seq
			perKey[rc.order]++
		}
	}
	if total != len(at) {
		t.Fatalf("seed %d: the topic holds %d records, the trace took %d", seed, total, len(at))
	}
	if len(idems) != len(ops) {
		t.Fatalf("seed %d: %d of %d messages reached the topic", seed, len(idems), len(ops))
	}
	if len(perKey) != customers {
		t.Fatalf("seed %d: %d order keys in the topic, want %d", seed, len(perKey), customers)
	}
	for k, n := range perKey {
		if n != each {
			t.Fatalf("seed %d: order key %q has %d records, want %d", seed, k, n, each)
		}
	}
	if len(used) < 2 {
		t.Fatalf("seed %d: every record is in one partition: the test shows nothing of the keys", seed)
	}
	if dups == 0 {
		t.Fatalf("seed %d: no record appended twice: the slow spell did not time a push out", seed)
	}
	t.Logf("seed %d: %d records (%d duplicates) in partitions %v, %d refusals", seed, total, dups, sizes(parts), refused)
	h := w.TraceHash()
	w.Close()
	return h
}

// sizes lists how many records each partition holds.
func sizes(parts [][]connector.Record) []int {
	var out []int
	for _, p := range parts {
		out = append(out, len(p))
	}
	return out
}
