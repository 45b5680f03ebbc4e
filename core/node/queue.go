package node

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shoaldb/shoal/core/bugs"
	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/handler"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"go.etcd.io/raft/v3"
)

// The inbound pipeline on an instance. A connector's message is enqueued
// by its replicaset's leader through the log (kv.OpEnqueue) and
// acknowledged once applied, so from then on it is durable on a majority.
// The leader then settles the queue from its head: it runs each message
// through the pipeline in force (routing rules, handler chains: core/handler),
// validates the objects that come out against the data model, upgrades
// them to their latest version, and proposes one command (kv.OpProcess)
// that stores each message's objects and outbound messages, or moves the
// message to the repair queue with the reason. The state machine settles
// messages strictly in queue order and skips what is settled already, so
// a message is processed at least once (a new leader sends again what the
// old one sent) and takes effect exactly once.

// queueProc is a replicaset leader's progress through its queue.
type queueProc struct {
	term  uint64 // the term it is leader in; a new term starts again from the head
	next  uint64 // the position of the next message to run through the pipeline
	head  uint64 // the queue's head at the last tick
	stall int    // ticks the head has stood still with messages sent to settle
	// traced is the queue state last recorded (queue.state).
	traced [4]int
}

// stallTicks is how long the leader waits for the command it sent to
// settle the head before it sends it again: raft may have dropped it (a
// leader's own proposal can be lost in a leadership transfer, and its
// term then ends; stalling is the rest of the cases' net).
const stallTicks = 20

// pipelineCache holds the pipeline in force, parsed.
type pipelineCache struct {
	rev int
	p   *handler.Pipeline
	err error
}

// pipeline is the pipeline in force, or nil (none set, or it does not
// parse with this binary: a handler it names is missing here).
func (n *Node) pipeline() *handler.Pipeline {
	cur := n.conf.conf.Pipeline
	if cur == nil || cur.Source == "" {
		return nil
	}
	if n.pipe.rev != cur.Revision {
		n.pipe = pipelineCache{rev: cur.Revision}
		n.pipe.p, n.pipe.err = handler.ParseWith("pipeline.yaml", []byte(cur.Source), handler.Options{AllowUnknown: true})
		if n.pipe.err != nil {
			n.trace("queue.pipeline.error", env.Int("revision", int64(cur.Revision)), env.Str("error", n.pipe.err.Error()))
		} else {
			n.trace("queue.pipeline", env.Int("revision", int64(cur.Revision)))
		}
	}
	return n.pipe.p
}

func queueLimits(qs cluster.QueueSettings) kv.QueueLimits {
	return kv.QueueLimits{MaxMessages: qs.MaxMessages, MaxBytes: qs.MaxBytes, Window: int64(qs.Window), MaxIDs: qs.MaxIDs}
}

// queueCommand turns a queue write (enqueue, repair) into its command, or
// answers it at once: a request that means nothing, or, for an enqueue, a
// queue already full.
func (n *Node) queueCommand(from env.NodeID, g *group, req *kv.Request) (kv.Command, bool) {
	cmd := req.Command()
	qs := n.conf.conf.Queue()
	fail := func(status kv.Status, why string) (kv.Command, bool) {
		r := &kv.Response{Client: req.Client, Seq: req.Seq, Status: status, Error: why}
		if status == kv.StatusBusy {
			r.RetryAfter = int64(qs.RetryAfter)
		}
		n.respond(from, r)
		return cmd, false
	}
	switch req.Op {
	case kv.OpEnqueue:
		if req.Message == nil {
			return fail(kv.StatusInvalid, "enqueue without a message")
		}
		if err := req.Message.Check(); err != nil {
			return fail(kv.StatusInvalid, err.Error())
		}
		m := g.sm.(dataMachine).m
		if depth := m.QueueDepth(); depth >= qs.MaxMessages {
			// A message sent again is answered with its position, full
			// queue or not: the log decides.
			known, err := m.Remembers(req.Message.ID)
			must(err)
			if !known {
				return fail(kv.StatusBusy, fmt.Sprintf("the inbound queue is full (%d messages waiting)", depth))
			}
		}
		cmd.Enqueue = &kv.Enqueue{Message: *req.Message, At: n.e.Now().UnixNano(), Limits: queueLimits(qs)}
	case kv.OpRepair:
		q := req.Queue
		if q == nil || q.Action < kv.RepairRetry || q.Action > kv.RepairEdit {
			return fail(kv.StatusInvalid, "repair without an action (retry, purge, edit)")
		}
		if q.Action == kv.RepairEdit && len(q.Payload) > kv.MaxPayload {
			return fail(kv.StatusInvalid, fmt.Sprintf("a payload of %d bytes, at most %d", len(q.Payload), kv.MaxPayload))
		}
		cmd.Repair = &kv.Repair{Action: q.Action, Seq: q.Seq, Payload: q.Payload, At: n.e.Now().UnixNano(), Limits: queueLimits(qs), Outbound: q.Outbound}
	default:
		return fail(kv.StatusInvalid, fmt.Sprintf("%s is not a queue write", req.Op))
	}
	return cmd, true
}

