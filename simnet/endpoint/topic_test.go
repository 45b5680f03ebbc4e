package endpoint_test

import (
	"cmp"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/simnet/endpoint"
)

// topicName is the topic of kafkaSpec.
const topicName = "orders"

// kafkaSpec is a kafka destination producing to topic orders.
var kafkaSpec = &connector.KafkaOutbound{Brokers: []string{"kafka-1:9092"}, Topic: topicName}

// rec is an item of a kafka push: the record's key ("" none) and the
// idempotency key.
type rec struct{ key, idem string }

// pushKafka has p1 push items to hook as a kafka destination now. An
// item's order key is its record key, its value "value-IDEM", and its
// headers Idempotency-Key and X-Source.
func (f *fixture) pushKafka(items ...rec) *connector.Push {
	f.id++
	p := &connector.Push{ID: f.id, Replicaset: "rs1", Destination: dest, Spec: kafkaSpec}
	for i, it := range items {
		var key []byte
		if it.key != "" {
			key = []byte(it.key)
		}
		p.Items = append(p.Items, connector.Item{Seq: f.id*100 + uint64(i), IdempotencyKey: it.idem, OrderKey: it.key,
			Request: connector.Request{Key: key, Body: []byte("value-" + it.idem),
				Headers: []connector.Header{{Name: "Idempotency-Key", Value: it.idem}, {Name: "X-Source", Value: "test"}}}})
	}
	f.w.Post(pusher, sendPush{to: hook, p: p})
	return p
}

// idem is a record's Idempotency-Key header.
func idem(r connector.Record) string {
	for _, h := range r.Headers {
		if h.Name == "Idempotency-Key" {
			return h.Value
		}
	}
	return ""
}

// layout shows a topic as "IDEM@PARTITION:OFFSET" per record, partition
// by partition.
func layout(parts [][]connector.Record) string {
	var out []string
	for p, recs := range parts {
		for o, r := range recs {
			out = append(out, fmt.Sprintf("%s@%d:%d", idem(r), p, o))
		}
	}
	return strings.Join(out, " ")
}

// receipts shows the endpoint.receive events in the order taken, as
// "IDEM:DUP@PARTITION:OFFSET".
func receipts(f *fixture) []string {
	var out []string
	for _, e := range f.events("endpoint.receive") {
		out = append(out, fmt.Sprintf("%s:%d@%d:%d", str(e, "key"), num(e, "dup"), num(e, "partition"), num(e, "offset")))
	}
	return out
}

// checkTopic requires that the endpoint's topic holds exactly the records
// its endpoint.receive events name, each where it says it is and each
// the request taken.
func checkTopic(t *testing.T, f *fixture) {
	t.Helper()
	parts := f.ep.Topic(topicName)
	recv := f.events("endpoint.receive")
	total := 0
	for p, recs := range parts {
		for o, r := range recs {
			if r.Topic != topicName || int(r.Partition) != p || int(r.Offset) != o {
				t.Fatalf("record %s at %d:%d says topic %s, %d:%d", idem(r), p, o, r.Topic, r.Partition, r.Offset)
			}
		}
		total += len(recs)
	}
	if total != len(recv) {
		t.Fatalf("topic holds %d records, %d taken", total, len(recv))
	}
	for _, e := range recv {
		p, o := num(e, "partition"), num(e, "offset")
		if str(e, "topic") != topicName || p < 0 || int(p) >= len(parts) || o < 0 || int(o) >= len(parts[p]) {
			t.Fatalf("endpoint.receive %v names no record of the topic", e)
		}
		r := parts[p][o]
		if idem(r) != str(e, "key") || string(r.Key) != str(e, "order") || string(r.Value) != "value-"+str(e, "key") {
			t.Fatalf("endpoint.receive %v names record %+v", e, r)
		}
		if len(r.Headers) != 2 || r.Headers[1] != (connector.Header{Name: "X-Source", Value: "test"}) {
			t.Fatalf("record %s has headers %v", idem(r), r.Headers)
		}
	}
}

