package kv

import (
	"bytes"
	"fmt"
	"testing"
)

// queue drives a machine with queue commands, one log index after another.
type queue struct {
	*objects
	at int64
}

func newQueue(t *testing.T) *queue { return &queue{objects: newObjects(t), at: 1_000_000_000} }

func (q *queue) do(c Command) Result {
	q.t.Helper()
	q.index++
	q.seq++
	c.Client, c.Seq = "c", q.seq
	// Every command goes through the log's encoding, as in a cluster.
	dec, err := DecodeCommand(c.Encode())
	if err != nil {
		q.t.Fatalf("%s: %v", c.Op, err)
	}
	r, err := q.m.Apply(q.index, dec)
	if err != nil {
		q.t.Fatal(err)
	}
	return r
}

var testLimits = QueueLimits{MaxMessages: 3, MaxBytes: 1 << 10, Window: 60e9, MaxIDs: 100}

func (q *queue) enqueue(id, payload string) Result {
	q.t.Helper()
	q.at += 1e9
	return q.do(Command{Op: OpEnqueue, Key: id, Enqueue: &Enqueue{
		Message: Message{ID: id, Connector: "http", Headers: []Header{{"A", "1"}, {"B", "2"}}, Payload: []byte(payload)},
		At:      q.at, Limits: testLimits}})
}

func (q *queue) process(items ...ProcessItem) Result {
	q.t.Helper()
	return q.do(Command{Op: OpProcess, Process: &Process{Items: items, At: q.at}})
}

func (q *queue) state(list string) QueueState {
	q.t.Helper()
	st, err := q.m.Queue(list, 0, 0)
	if err != nil {
		q.t.Fatal(err)
	}
	return st
}

func TestQueueEnqueue(t *testing.T) {
	q := newQueue(t)
	want(t, "first", q.enqueue("m1", `{"a":1}`).Revision, uint64(1))
	want(t, "second", q.enqueue("m2", `{"a":2}`).Revision, uint64(2))
	// The same id again, within the window: the first message's position,
	// nothing enqueued.
	r := q.enqueue("m1", `{"a":1}`)
	want(t, "duplicate", [2]any{r.Status, r.Revision}, [2]any{StatusOK, uint64(1)})
	want(t, "depth", q.state("").Depth, 2)
	q.enqueue("m3", `{}`)
	r = q.enqueue("m4", `{}`)
	want(t, "full", r.Status, StatusBusy)
	st := q.state("queue")
	want(t, "state", [4]any{st.Depth, st.Head, st.Tail, len(st.Entries)}, [4]any{3, uint64(1), uint64(3), 3})
	e := st.Entries[0]
	if e.Message.ID != "m1" || string(e.Message.Payload) != `{"a":1}` || e.Seq != 1 || e.At == 0 {
		t.Fatalf("first entry %+v", e)
	}
	if v, ok := e.Message.Header("B"); !ok || v != "2" {
		t.Fatalf("header B: %q %v", v, ok)
	}
	if st.OldestAt != e.At {
		t.Fatalf("oldest at %d, first entry at %d", st.OldestAt, e.At)
	}
}

func TestQueueWindow(t *testing.T) {
	q := newQueue(t)
	q.enqueue("m1", `{}`)
	q.process(ProcessItem{Seq: 1, ID: "m1"})
	q.at += 30e9
	want(t, "inside the window", q.enqueue("m1", `{}`).Revision, uint64(1))
	q.at += 40e9 // 71 s after the first
	want(t, "after the window", q.enqueue("m1", `{}`).Revision, uint64(2))
}

// TestQueueMaxIDs: ids beyond MaxIDs are forgotten oldest first, a few per
// enqueue.
func TestQueueMaxIDs(t *testing.T) {
	q := newQueue(t)
	l := testLimits
	l.MaxIDs, l.MaxMessages = 5, 100
	for i := range 20 {
		q.at += 1e6
		q.do(Command{Op: OpEnqueue, Enqueue: &Enqueue{Message: Message{ID: fmt.Sprint("id", i)}, At: q.at, Limits: l}})
	}
	// Pruned on every pruneEvery-th enqueue: at most that many over.
	if ids := q.m.queue.ids; ids < 5 || ids >= 5+pruneEvery {
		t.Fatalf("%d ids kept, want 5 to %d", ids, 5+pruneEvery-1)
	}
	q.at += 1e6
	r := q.do(Command{Op: OpEnqueue, Enqueue: &Enqueue{Message: Message{ID: "id0"}, At: q.at, Limits: l}})
	want(t, "a forgotten id enqueues again", r.Revision, uint64(21))
}