// queueReplicaset is the replicaset a queue request names, for requests
// that name one rather than a key.
func queueReplicaset(req *kv.Request) string {
	if req.Queue != nil && (req.Op == kv.OpRepair || req.Op == kv.OpReadQueue) {
		return req.Queue.Replicaset
	}
	return ""
}

// readQueue answers a read-queue.
func (n *Node) readQueue(g *group, q *kv.QueueRequest, index uint64) *kv.Response {
	st, err := g.sm.(dataMachine).m.Queue(q.List, q.After, q.Limit)
	if err != nil {
		return &kv.Response{Status: kv.StatusInvalid, Error: err.Error(), Index: index}
	}
	st.Replicaset = g.name
	return &kv.Response{Status: kv.StatusOK, Index: index, Queue: &st}
}

// settleQueues has every replicaset this instance leads send the next
// messages of its queue to settle, and reports whether one did. tick is
// set on the node's tick, when a leader also notices a queue that does
// not move.
func (n *Node) settleQueues(tick bool) bool {
	sent := false
	for _, g := range n.groups {
		if g.id == cluster.ConfigGroup {
			continue
		}
		if g.role() != raft.StateLeader {
			g.queue = queueProc{}
			continue
		}
		sent = n.settleQueue(g, tick) || sent
	}
	return sent
}

func (n *Node) settleQueue(g *group, tick bool) bool {
	m := g.sm.(dataMachine).m
	if t := g.rn.BasicStatus().Term; t != g.queue.term {
		g.queue = queueProc{term: t}
	}
	head, tail := m.QueueBounds()
	if tick {
		n.traceQueue(g, m)
		if head == g.queue.head && g.queue.next > head {
			if g.queue.stall++; g.queue.stall >= stallTicks {
				n.trace("queue.resend", env.Str("group", g.name), env.Int("from", int64(head)), env.Int("to", int64(g.queue.next-1)))
				g.queue.next, g.queue.stall = head, 0
			}
		} else {
			g.queue.head, g.queue.stall = head, 0
		}
	}
	g.queue.next = max(g.queue.next, head)
	if g.queue.next > head || head > tail || n.frozen(g) {
		// A command is settling the head, or nothing waits. One command
		// at a time: each message's handlers then see every message
		// before it settled (enrich reads them).
		return false
	}
	qs := n.conf.conf.Queue()
	p := n.pipeline()
	mdl, _ := n.dataModel()
	if p == nil || mdl == nil {
		return false // messages wait until there is a pipeline and a model
	}
	msgs, err := m.Waiting(head, qs.Batch)
	must(err)
	if len(msgs) == 0 {
		return false
	}
	cmd := &kv.Process{At: n.e.Now().UnixNano()}
	size, failed := 0, 0
	look := &storeLookup{n: n, g: g, m: m, mdl: mdl}
	for i := range msgs {
		if i > 0 && size >= maxSettleBytes {
			break
		}
		it := n.settleMessage(g, p, mdl, look, &msgs[i], cmd.At)
		look.note(&it)
		for _, w := range it.Objects {
			size += len(w.Value)
		}
		size += len(msgs[i].Message.Payload)
		if it.Failure != nil {
			failed++
		}
		cmd.Items = append(cmd.Items, it)
	}
	first, last := cmd.Items[0].Seq, cmd.Items[len(cmd.Items)-1].Seq
	id := "q/" + g.name + "/" + strconv.FormatUint(first, 10) + "/" + strconv.FormatUint(last, 10)
	c := kv.Command{Op: kv.OpProcess, Process: cmd}
	if err := g.rn.Propose(envelope(id, c.Encode())); err != nil {
		return false // the next event tries again
	}
	n.trace("queue.dispatch", env.Str("group", g.name), env.Int("from", int64(first)), env.Int("to", int64(last)),
		env.Int("messages", int64(len(cmd.Items))), env.Int("failed", int64(failed)))
	g.queue.next = last + 1
	return true
}

