// Package client is the simulator's key-value client: a process in the
// World that sends requests to instances over the simulated network,
// follows redirects, retries with the same (client, sequence) until the
// operation's timeout, and records every operation in the trace as a
// history: client.invoke, then client.ok, client.fail or client.info.
//
// An outcome is recorded as fail only when it is certain that the
// operation had no effect: a cas that found another value, a put or
// delete that every attempt saw refused outright (a redirect is a
// refusal), or a read that got no answer (a read changes nothing). A
// refused cas is recorded as info: in a history, a failed cas says its
// compare failed. Whenever a write may have
// reached a leader and its answer was lost, the outcome is unknown and
// recorded as info; the client then continues under a new process number,
// since the old process's operation may still take effect at any time.
package client

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
)

// Op is one operation a workload asks for.
type Op struct {
	F        kv.Op
	Key      string
	Value    string   // put, cas: the new value
	Expected kv.Value // cas
	// Stale asks a get for any replica's own value (kv.Request.Stale);
	// the history records it as a read like any other, so the checkers
	// judge what it costs.
	Stale bool
	// Object is an object operation's (F put-object, get-object or
	// delete-object; Key is then the routing key). Label names the object
	// in the history: "Type/key".
	Object *kv.ObjectRequest
	Label  string
	// Message is an enqueue's (Key is then the key that picks its
	// replicaset); Label then names the object the message should become,
	// "Type/key", or is empty for a message built to fail the pipeline.
	Message *kv.Message
	// Queue is a read-queue's or a repair's.
	Queue *kv.QueueRequest
}

// reads reports whether f changes nothing.
func reads(f kv.Op) bool { return f.IsRead() }

// Workload chooses a client's operations.
type Workload interface {
	// Next returns the next operation, or false when the client is done.
	Next(r *rand.Rand) (Op, bool)
}

// Config shapes a client.
type Config struct {
	// Servers are the instances the client may talk to.
	Servers []env.NodeID
	// Target is where a new operation goes first: "random", "leader" (the
	// instance that last answered for the key's bucket, else random), or
	// an instance's name.
	Target string
	// Timeout bounds an operation; Retries is how many times it is resent
	// within it, after a redirect or after Timeout/(Retries+1) without an
	// answer. Zero means the default; a negative Retries, none.
	Timeout time.Duration
	Retries int
	// Interval is the time between the starts of consecutive operations.
	// A client has at most one operation outstanding; a tick that finds
	// one waits for the next.
	Interval time.Duration
	// Delay is how long after the client starts its first operation may
	// begin.
	Delay time.Duration
	// Until, if set, is how long after the client starts its last
	// operation may begin (measured on the client's own clock).
	Until time.Duration
	// Process is the client's first process number; after an info the
	// client continues as Process + ProcessStride, and so on.
	Process       int
	ProcessStride int
	// Buckets is the cluster's bucket count, for remembering leaders.
	Buckets int
	// Stats, if set, counts the outcomes as they happen (several clients
	// may share one).
	Stats *Stats
}

// Stats counts operations by outcome.
type Stats struct{ OK, Fail, Info int }

// Defaults for zero Config fields.
const (
	DefaultTimeout  = time.Second
	DefaultRetries  = 3
	DefaultInterval = 100 * time.Millisecond
)

// Client is one simulated client process.
type Client struct {
	e       env.Env
	cfg     Config
	work    Workload
	process int
	seq     uint64
	cur     *operation
	leaders map[int]env.NodeID // bucket → the instance that last answered for it
	done    bool
	started time.Time
}

// operation is the operation in flight.
type operation struct {
	Op
	seq       uint64
	attempts  int
	answered  int  // attempts that got an answer
	uncertain bool // a write may have been applied
	deadline  env.TimerID
}

type (
	tick       struct{}
	attemptEnd struct {
		seq     uint64
		attempt int
	}
	deadline struct{ seq uint64 }
)

func (tick) Kind() string       { return "client.tick" }
func (attemptEnd) Kind() string { return "client.attempt" }
func (deadline) Kind() string   { return "client.deadline" }

