package harness

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet/client"
)

// crmCustomer is a message from the example pipeline's crm connector that
// becomes Customer id; bad, it carries a creation time that is no
// timestamp and goes to the repair queue.
func crmCustomer(t testing.TB, m *model.Model, id string, bad bool) client.Op {
	created := "2026-01-02T03:04:05Z"
	label := "Customer/" + id
	if bad {
		created, label = "yesterday", ""
	}
	payload := fmt.Sprintf(`{"customer": {"id": %q, "name": "Ada %s", "email": "%s@example.com"}, "created_at": %q, "debug": {"x": 1}}`,
		id, id, id, created)
	typ, _ := m.Type("Customer")
	pk, err := typ.SetKey(model.Object{}, id)
	if err != nil {
		t.Fatal(err)
	}
	route, err := typ.RouteKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	return client.Op{F: kv.OpEnqueue, Key: route, Label: label, Message: &kv.Message{ID: "msg-" + id, Connector: "crm",
		Headers: []kv.Header{{Name: "X-Kind", Value: "customer"}}, Payload: []byte(payload)}}
}

// customerID is the id of the Customer with primary key pk.
func customerID(m *model.Model, pk string) string {
	typ, _ := m.Type("Customer")
	return typ.KeyString(pk)
}

func examplePipeline(t testing.TB) (Topology, *model.Model) {
	src := exampleModel(t, "model.yaml")
	m, err := model.Parse("model.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	return Topology{Model: src, Pipeline: exampleModel(t, "pipeline.yaml")}, m
}

// queueOf reads replicaset rs's queues on instance name.
func queueOf(t testing.TB, c *Cluster, name env.NodeID, rs, list string) kv.QueueState {
	t.Helper()
	st, err := c.Node(name).Queue(rs, list)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestIngestStoresAndRepairs: messages enqueued through any instance are
// stored as the pipeline says on every replica, once, a message sent
// twice included; those that fail go to the repair queue with the reason.
func TestIngestStoresAndRepairs(t *testing.T) {
	topo, m := examplePipeline(t)
	topo.Instances, topo.ReplicationFactor = 6, 3
	w, c := start(t, 3, topo, node.Config{})
	var ops []client.Op
	good := map[string]bool{}
	for i := range 60 {
		id := fmt.Sprintf("c%d", i)
		ops = append(ops, crmCustomer(t, m, id, i%10 == 9))
		if i%10 != 9 {
			good[id] = true
		}
	}
	ops = append(ops, ops[3], ops[9]) // sent again: not stored or repaired twice
	var st client.Stats
	if _, err := c.AddClients(1, client.Config{Target: "random", Interval: 5 * time.Millisecond, Stats: &st, Delay: 2 * time.Second},
		func(int) client.Workload { return &client.List{Ops: ops} }); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 8*time.Second)
	if st.OK != len(ops) {
		t.Fatalf("%d of %d enqueues ok (%d failed, %d unknown)", st.OK, len(ops), st.Fail, st.Info)
	}
	conf := c.Bootstrap()
	for _, in := range conf.Instances {
		stored := map[string]bool{}
		for _, rs := range c.Replicasets() {
			if in.Replicaset != rs {
				continue
			}
			objs, err := c.Node(in.Name).StoredObjects(rs, "Customer")
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				id := customerID(m, o.PK)
				stored[id] = true
				if o.Version != 2 || !strings.Contains(string(o.Value), `"first_name":"Ada"`) || strings.Contains(string(o.Value), "debug") {
					t.Errorf("%s: Customer %s stored as version %d: %s", in.Name, id, o.Version, o.Value)
				}
				hist, err := c.Node(in.Name).ObjectHistory(rs, "Customer", o.PK)
				if err != nil || len(hist) != 0 {
					t.Errorf("%s: Customer %s written %d times (%v)", in.Name, id, len(hist)+1, err)
				}
			}
			q := queueOf(t, c, in.Name, rs, "repair")
			if q.Depth != 0 {
				t.Errorf("%s: %d messages still wait in %s", in.Name, q.Depth, rs)
			}
			for _, e := range q.Entries {
				if !strings.Contains(e.Failure.Reason, "created") || e.Attempts != 1 || good[strings.TrimPrefix(e.Message.ID, "msg-")] {
					t.Errorf("%s: repair entry %s: %+v", in.Name, e.Message.ID, e.Failure)
				}
			}
			if got := int(q.Settled) - q.Repairs; got != len(stored) {
				t.Errorf("%s: %s settled %d messages and repaired %d, and stores %d customers", in.Name, rs, q.Settled, q.Repairs, len(stored))
			}
			for id := range good {
				if rsOf(c, m, id) == rs && !stored[id] {
					t.Errorf("%s: customer %s not stored", in.Name, id)
				}
			}
		}
	}
	total := 0
	for _, rs := range c.Replicasets() {
		q := queueOf(t, c, c.Members(rs)[0], rs, "repair")
		total += q.Repairs
		for _, name := range c.Members(rs) {
			objs, _ := c.Node(name).StoredObjects(rs, "Customer")
			if name == c.Members(rs)[0] {
				total += len(objs)
			}
		}
	}
	if total != 60 {
		t.Fatalf("%d customers stored or repaired, want 60", total)
	}
}

// rsOf is the replicaset that keeps Customer id.
func rsOf(c *Cluster, m *model.Model, id string) string {
	typ, _ := m.Type("Customer")
	pk, _ := typ.SetKey(model.Object{}, id)
	route, _ := typ.RouteKey(pk)
	conf := c.Bootstrap()
	return conf.Buckets[kv.Bucket(route, len(conf.Buckets))]
}