func TestQueueProcess(t *testing.T) {
	q := newQueue(t)
	q.enqueue("m1", `{"a":1}`)
	q.enqueue("m2", `{"a":2}`)
	q.enqueue("m3", `{"a":3}`)
	// An item behind a waiting message settles nothing (nor what follows).
	r := q.process(ProcessItem{Seq: 2, ID: "m2", Objects: []ObjectWrite{user("u2", "", "")}})
	want(t, "out of order", r.Revision, uint64(0))
	if _, ok := q.get("user", "u2"); ok {
		t.Fatal("an item behind the head stored its object")
	}
	r = q.process(
		ProcessItem{Seq: 1, ID: "m1", Objects: []ObjectWrite{user("u1", "a@x", "g")},
			Outbound: []OutboundMessage{{Destination: "billing", Key: "orders", Value: []byte(`{"a":1}`)}}},
		ProcessItem{Seq: 2, ID: "m2", Failure: &Failure{Key: "orders", Step: 2, Handler: "enrich", Reason: "not found"}},
	)
	want(t, "settled", r.Revision, uint64(2))
	if _, ok := q.get("user", "u1"); !ok {
		t.Fatal("m1's object not stored")
	}
	out, err := q.m.Outbox("billing", 0, 10)
	if err != nil || len(out) != 1 || string(out[0].Value) != `{"a":1}` {
		t.Fatalf("outbound: %+v %v", out, err)
	}
	// The same items again (a new leader's resend) change nothing.
	before, _ := q.m.Digest()
	r = q.process(ProcessItem{Seq: 1, ID: "m1", Objects: []ObjectWrite{user("u1", "b@x", "g")}})
	after, _ := q.m.Digest()
	// Only the applied index moved; the digest covers the data.
	if before != after || r.Revision != 0 {
		t.Fatalf("a resent item changed the state (settled %d)", r.Revision)
	}
	st := q.state("repair")
	want(t, "depths", [3]int{st.Depth, st.Repairs, st.Outbound}, [3]int{1, 1, 1})
	e := st.Entries[0]
	want(t, "repair entry", [4]any{e.Seq, e.Message.ID, e.Attempts, e.Failure.Reason}, [4]any{uint64(2), "m2", 1, "not found"})
	// A unique-index conflict sends the message to repair whole: neither
	// of its objects is stored.
	q.enqueue("m4", `{}`)
	r = q.process(ProcessItem{Seq: 3, ID: "m3", Objects: []ObjectWrite{user("u3", "", ""), user("u4", "a@x", "")}})
	if _, ok := q.get("user", "u3"); ok {
		t.Fatal("half of a conflicting message was stored")
	}
	st = q.state("repair")
	if st.Repairs != 2 || !bytes.Contains([]byte(st.Entries[1].Failure.Reason), []byte(`key held by "u1"`)) {
		t.Fatalf("repair after conflict: %+v", st.Entries)
	}
	// A message that rewrites the holder without the key frees it.
	r = q.process(ProcessItem{Seq: 4, ID: "m4", Objects: []ObjectWrite{user("u1", "new@x", ""), user("u5", "a@x", "")}})
	if _, ok := q.get("user", "u5"); !ok || r.Revision != 1 {
		t.Fatalf("a message moving a unique key between its objects failed: %+v", q.state("repair").Entries)
	}
}