// Start returns the env.Start of a client running w.
func Start(cfg Config, w Workload) env.Start {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = DefaultRetries
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Target == "" {
		cfg.Target = "random"
	}
	if cfg.Buckets <= 0 {
		cfg.Buckets = kv.DefaultBuckets
	}
	if cfg.ProcessStride <= 0 {
		cfg.ProcessStride = 1
	}
	return func(e env.Env) (env.Node, error) {
		c := &Client{e: e, cfg: cfg, work: w, process: cfg.Process, leaders: map[int]env.NodeID{}, started: e.Now()}
		e.After(cfg.Delay, tick{})
		return c, nil
	}
}

// Handle starts operations and ends attempts and operations that time out.
func (c *Client) Handle(ev env.Event) {
	switch ev := ev.(type) {
	case tick:
		if c.cfg.Until > 0 && c.e.Now().Sub(c.started) >= c.cfg.Until {
			c.done = true
		}
		if c.done {
			return
		}
		c.e.After(c.cfg.Interval, tick{})
		if c.cur == nil {
			c.next()
		}
	case attemptEnd:
		o := c.cur
		if o == nil || o.seq != ev.seq || ev.attempt != o.attempts {
			return // answered, or a later attempt is under way
		}
		if !reads(o.F) {
			o.uncertain = true
		}
		if o.attempts <= c.cfg.Retries {
			c.send(c.randomServer())
		}
	case deadline:
		if o := c.cur; o != nil && o.seq == ev.seq {
			c.finishUnanswered(o)
		}
	}
}

func (c *Client) next() {
	op, ok := c.work.Next(c.e.Rand())
	if !ok {
		c.done = true
		return
	}
	c.seq++
	c.cur = &operation{Op: op, seq: c.seq}
	c.record("client.invoke", c.cur, nil, 0, "")
	c.cur.deadline = c.e.After(c.cfg.Timeout, deadline{c.seq})
	c.send(c.firstTarget(op.Key))
}

func (c *Client) firstTarget(key string) env.NodeID {
	switch c.cfg.Target {
	case "random":
	case "leader":
		if l, ok := c.leaders[kv.Bucket(key, c.cfg.Buckets)]; ok {
			return l
		}
	default:
		return env.NodeID(c.cfg.Target)
	}
	return c.randomServer()
}

func (c *Client) randomServer() env.NodeID {
	return c.cfg.Servers[c.e.Rand().IntN(len(c.cfg.Servers))]
}

func (c *Client) send(to env.NodeID) {
	o := c.cur
	o.attempts++
	c.e.Send(to, &kv.Request{Client: string(c.e.ID()), Seq: o.seq, Op: o.F, Key: o.Key, Value: o.Value, Expected: o.Expected, Stale: o.Stale,
		Object: o.Object, Message: o.Message, Queue: o.Queue})
	c.e.After(c.cfg.Timeout/time.Duration(c.cfg.Retries+1), attemptEnd{seq: o.seq, attempt: o.attempts})
}

// Receive handles an instance's answer.
func (c *Client) Receive(from env.NodeID, m env.Message) {
	r, ok := m.(*kv.Response)
	o := c.cur
	if !ok || o == nil || r.Seq != o.seq {
		return // an answer to an attempt of an operation already over
	}
	o.answered++
	switch r.Status {
	case kv.StatusOK:
		c.leaders[kv.Bucket(o.Key, c.cfg.Buckets)] = from
		c.finish("client.ok", r, r.Index, string(from))
	case kv.StatusMismatch:
		if o.Object != nil {
			c.finish("client.fail", r, r.Index, "the object's revision did not match")
			break
		}
		c.finish("client.fail", r, r.Index, "cas found "+r.Value.String())
	case kv.StatusConflict, kv.StatusInvalid, kv.StatusNotFound:
		c.finish("client.fail", r, r.Index, r.Status.String()+": "+r.Error)
	case kv.StatusBusy:
		// Nothing was enqueued: the queue was full. The workload sends the
		// message again as a new operation; this one failed.
		c.finish("client.fail", r, r.Index, "busy: "+r.Error)
	case kv.StatusRedirect:
		to := r.Leader
		if to == "" {
			to = r.Hint
		}
		if to == "" || to == from {
			to = c.randomServer()
		}
		if o.attempts <= c.cfg.Retries {
			c.send(to)
			return
		}
		// Out of retries. Every answered attempt was refused; if one went
		// unanswered, it may still apply.
		if o.uncertain || o.answered < o.attempts {
			return // the deadline decides
		}
		c.finishRefused(fmt.Sprintf("refused %d times; last redirect to %q", o.attempts, to))
	}
}