func TestKafkaAppendsByKey(t *testing.T) {
	for _, tc := range []struct {
		name       string
		partitions int // Config.Partitions
		want       int // partitions of the topic
	}{
		{"default", 0, endpoint.DefaultPartitions},
		{"three", 3, 3},
		{"one", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 1, endpoint.Config{Partitions: tc.partitions})
			keys := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
			for round := range 3 {
				var items []rec
				for _, k := range keys {
					items = append(items, rec{k, fmt.Sprintf("%s-%d", k, round)})
				}
				f.pushKafka(items...)
				f.run(10 * time.Millisecond)
			}
			if f.ep.Partitions() != tc.want {
				t.Fatalf("Partitions() = %d, want %d", f.ep.Partitions(), tc.want)
			}
			parts := f.ep.Topic(topicName)
			if len(parts) != tc.want {
				t.Fatalf("topic has %d partitions, want %d", len(parts), tc.want)
			}
			checkTopic(t, f)
			// Every key's records sit in its partition, in the order taken.
			used := map[int32]bool{}
			for _, k := range keys {
				p := endpoint.KafkaPartition([]byte(k), tc.want)
				used[p] = true
				var got []string
				for _, r := range parts[p] {
					if string(r.Key) == k {
						got = append(got, idem(r))
					}
				}
				if want := fmt.Sprintf("%s-0 %s-1 %s-2", k, k, k); strings.Join(got, " ") != want {
					t.Errorf("partition %d holds %q of key %s, want %q", p, got, k, want)
				}
			}
			if tc.want > 1 && len(used) < 2 {
				t.Fatalf("the keys all go to one partition of %d: the test shows nothing", tc.want)
			}
		})
	}
}

func TestKafkaKeylessRoundRobin(t *testing.T) {
	f := newFixture(t, 1, endpoint.Config{Partitions: 3})
	f.pushKafka(rec{"", "k0"}, rec{"", "k1"}, rec{"x", "x0"}, rec{"", "k2"})
	f.pushKafka(rec{"", "k3"}, rec{"", "k4"})
	f.run(10 * time.Millisecond)
	// The keyless records go round the partitions; x goes to its key's
	// partition and does not move the turn.
	px := endpoint.KafkaPartition([]byte("x"), 3)
	ends := map[int32]int{}
	var want []string
	for i, p := range []int32{0, 1, px, 2, 0, 1} {
		want = append(want, fmt.Sprintf("%s:0@%d:%d", []string{"k0", "k1", "x0", "k2", "k3", "k4"}[i], p, ends[p]))
		ends[p]++
	}
	if got := receipts(f); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("records taken at %q, want %q", got, want)
	}
	checkTopic(t, f)
}

func TestKafkaFailReason(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   endpoint.SetMode
		kafka  bool
		reason string
	}{
		{"kafka default", endpoint.SetMode{Mode: endpoint.Fail}, true, endpoint.DefaultKafkaReason},
		{"kafka named", endpoint.SetMode{Mode: endpoint.Fail, Reason: "REQUEST_TIMED_OUT"}, true, "REQUEST_TIMED_OUT"},
		{"webhook default", endpoint.SetMode{Mode: endpoint.Fail}, false, endpoint.DefaultReason},
		{"webhook named", endpoint.SetMode{Mode: endpoint.Fail, Reason: "502 Bad Gateway"}, false, "502 Bad Gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 1, endpoint.Config{Initial: tc.mode})
			if tc.kafka {
				f.pushKafka(rec{"a", "a1"}, rec{"", "b1"})
			} else {
				f.push("a1", "b1")
			}
			f.run(10 * time.Millisecond)
			if len(f.got) != 1 || strings.Join(errs(f.got[0]), ",") != tc.reason+","+tc.reason {
				t.Fatalf("answers %v, want both refused with %q", f.got, tc.reason)
			}
			ref := f.events("endpoint.refuse")
			if len(ref) != 2 {
				t.Fatalf("%d endpoint.refuse events, want 2", len(ref))
			}
			for _, e := range ref {
				if str(e, "reason") != tc.reason {
					t.Errorf("endpoint.refuse reason %q, want %q", str(e, "reason"), tc.reason)
				}
			}
			if parts := f.ep.Topic(topicName); parts != nil {
				t.Fatalf("refused items were appended: %s", layout(parts))
			}
			// The mode's trace does not know the destination's type.
			if m := f.events("endpoint.mode"); str(m[0], "reason") != cmp.Or(tc.mode.Reason, endpoint.DefaultReason) {
				t.Errorf("endpoint.mode reason %q", str(m[0], "reason"))
			}

			// Up again, the item is taken, and the only one appended.
			f.w.Post(hook, endpoint.SetMode{})
			if tc.kafka {
				f.pushKafka(rec{"a", "a1"})
			} else {
				f.push("a1")
			}
			f.run(10 * time.Millisecond)
			if len(f.got) != 2 || errs(f.got[1])[0] != "" {
				t.Fatalf("after up: answers %v, want a1 taken", f.got)
			}
			if tc.kafka {
				checkTopic(t, f)
			}
		})
	}
}