// maxSettleBytes bounds one process command's payloads and objects (a
// message larger alone still goes, by itself).
const maxSettleBytes = 1 << 20

// traceQueue records a leader's queue state when it changed.
func (n *Node) traceQueue(g *group, m *kv.Machine) {
	st, err := m.Queue("", 0, 0)
	must(err)
	now := [4]int{st.Depth, st.Repairs, st.Outbound, int(st.Settled)}
	if now == g.queue.traced {
		return
	}
	g.queue.traced = now
	n.trace("queue.state", env.Str("group", g.name), env.Int("depth", int64(st.Depth)), env.Int("bytes", st.Bytes),
		env.Int("repairs", int64(st.Repairs)), env.Int("outbound", int64(st.Outbound)), env.Int("settled", int64(st.Settled)))
}

// settleMessage runs one message through the pipeline and turns what came
// out into its settlement: objects validated against the model and
// upgraded, or a failure.
func (n *Node) settleMessage(g *group, p *handler.Pipeline, mdl *model.Model, look *storeLookup, q *kv.Queued, at int64) kv.ProcessItem {
	if p.Connectors != nil {
		if r := receiver(p.Connectors, &q.Message); r != nil {
			return n.settleChange(g, mdl, r, q)
		}
	}
	it := kv.ProcessItem{Seq: q.Seq, ID: q.Message.ID}
	in := &handler.Input{ID: q.Message.ID, Connector: q.Message.Connector, Payload: q.Message.Payload}
	if len(q.Message.Headers) > 0 {
		in.Headers = make(map[string]string, len(q.Message.Headers))
		for _, h := range q.Message.Headers {
			in.Headers[h.Name] = h.Value
		}
	}
	out := p.Run(in, look, n.e.Now())
	if f := out.Failure; f != nil {
		it.Failure = failure(f.Key, f.Step, f.Handler, f.Reason)
		return it
	}
	for _, o := range out.Objects {
		w, err := n.pipelineObject(g, mdl, &o, at)
		if err != nil {
			it.Objects = nil
			it.Outbound = nil
			it.Failure = failure(o.Key, -1, "", fmt.Sprintf("storing %s: %v", o.Type, err))
			return it
		}
		it.Objects = append(it.Objects, w)
	}
	for _, o := range out.Outbound {
		it.Outbound = append(it.Outbound, kv.OutboundMessage{Destination: o.Destination, Key: o.Key, Value: o.Value})
	}
	if len(it.Objects) > kv.MaxItemObjects || len(it.Outbound) > kv.MaxItemOutbound {
		return kv.ProcessItem{Seq: q.Seq, ID: q.Message.ID, Failure: failure("", -1, "",
			fmt.Sprintf("the message gave %d objects and %d outbound messages, at most %d of each", len(it.Objects), len(it.Outbound), kv.MaxItemObjects))}
	}
	return it
}

// failure is a kv.Failure cut to the bounds the log takes.
func failure(key string, step int, h, reason string) *kv.Failure {
	cut := func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		return strings.ToValidUTF8(s[:n-3], "") + "..."
	}
	return &kv.Failure{Key: cut(key, kv.MaxTypeLen), Step: max(step, -1), Handler: cut(h, kv.MaxTypeLen), Reason: cut(reason, kv.MaxReason)}
}

// pipelineObject is the write of an object a chain produced: validated
// at its version, upgraded to the latest, with its key and index entries.
// It must belong to the replicaset that settles the message.
func (n *Node) pipelineObject(g *group, mdl *model.Model, o *handler.Object, at int64) (kv.ObjectWrite, error) {
	t, ok := mdl.Type(o.Type)
	if !ok {
		return kv.ObjectWrite{}, fmt.Errorf("the data model has no type %q", o.Type)
	}
	v := o.Version
	if v == 0 {
		v = t.Latest()
	}
	obj, err := t.Validate(v, o.Value)
	if err != nil {
		return kv.ObjectWrite{}, err
	}
	if obj, err = t.Upgrade(v, obj); err != nil {
		return kv.ObjectWrite{}, err
	}
	pk, err := t.PrimaryKey(obj)
	if err != nil {
		return kv.ObjectWrite{}, err
	}
	if err := n.owns(g, t, pk); err != nil {
		return kv.ObjectWrite{}, err
	}
	entries, err := t.IndexEntries(obj)
	if err != nil {
		return kv.ObjectWrite{}, err
	}
	value := model.Encode(obj)
	if len(value) > kv.MaxObjectValue {
		return kv.ObjectWrite{}, fmt.Errorf("%d bytes, at most %d", len(value), kv.MaxObjectValue)
	}
	w := kv.ObjectWrite{Type: t.Name, PK: pk, Version: t.Latest(), Value: value, Indexes: indexEntries(entries), History: t.History}
	route, err := t.RouteKey(pk)
	if err != nil {
		return kv.ObjectWrite{}, err
	}
	if err := n.stamp(&w, route, at); err != nil {
		return kv.ObjectWrite{}, err
	}
	return w, nil
}