// finishUnanswered ends an operation at its deadline.
func (c *Client) finishUnanswered(o *operation) {
	if reads(o.F) {
		c.finish("client.fail", nil, 0, "no answer; a read changes nothing")
		return
	}
	if !o.uncertain && o.answered == o.attempts {
		c.finishRefused("every attempt was refused")
		return
	}
	c.finish("client.info", nil, 0, "no answer: the write may or may not take effect")
}

// finishRefused ends an operation every attempt of which was refused: it
// certainly had no effect, so it failed; except a cas, whose failure in a
// history claims that its compare failed, which nobody observed: it is
// recorded as info, which is true, if less precise.
func (c *Client) finishRefused(why string) {
	if c.cur.F == kv.OpCAS {
		c.finish("client.info", nil, 0, why+"; a failed cas would claim its compare failed")
		return
	}
	c.finish("client.fail", nil, 0, why)
}

func (c *Client) finish(kind string, r *kv.Response, index uint64, note string) {
	o := c.cur
	c.e.Cancel(o.deadline)
	c.record(kind, o, r, index, note)
	c.cur = nil
	if st := c.cfg.Stats; st != nil {
		switch kind {
		case "client.ok":
			st.OK++
		case "client.fail":
			st.Fail++
		default:
			st.Info++
		}
	}
	if kind == "client.info" {
		c.process += c.cfg.ProcessStride
	}
}

// record writes one history event; r is the answer that ended the
// operation, if one did.
func (c *Client) record(kind string, o *operation, r *kv.Response, index uint64, note string) {
	if o.Message != nil || o.Queue != nil {
		var q *kv.QueueState
		if r != nil {
			q = r.Queue
		}
		c.e.Trace(kind, QueueHistoryFields(kind, c.process, int64(o.seq), o.Op, q, index, note)...)
		return
	}
	if o.Object != nil {
		var rec *kv.ObjectRecord
		var history []kv.ObjectRecord
		if r != nil {
			rec, history = r.Object, r.History
		}
		fields := ObjectHistoryFields(kind, c.process, int64(o.seq), o.Op, rec, index, note)
		if o.Object.History && kind != "client.invoke" {
			fields = append(fields, env.Int("history", int64(len(history))))
		}
		c.e.Trace(kind, fields...)
		return
	}
	var read kv.Value
	if r != nil {
		read = r.Value
	}
	c.e.Trace(kind, HistoryFields(kind, c.process, int64(o.seq), o.Op, read, index, note)...)
}

// ObjectHistoryFields are the fields of one history event of an object
// operation: f is write-object, read-object or delete-object, which the
// key-value checkers skip; key is the object's label (Type/key); value is
// the object written, or read (absent when there was none), in JSON, and
// version the model version it was written at or read in. A stale read
// (Op.Stale) adds stale: true, so that the linearizability check can
// leave it out and count what it returned.
func ObjectHistoryFields(kind string, process int, seq int64, op Op, read *kv.ObjectRecord, index uint64, note string) []env.Field {
	value, version, absent := "", 0, true
	switch {
	case op.F == kv.OpPutObject:
		value, version, absent = string(op.Object.Value), op.Object.Version, false
	case op.F == kv.OpGetObject && read != nil:
		value, version, absent = string(read.Value), read.Version, false
	}
	fields := []env.Field{
		env.Int("process", int64(process)), env.Int("seq", seq), env.Str("f", HistoryF(op.F)), env.Str("key", op.Label),
		env.Str("value", value), env.Bool("absent", absent), env.Str("type", op.Object.Type), env.Int("version", int64(version)),
	}
	if op.Stale {
		fields = append(fields, env.Bool("stale", true))
	}
	if kind != "client.invoke" {
		fields = append(fields, env.Int("index", int64(index)), env.Str("note", note))
	}
	return fields
}

