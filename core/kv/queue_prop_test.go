package kv

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// queueModel is what a Machine's queues should hold, written for maps:
// the waiting messages in order, the repair entries, the ids remembered
// (with their positions and times), and the counters.
type queueModel struct {
	tail     uint64
	waiting  []Queued
	repairs  map[uint64]RepairEntry
	ids      map[string][2]int64 // id → position, at
	settled  uint64
	outbound int
}

func newQueueModel() *queueModel {
	return &queueModel{repairs: map[uint64]RepairEntry{}, ids: map[string][2]int64{}}
}

func (q *queueModel) head() uint64 { return q.tail + 1 - uint64(len(q.waiting)) }

func (q *queueModel) bytes() uint64 {
	n := uint64(0)
	for _, m := range q.waiting {
		n += uint64(len(m.Message.Payload))
	}
	return n
}

func (q *queueModel) room(msg *Message, l QueueLimits) bool {
	if l.MaxMessages > 0 && len(q.waiting) >= l.MaxMessages {
		return false
	}
	return l.MaxBytes <= 0 || len(q.waiting) == 0 || q.bytes()+uint64(len(msg.Payload)) <= uint64(l.MaxBytes)
}

func (q *queueModel) push(m Queued) uint64 {
	q.tail++
	m.Seq = q.tail
	q.waiting = append(q.waiting, m)
	return q.tail
}

// enqueue is applyEnqueue for the model: the window, the limits, and the
// pruning of the oldest ids every pruneEvery-th position.
func (q *queueModel) enqueue(e *Enqueue) Result {
	if rec, ok := q.ids[e.Message.ID]; ok {
		if !expired(rec[1], e.At, e.Limits.Window) {
			return Result{Status: StatusOK, Revision: uint64(rec[0])}
		}
		delete(q.ids, e.Message.ID)
	}
	if !q.room(&e.Message, e.Limits) {
		return Result{Status: StatusBusy}
	}
	seq := q.push(Queued{Message: e.Message, At: e.At, Attempts: e.Attempts})
	q.ids[e.Message.ID] = [2]int64{int64(seq), e.At}
	if q.tail%pruneEvery == 0 {
		type rec struct {
			id      string
			seq, at int64
		}
		var all []rec
		for id, r := range q.ids {
			all = append(all, rec{id, r[0], r[1]})
		}
		slices.SortFunc(all, func(a, b rec) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.seq, b.seq)) })
		over := 0
		if e.Limits.MaxIDs > 0 && len(all) > e.Limits.MaxIDs {
			over = min(len(all)-e.Limits.MaxIDs, pruneLimit)
		}
		for i, r := range all {
			if i >= pruneLimit || i >= over && !expired(r.at, e.At, e.Limits.Window) {
				break
			}
			delete(q.ids, r.id)
		}
	}
	return Result{Status: StatusOK, Revision: seq}
}

// process is applyProcess for the model (its items carry no objects, so
// no unique index can turn one into a failure).
func (q *queueModel) process(p *Process) Result {
	res := Result{Status: StatusOK}
	for _, it := range p.Items {
		if it.Seq > q.head() || it.Seq > q.tail {
			break
		}
		if it.Seq < q.head() {
			continue
		}
		m := q.waiting[0]
		q.waiting = q.waiting[1:]
		q.settled++
		res.Revision++
		if it.Failure != nil {
			m.Attempts++
			q.repairs[m.Seq] = RepairEntry{Queued: m, Failure: *it.Failure, FailedAt: p.At}
			continue
		}
		q.outbound += len(it.Outbound)
	}
	return res
}

func (q *queueModel) repair(r *Repair) Result {
	e, ok := q.repairs[r.Seq]
	if !ok {
		return Result{Status: StatusNotFound}
	}
	res := Result{Status: StatusOK}
	switch r.Action {
	case RepairPurge:
		delete(q.repairs, r.Seq)
	case RepairEdit:
		e.Message.Payload = r.Payload
		q.repairs[r.Seq] = e
	case RepairRetry:
		if !q.room(&e.Message, r.Limits) {
			return Result{Status: StatusBusy}
		}
		delete(q.repairs, r.Seq)
		res.Revision = q.push(Queued{Message: e.Message, At: r.At, Attempts: e.Attempts})
	}
	return res
}

// sameQueues fails unless m's queues are the model's.
func sameQueues(t *rapid.T, what string, m *Machine, want *queueModel) {
	t.Helper()
	wait, err := m.Queue("queue", 0, MaxQueuePage)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.Queue("repair", 0, MaxQueuePage)
	if err != nil {
		t.Fatal(err)
	}
	if wait.Depth != len(want.waiting) || wait.Tail != want.tail || wait.Head != want.head() || wait.Settled != want.settled ||
		wait.Repairs != len(want.repairs) || wait.Outbound != want.outbound || wait.Bytes != int64(want.bytes()) {
		t.Fatalf("%s: counters %+v, want depth %d tail %d head %d settled %d repairs %d outbound %d bytes %d", what, wait,
			len(want.waiting), want.tail, want.head(), want.settled, len(want.repairs), want.outbound, want.bytes())
	}
	var got []string
	for _, e := range wait.Entries {
		got = append(got, fmt.Sprintf("%d %s %s %d %d", e.Seq, e.Message.ID, e.Message.Payload, e.Attempts, e.At))
	}
	var exp []string
	for _, e := range want.waiting {
		exp = append(exp, fmt.Sprintf("%d %s %s %d %d", e.Seq, e.Message.ID, e.Message.Payload, e.Attempts, e.At))
	}
	if !slices.Equal(got, exp) {
		t.Fatalf("%s: waiting %q, want %q", what, got, exp)
	}
	got, exp = nil, nil
	for _, e := range rep.Entries {
		got = append(got, fmt.Sprintf("%d %s %s %d %s", e.Seq, e.Message.ID, e.Message.Payload, e.Attempts, e.Failure.Reason))
	}
	for _, seq := range slices.Sorted(maps.Keys(want.repairs)) {
		e := want.repairs[seq]
		exp = append(exp, fmt.Sprintf("%d %s %s %d %s", e.Seq, e.Message.ID, e.Message.Payload, e.Attempts, e.Failure.Reason))
	}
	if !slices.Equal(got, exp) {
		t.Fatalf("%s: repairs %q, want %q", what, got, exp)
	}
	if m.queue.ids != uint64(len(want.ids)) {
		t.Fatalf("%s: %d ids counted, want %d", what, m.queue.ids, len(want.ids))
	}
	for _, id := range queueIDs {
		r, remembered := want.ids[id]
		known, err := m.Remembers(id)
		if err != nil {
			t.Fatal(err)
		}
		if known != remembered {
			t.Fatalf("%s: id %s remembered %v, want %v (%v)", what, id, known, remembered, r)
		}
	}
}