// TestIngestBackpressure: a full queue refuses messages (busy, nothing
// enqueued) until a pipeline drains it.
func TestIngestBackpressure(t *testing.T) {
	topo, m := examplePipeline(t)
	topo.Pipeline = nil // messages wait
	topo.Instances = 3
	topo.Settings = map[string]string{"queue.max_messages": "5"}
	w, c := start(t, 4, topo, node.Config{})
	var ops []client.Op
	for i := range 8 {
		ops = append(ops, crmCustomer(t, m, fmt.Sprint("c", i), false))
	}
	var st client.Stats
	if _, err := c.AddClients(1, client.Config{Target: "leader", Interval: 20 * time.Millisecond, Stats: &st, Delay: 2 * time.Second},
		func(int) client.Workload { return &client.List{Ops: ops} }); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 4*time.Second)
	if st.OK != 5 || st.Fail != 3 {
		t.Fatalf("%d ok, %d failed, %d unknown; want 5 enqueued and 3 refused", st.OK, st.Fail, st.Info)
	}
	busy := 0
	for _, r := range records(t, w) {
		if note, _ := r.Str("note"); r.Kind == "client.fail" && strings.HasPrefix(note, "busy: the inbound queue is full") {
			busy++
		}
	}
	if busy != 3 {
		t.Fatalf("%d refusals said busy, want 3", busy)
	}
	if q := queueOf(t, c, "n1", "rs1", ""); q.Depth != 5 {
		t.Fatalf("depth %d, want 5", q.Depth)
	}
	c.Propose("n1", "config", "pipe", cluster.SetPipeline(exampleModel(t, "pipeline.yaml")).Encode(), 5*time.Second)
	runUntil(t, w, 6*time.Second)
	for _, name := range c.Names {
		if q := queueOf(t, c, name, "rs1", ""); q.Depth != 0 || q.Settled != 5 {
			t.Errorf("%s: depth %d, settled %d after the pipeline came; want 0 and 5", name, q.Depth, q.Settled)
		}
		objs, _ := c.Node(name).StoredObjects("rs1", "Customer")
		if len(objs) != 5 {
			t.Errorf("%s: %d customers stored, want 5", name, len(objs))
		}
	}
}

// TestIngestLeaderKilled: killing the leader while it settles the queue
// loses no acknowledged message and applies none twice.
func TestIngestLeaderKilled(t *testing.T) {
	topo, m := examplePipeline(t)
	topo.Instances = 3
	w, c := start(t, 5, topo, node.Config{})
	var ops []client.Op
	for i := range 200 {
		ops = append(ops, crmCustomer(t, m, fmt.Sprint("c", i), false))
	}
	var st client.Stats
	if _, err := c.AddClients(2, client.Config{Target: "leader", Interval: 10 * time.Millisecond, Stats: &st, Delay: 2 * time.Second,
		Timeout: 3 * time.Second}, func(i int) client.Workload { return &client.List{Ops: ops[i*100 : i*100+100]} }); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 2500*time.Millisecond)
	leader, ok := c.Leader("rs1")
	if !ok {
		t.Fatal("no leader of rs1")
	}
	w.Kill(leader)
	runUntil(t, w, 4*time.Second)
	w.Restart(leader)
	runUntil(t, w, 12*time.Second)
	if st.OK == 0 || st.OK+st.Fail+st.Info != 200 {
		t.Fatalf("%d ok, %d failed, %d unknown", st.OK, st.Fail, st.Info)
	}
	acked := map[string]bool{}
	for _, r := range records(t, w) {
		if f, _ := r.Str("f"); r.Kind == "client.ok" && f == "enqueue" {
			id, _ := r.Str("key")
			acked[strings.TrimPrefix(id, "msg-")] = true
		}
	}
	for _, name := range c.Names {
		objs, err := c.Node(name).StoredObjects("rs1", "Customer")
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]bool{}
		for _, o := range objs {
			hist, _ := c.Node(name).ObjectHistory("rs1", "Customer", o.PK)
			if len(hist) != 0 {
				t.Errorf("%s: %q written %d times", name, o.PK, len(hist)+1)
			}
			stored[customerID(m, o.PK)] = true
		}
		for id := range acked {
			if !stored[id] {
				t.Errorf("%s: acknowledged message %s was not stored", name, id)
			}
		}
		if len(stored) > 200 || len(stored) < len(acked) {
			t.Errorf("%s: %d stored, %d acknowledged", name, len(stored), len(acked))
		}
	}
}

// TestIngestResendWhileFull: a message sent again while the queue is full
// gets its first position, not busy.
func TestIngestResendWhileFull(t *testing.T) {
	topo, m := examplePipeline(t)
	topo.Pipeline = nil // messages wait
	topo.Instances = 3
	topo.Settings = map[string]string{"queue.max_messages": "2"}
	w, c := start(t, 6, topo, node.Config{})
	ops := []client.Op{crmCustomer(t, m, "a", false), crmCustomer(t, m, "b", false), crmCustomer(t, m, "c", false), crmCustomer(t, m, "a", false)}
	var st client.Stats
	if _, err := c.AddClients(1, client.Config{Target: "leader", Interval: 20 * time.Millisecond, Stats: &st, Delay: 2 * time.Second},
		func(int) client.Workload { return &client.List{Ops: ops} }); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 4*time.Second)
	var got []string
	for _, r := range records(t, w) {
		if f, _ := r.Str("f"); f == "enqueue" && r.Kind != "client.invoke" {
			id, _ := r.Str("key")
			pos, _ := r.Int("position")
			got = append(got, fmt.Sprintf("%s %s %d", strings.TrimPrefix(r.Kind, "client."), id, pos))
		}
	}
	want := []string{"ok msg-a 1", "ok msg-b 2", "fail msg-c 0", "ok msg-a 1"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("got %v, want %v", got, want)
	}
}