// QueueHistoryFields are the fields of one history event of a queue
// operation, which the key-value checkers skip:
//
//   - enqueue: key is the message's id, value its payload, expect the
//     object it should become (op.Label: "Type/key", or "" for a message
//     built to fail); an ok adds replicaset and position, where the
//     message waits.
//   - read-queue: key is the replicaset; an ok's value is the queue state
//     read, in JSON (QueueStateJSON).
//   - repair: key is the replicaset, value the action and entry.
func QueueHistoryFields(kind string, process int, seq int64, op Op, read *kv.QueueState, index uint64, note string) []env.Field {
	fields := []env.Field{env.Int("process", int64(process)), env.Int("seq", seq), env.Str("f", HistoryF(op.F))}
	switch {
	case op.Message != nil:
		fields = append(fields, env.Str("key", op.Message.ID), env.Str("value", string(op.Message.Payload)), env.Str("expect", op.Label))
	case op.F == kv.OpRepair:
		fields = append(fields, env.Str("key", op.Queue.Replicaset), env.Str("value", fmt.Sprintf("%s %d", op.Queue.Action, op.Queue.Seq)))
	default:
		value := ""
		if read != nil && kind == "client.ok" {
			value = QueueStateJSON(read)
		}
		fields = append(fields, env.Str("key", op.Queue.Replicaset), env.Str("value", value))
	}
	if kind != "client.invoke" {
		fields = append(fields, env.Int("index", int64(index)), env.Str("note", note))
		if read != nil && op.Message != nil {
			fields = append(fields, env.Str("replicaset", read.Replicaset), env.Int("position", int64(read.Tail)))
		}
	}
	return fields
}

// QueueState is a queue read as the history records it.
type QueueState struct {
	Replicaset string       `json:"replicaset"`
	Depth      int          `json:"depth"`
	Repairs    int          `json:"repairs"`
	Outbound   int          `json:"outbound"`
	Settled    uint64       `json:"settled"`
	Entries    []QueueEntry `json:"entries,omitempty"`
}

// QueueEntry is one entry of a queue listing: a waiting message, or a
// repair entry with its reason.
type QueueEntry struct {
	Position uint64 `json:"position"`
	ID       string `json:"id"`
	Attempts int    `json:"attempts"`
	Key      string `json:"key,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// QueueStateJSON encodes a queue read for the history.
func QueueStateJSON(q *kv.QueueState) string {
	s := QueueState{Replicaset: q.Replicaset, Depth: q.Depth, Repairs: q.Repairs, Outbound: q.Outbound, Settled: q.Settled}
	for _, e := range q.Entries {
		s.Entries = append(s.Entries, QueueEntry{Position: e.Seq, ID: e.Message.ID, Attempts: e.Attempts, Key: e.Failure.Key, Reason: e.Failure.Reason})
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("client: encoding a queue state: %v", err))
	}
	return string(b)
}

// HistoryFields are the fields of one history event (client.invoke,
// client.ok, client.fail, client.info) in the trace's order. Reads carry
// the value read (on ok), writes the value written, cas the expected and
// new values; completions add the serving index and a note. The live
// harness's clients (scenarios/liverun/kvclient) record the same events.
func HistoryFields(kind string, process int, seq int64, op Op, read kv.Value, index uint64, note string) []env.Field {
	value := kv.Value{S: op.Value, Present: op.F == kv.OpPut || op.F == kv.OpCAS}
	if op.F == kv.OpGet {
		value = read
	}
	fields := []env.Field{
		env.Int("process", int64(process)), env.Int("seq", seq), env.Str("f", HistoryF(op.F)), env.Str("key", op.Key),
		env.Str("value", value.S), env.Bool("absent", !value.Present),
	}
	if op.F == kv.OpCAS {
		fields = append(fields, env.Str("expected", op.Expected.S), env.Bool("expected_absent", !op.Expected.Present))
	}
	if kind != "client.invoke" {
		fields = append(fields, env.Int("index", int64(index)), env.Str("note", note))
	}
	return fields
}

// HistoryF names an operation as the history format does.
func HistoryF(f kv.Op) string {
	if int(f) < len(historyF) && historyF[f] != "" {
		return historyF[f]
	}
	return f.String()
}

var historyF = [...]string{kv.OpGet: "read", kv.OpPut: "write", kv.OpDelete: "delete", kv.OpCAS: "cas",
	kv.OpPutObject: "write-object", kv.OpGetObject: "read-object", kv.OpDeleteObject: "delete-object",
	kv.OpEnqueue: "enqueue", kv.OpReadQueue: "read-queue", kv.OpRepair: "repair"}

// Stop does nothing: a client holds no resources.
func (c *Client) Stop() {}
