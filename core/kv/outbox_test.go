package kv

import (
	"testing"
)

func (q *queue) outbox(o Outbox) Result {
	q.t.Helper()
	o.At = q.at
	return q.do(Command{Op: OpOutbox, Outbox: &o})
}

func (q *queue) waitingFor(dest string) []OutboxEntry {
	q.t.Helper()
	out, err := q.m.Outbox(dest, 0, 100)
	if err != nil {
		q.t.Fatal(err)
	}
	return out
}

func seqsOf(es []OutboxEntry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func TestOutbox(t *testing.T) {
	q := newQueue(t)
	for i, id := range []string{"m1", "m2"} {
		q.enqueue(id, `{}`)
		q.process(ProcessItem{Seq: uint64(i + 1), ID: id, Outbound: []OutboundMessage{
			{Destination: "audit", Key: "orders", Value: []byte(`{"n":1}`)},
			{Destination: "billing", Key: "orders", Value: []byte(`{"n":2}`)},
			{Destination: "audit", Key: "refunds", Value: []byte(`{"n":3}`)},
		}})
	}
	// One sequence across destinations: audit holds 1, 3, 4, 6.
	audit := q.waitingFor("audit")
	want(t, "audit's positions", seqsOf(audit), []uint64{1, 3, 4, 6})
	e := audit[1]
	want(t, "an entry", [5]any{e.Key, e.MessageID, string(e.Value), e.Origin, e.At}, [5]any{"refunds", "m1", `{"n":3}`, uint64(3), q.at - 1e9})
	dests, err := q.m.Destinations()
	if err != nil {
		t.Fatal(err)
	}
	want(t, "destinations", len(dests), 2)
	want(t, "audit", [2]any{dests[0].Destination, dests[0].Depth}, [2]any{"audit", 4})
	want(t, "billing", [2]any{dests[1].Destination, dests[1].Depth}, [2]any{"billing", 2})

	// Delivered positions leave; recording them again changes nothing.
	want(t, "left", q.outbox(Outbox{Destination: "audit", Delivered: []uint64{1, 4}}).Revision, uint64(2))
	want(t, "again", q.outbox(Outbox{Destination: "audit", Delivered: []uint64{1, 4}}).Revision, uint64(0))
	// A position of another destination is not audit's to settle.
	want(t, "billing's position", q.outbox(Outbox{Destination: "audit", Delivered: []uint64{2}}).Revision, uint64(0))
	want(t, "audit after", seqsOf(q.waitingFor("audit")), []uint64{3, 6})

	// A failed message moves to the outbound repair entries.
	q.outbox(Outbox{Destination: "audit", Failed: []OutboxFailure{{Seq: 3, Attempts: 20, Reason: "503 Service Unavailable"}}})
	reps, err := q.m.OutRepairs(0, 10)
	if err != nil || len(reps) != 1 {
		t.Fatalf("repairs: %+v %v", reps, err)
	}
	r := reps[0]
	want(t, "repair entry", [5]any{r.Seq, r.Destination, r.Attempts, r.Reason, r.Origin}, [5]any{uint64(3), "audit", 20, "503 Service Unavailable", uint64(3)})
	st := q.state("")
	want(t, "counters", [2]int{st.Outbound, st.OutRepairs}, [2]int{3, 1})

	// Retried, it goes to the tail with a new position and its origin.
	res := q.do(Command{Op: OpRepair, Repair: &Repair{Action: RepairRetry, Seq: 3, Outbound: true, At: q.at}})
	want(t, "retry", [2]any{res.Status, res.Revision}, [2]any{StatusOK, uint64(7)})
	audit = q.waitingFor("audit")
	want(t, "audit after the retry", seqsOf(audit), []uint64{6, 7})
	want(t, "origin kept", audit[1].Origin, uint64(3))
	res = q.do(Command{Op: OpRepair, Repair: &Repair{Action: RepairPurge, Seq: 3, Outbound: true}})
	want(t, "purged already", res.Status, StatusNotFound)
	want(t, "repairs after", q.state("").OutRepairs, 0)

	// Emptied, a destination is no longer listed.
	q.outbox(Outbox{Destination: "billing", Delivered: []uint64{2, 5}})
	if dests, _ = q.m.Destinations(); len(dests) != 1 || dests[0].Destination != "audit" {
		t.Fatalf("destinations %+v", dests)
	}
}