// owns checks that the object of type t with key pk is kept by g's
// replicaset: a pipeline stores and reads only there.
func (n *Node) owns(g *group, t *model.Type, pk string) error {
	route, err := t.RouteKey(pk)
	if err != nil {
		return err
	}
	conf := n.conf.conf
	if rs := conf.Buckets[kv.Bucket(route, len(conf.Buckets))]; rs != g.name {
		return fmt.Errorf("%s %s is kept by replicaset %s, and the message came to %s (a connector that sends it keyed by %q reaches the right one)",
			t.Name, t.KeyString(pk), rs, g.name, route)
	}
	return nil
}

// storeLookup reads stored objects for the handlers (enrich): what the
// leader has applied, upgraded to the latest version, and what the
// messages before in the same command will store. (A message whose
// objects then meet a unique-index conflict as they apply goes to the
// repair queue; a later message of the command may have read them.)
type storeLookup struct {
	n       *Node
	g       *group
	m       *kv.Machine
	mdl     *model.Model
	pending map[[2]string][]byte // type, pk → the value an earlier message of the command stores
}

// note records what a settled message will store.
func (l *storeLookup) note(it *kv.ProcessItem) {
	for _, w := range it.Objects {
		if w.Replica {
			continue // a received change may not apply: handlers read what is stored
		}
		if l.pending == nil {
			l.pending = map[[2]string][]byte{}
		}
		l.pending[[2]string{w.Type, w.PK}] = w.Value
	}
}

func (l *storeLookup) Object(typ string, key map[string]any) (map[string]any, bool, error) {
	t, ok := l.mdl.Type(typ)
	if !ok {
		return nil, false, fmt.Errorf("the data model has no type %q", typ)
	}
	pk, err := t.PrimaryKey(model.Object(key))
	if err != nil {
		return nil, false, err
	}
	if err := l.n.owns(l.g, t, pk); err != nil {
		return nil, false, err
	}
	if v, ok := l.pending[[2]string{t.Name, pk}]; ok {
		obj, err := model.Decode(v)
		return obj, err == nil, err
	}
	rec, found, err := l.m.GetObject(t.Name, pk)
	must(err)
	if !found {
		return nil, false, nil
	}
	up, err := l.n.upgradeRecord(rec)
	if err != nil {
		return nil, false, err
	}
	obj, err := model.Decode(up.Value)
	if err != nil {
		return nil, false, err
	}
	return obj, true, nil
}

// ackEnqueued answers an enqueue as soon as it is proposed (the
// ack-before-enqueue bug): a leader that loses it has acknowledged a
// message no replica holds.
func (n *Node) ackEnqueued(from env.NodeID, req *kv.Request, p *request) {
	if req.Op != kv.OpEnqueue || !n.cfg.Bugs.Has(bugs.AckBeforeEnqueue) {
		return
	}
	p.acked = true
	n.respond(from, &kv.Response{Client: req.Client, Seq: req.Seq, Status: kv.StatusOK, Queue: &kv.QueueState{Replicaset: p.group.name}})
}

// Queue reads replicaset rs's queues on this instance as it has applied
// them: their depths, and with list "repair" or "queue" every entry of
// that queue, for tests and the harness.
func (n *Node) Queue(rs, list string) (kv.QueueState, error) {
	g := n.groupNamed(rs)
	if g == nil || g.id == cluster.ConfigGroup {
		return kv.QueueState{}, fmt.Errorf("node: %s is not a member of replicaset %q", n.e.ID(), rs)
	}
	m := g.sm.(dataMachine).m
	st, err := m.Queue(list, 0, kv.MaxQueuePage)
	for err == nil && list != "" && len(st.Entries)%kv.MaxQueuePage == 0 && len(st.Entries) > 0 {
		var more kv.QueueState
		more, err = m.Queue(list, st.Entries[len(st.Entries)-1].Seq, kv.MaxQueuePage)
		if len(more.Entries) == 0 {
			break
		}
		st.Entries = append(st.Entries, more.Entries...)
	}
	st.Replicaset = rs
	return st, err
}