func TestQueueRepair(t *testing.T) {
	q := newQueue(t)
	q.enqueue("m1", `{"bad":1}`)
	q.process(ProcessItem{Seq: 1, ID: "m1", Failure: &Failure{Step: -1, Reason: "no rule matched"}})
	repair := func(a RepairAction, seq uint64, payload string) Result {
		return q.do(Command{Op: OpRepair, Repair: &Repair{Action: a, Seq: seq, Payload: []byte(payload), At: q.at, Limits: testLimits}})
	}
	want(t, "missing", repair(RepairPurge, 9, "").Status, StatusNotFound)
	want(t, "edit", repair(RepairEdit, 1, `{"good":1}`).Status, StatusOK)
	want(t, "edited", string(q.state("repair").Entries[0].Message.Payload), `{"good":1}`)
	r := repair(RepairRetry, 1, "")
	want(t, "retry", [2]any{r.Status, r.Revision}, [2]any{StatusOK, uint64(2)})
	st := q.state("queue")
	want(t, "back in the queue", [4]any{st.Repairs, st.Depth, st.Entries[0].Attempts, string(st.Entries[0].Message.Payload)},
		[4]any{0, 1, 1, `{"good":1}`})
	q.process(ProcessItem{Seq: 2, ID: "m1", Failure: &Failure{Step: 0, Reason: "again"}})
	want(t, "attempts", q.state("repair").Entries[0].Attempts, 2)
	want(t, "purge", repair(RepairPurge, 2, "").Status, StatusOK)
	want(t, "purged", q.state("repair").Repairs, 0)
	// A retry into a full queue is refused and keeps the entry.
	q.enqueue("f1", `{}`)
	q.process(ProcessItem{Seq: 3, ID: "f1", Failure: &Failure{Step: -1, Reason: "x"}})
	q.enqueue("f2", `{}`)
	q.enqueue("f3", `{}`)
	q.enqueue("f4", `{}`)
	want(t, "retry into a full queue", repair(RepairRetry, 3, "").Status, StatusBusy)
	want(t, "entry kept", q.state("repair").Repairs, 1)
}

// TestQueueSnapshot: the queues travel in snapshots, counters included.
func TestQueueSnapshot(t *testing.T) {
	a, b := newObjectPair(t)
	qa := &queue{objects: a, at: 1e9}
	qa.enqueue("m1", `{}`)
	qa.enqueue("m2", `{}`)
	qa.process(ProcessItem{Seq: 1, ID: "m1", Failure: &Failure{Step: -1, Reason: "r"}})
	snap, err := a.m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.m.Restore(snap, a.index); err != nil {
		t.Fatal(err)
	}
	sa, _ := a.m.Queue("repair", 0, 0)
	sb, _ := b.m.Queue("repair", 0, 0)
	want(t, "restored", fmt.Sprint(sb), fmt.Sprint(sa))
	qb := &queue{objects: b, at: 5e9}
	qb.index, qb.seq = a.index, a.seq
	want(t, "next position", qb.enqueue("m3", `{}`).Revision, uint64(3))
	want(t, "duplicate known", qb.enqueue("m2", `{}`).Revision, uint64(2))
}

func TestQueueCommandDecoding(t *testing.T) {
	for _, bad := range []Command{
		{Op: OpEnqueue, Enqueue: &Enqueue{Message: Message{ID: ""}}},
		{Op: OpEnqueue, Enqueue: &Enqueue{Message: Message{ID: "x", Headers: []Header{{"B", ""}, {"A", ""}}}}},
		{Op: OpProcess, Process: &Process{Items: []ProcessItem{{Seq: 1, ID: "x", Objects: []ObjectWrite{user("u", "", "")}, Failure: &Failure{}}}}},
		{Op: OpRepair, Repair: &Repair{Action: 9}},
	} {
		if _, err := DecodeCommand(bad.Encode()); err == nil {
			t.Errorf("%s %+v decoded", bad.Op, bad)
		}
	}
}

func queueCommands() []Command {
	return []Command{
		{Client: "c", Seq: 1, Op: OpEnqueue, Key: "m1", Enqueue: &Enqueue{Message: Message{ID: "m1", Connector: "http",
			Headers: []Header{{"A", "1"}}, Payload: []byte(`{"a":1}`)}, At: 5, Limits: testLimits, Attempts: 1}},
		{Op: OpProcess, Process: &Process{At: -3, Items: []ProcessItem{{Seq: 1, ID: "m1", Objects: []ObjectWrite{user("u", "e", "g")},
			Outbound: []OutboundMessage{{Destination: "d", Key: "k", Value: []byte("{}")}}}, {Seq: 2, ID: "m2", Failure: &Failure{Step: -1, Reason: "r"}}}}},
		{Client: "op", Seq: 2, Op: OpRepair, Repair: &Repair{Action: RepairEdit, Seq: 4, Payload: []byte("{}"), At: 1, Limits: testLimits}},
	}
}