func TestKafkaSlowAppendsAtOnce(t *testing.T) {
	f := newFixture(t, 1, endpoint.Config{Initial: endpoint.SetMode{Mode: endpoint.Slow, Delay: 50 * time.Millisecond}})
	f.pushKafka(rec{"a", "a1"})
	f.run(10 * time.Millisecond)
	if len(f.got) != 0 {
		t.Fatalf("slow endpoint answered within 10ms: %v", f.got)
	}
	p := endpoint.KafkaPartition([]byte("a"), endpoint.DefaultPartitions)
	if got, want := layout(f.ep.Topic(topicName)), fmt.Sprintf("a1@%d:0", p); got != want {
		t.Fatalf("topic %q before the answer, want %q", got, want)
	}
	if recv := f.events("endpoint.receive"); len(recv) != 1 || recv[0].Time != int64(time.Millisecond) {
		t.Fatalf("endpoint.receive %v, want a1 appended on arrival at 1ms", recv)
	}
	checkTopic(t, f)
	f.run(100 * time.Millisecond)
	if len(f.got) != 1 || f.got[0].at != 52*time.Millisecond || errs(f.got[0])[0] != "" {
		t.Fatalf("answers %v, want a1 taken, answered at 52ms", f.got)
	}
}

func TestKafkaAppendsDuplicates(t *testing.T) {
	if endpoint.KafkaPartition([]byte("b"), 2) != 1 {
		t.Fatal("the test expects key b in partition 1 of 2")
	}
	f := newFixture(t, 1, endpoint.Config{Partitions: 2})
	f.pushKafka(rec{"b", "b1"}, rec{"", "n1"})
	f.pushKafka(rec{"b", "b1"}, rec{"", "n1"}) // the answer was lost: sent again
	f.run(10 * time.Millisecond)
	// Both copies of each are appended, the second marked a duplicate: b1
	// twice in partition 1, n1 in partition 0, then in 1 at its turn.
	want := "b1:0@1:0 n1:0@0:0 b1:1@1:1 n1:1@1:2"
	if got := strings.Join(receipts(f), " "); got != want {
		t.Fatalf("receives %q, want %q", got, want)
	}
	checkTopic(t, f)
}

func TestKafkaTopicLostOnKill(t *testing.T) {
	f := newFixture(t, 1, endpoint.Config{})
	f.pushKafka(rec{"a", "a1"})
	f.run(10 * time.Millisecond)
	f.w.Kill(hook)
	f.w.Restart(hook)
	if parts := f.ep.Topic(topicName); parts != nil {
		t.Fatalf("a restarted endpoint kept its topic: %s", layout(parts))
	}
	f.pushKafka(rec{"a", "a2"})
	f.run(10 * time.Millisecond)
	p := endpoint.KafkaPartition([]byte("a"), endpoint.DefaultPartitions)
	if got, want := layout(f.ep.Topic(topicName)), fmt.Sprintf("a2@%d:0", p); got != want {
		t.Fatalf("topic %q after the restart, want %q", got, want)
	}
	if f.ep.Topic("other") != nil {
		t.Fatal("a topic nothing was produced to is not nil")
	}
}

// TestWebhookTraceUnchanged: a webhook's items leave no topic, and their
// endpoint.receive has exactly the fields it always had, in order.
func TestWebhookTraceUnchanged(t *testing.T) {
	f := newFixture(t, 1, endpoint.Config{})
	f.w.Post(pusher, sendPush{to: hook, p: &connector.Push{ID: 1, Replicaset: "rs1", Destination: dest,
		Spec: &connector.Webhook{}, Items: []connector.Item{{Seq: 1, IdempotencyKey: "a1", OrderKey: "a",
			Request: connector.Request{Key: []byte("a"), Body: []byte("x")}}}}})
	f.push("b1")
	f.run(10 * time.Millisecond)
	recv := f.events("endpoint.receive")
	if len(recv) != 2 {
		t.Fatalf("%d endpoint.receive events, want 2", len(recv))
	}
	for _, e := range recv {
		var keys []string
		for _, fl := range e.Fields {
			keys = append(keys, fl.Key)
		}
		if got, want := strings.Join(keys, ","), "destination,key,order,seq,replicaset,dup,body,from,push"; got != want {
			t.Errorf("endpoint.receive of %s has fields %s, want %s", str(e, "key"), got, want)
		}
	}
	if f.ep.Topic(topicName) != nil || f.ep.Topic("") != nil {
		t.Fatal("a webhook's items were appended to a topic")
	}
}