var queueIDs = []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}

// TestPropQueueModel: any sequence of enqueues, settlings and repair
// actions, through the log's encoding, leaves the queues as the model
// says, across a snapshot restored into another machine.
func TestPropQueueModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mw := newMachineWorld(t)
		defer mw.w.Close()
		m, want := mw.m, newQueueModel()
		limits := QueueLimits{MaxMessages: rapid.IntRange(1, 6).Draw(t, "max messages"), MaxBytes: int64(rapid.IntRange(0, 40).Draw(t, "max bytes")),
			Window: int64(rapid.IntRange(0, 50).Draw(t, "window")), MaxIDs: rapid.IntRange(0, 12).Draw(t, "max ids")}
		var index, seq uint64
		at := int64(1000)
		apply := func(c Command) Result {
			index++
			seq++
			c.Client, c.Seq = "c", seq
			dec, err := DecodeCommand(c.Encode())
			if err != nil {
				t.Fatalf("%s: %v", c.Op, err)
			}
			r, err := m.Apply(index, dec)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for i := range steps {
			at += int64(rapid.IntRange(-3, 10).Draw(t, "dt")) // leaders' clocks may go back
			var got, exp Result
			what := ""
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1, 2, 3:
				e := &Enqueue{Message: Message{ID: rapid.SampledFrom(queueIDs).Draw(t, "id"),
					Payload: []byte(rapid.StringMatching(`[a-z]{0,9}`).Draw(t, "payload"))}, At: at, Limits: limits}
				what = fmt.Sprintf("step %d: enqueue %s at %d", i, e.Message.ID, at)
				got, exp = apply(Command{Op: OpEnqueue, Enqueue: e}), want.enqueue(e)
			case 4, 5, 6:
				// Items from a position near the head, as a leader (or a
				// deposed one) would send them.
				from := want.head() + uint64(rapid.IntRange(0, 3).Draw(t, "ahead")) - min(want.head()-1, uint64(rapid.IntRange(0, 2).Draw(t, "behind")))
				p := &Process{At: at}
				for k := range rapid.IntRange(1, 4).Draw(t, "items") {
					s := from + uint64(k)
					id := "?"
					if s >= want.head() && s < want.head()+uint64(len(want.waiting)) {
						id = want.waiting[s-want.head()].Message.ID
					}
					it := ProcessItem{Seq: s, ID: id}
					if rapid.Bool().Draw(t, "fails") {
						it.Failure = &Failure{Step: -1, Reason: rapid.SampledFrom([]string{"no rule matched", "bad"}).Draw(t, "reason")}
					} else if rapid.Bool().Draw(t, "outbound") {
						it.Outbound = []OutboundMessage{{Destination: "d", Key: "k", Value: []byte("{}")}}
					}
					p.Items = append(p.Items, it)
				}
				what = fmt.Sprintf("step %d: process from %d (%d items)", i, from, len(p.Items))
				// An item naming a waiting message carries its id; others are
				// skipped unread.
				got, exp = apply(Command{Op: OpProcess, Process: p}), want.process(p)
			case 7, 8:
				var seqs []uint64
				for s := range want.repairs {
					seqs = append(seqs, s)
				}
				slices.Sort(seqs)
				s := uint64(rapid.IntRange(1, 40).Draw(t, "repair seq"))
				if len(seqs) > 0 && rapid.Bool().Draw(t, "existing") {
					s = rapid.SampledFrom(seqs).Draw(t, "entry")
				}
				r := &Repair{Action: RepairAction(rapid.IntRange(1, 3).Draw(t, "action")), Seq: s, At: at, Limits: limits}
				if r.Action == RepairEdit {
					r.Payload = []byte(rapid.StringMatching(`[A-Z]{1,5}`).Draw(t, "edit"))
				}
				what = fmt.Sprintf("step %d: %s %d", i, r.Action, s)
				got, exp = apply(Command{Op: OpRepair, Repair: r}), want.repair(r)
			case 9:
				// Snapshot, restored into the other machine, which goes on.
				snap, err := m.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				other := mw.replica
				if m == mw.replica {
					other = mw.m
				}
				if err := other.Restore(snap, index); err != nil {
					t.Fatal(err)
				}
				m = other
				sameQueues(t, fmt.Sprintf("step %d: restored", i), m, want)
				continue
			}
			if got.Status != exp.Status || got.Revision != exp.Revision {
				t.Fatalf("%s: %s %d, want %s %d", what, got.Status, got.Revision, exp.Status, exp.Revision)
			}
			sameQueues(t, what, m, want)
		}
	})
}
