package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shoaldb/shoal/core/handler"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/scenarios/examples"
)

// fakeQueues is a fakeBackend that also serves the inbound pipeline: each
// replicaset of its cluster (rs1 of exampleCluster unless a test says
// otherwise) has an inbound queue and a repair queue kept the way its
// state machine keeps them (core/kv/machine_queue.go, answered as
// core/node answers), and group 0 a pipeline. It fails on request like
// fakeBackend (err, status, block) and like fakeModels (pipelineErr).
type fakeQueues struct {
	*fakeBackend
	mu     sync.Mutex
	queues map[string]*fakeQueue
	// maxDepth bounds each inbound queue; an enqueue or a retry beyond it
	// is busy, to be sent again after retryAfter.
	maxDepth   int
	retryAfter time.Duration
	pipeline   PipelineStatus
	// sent is every queue request Do received, and set every source
	// SetPipeline received.
	sent []kv.Request
	set  [][]byte

	pipelineErr error // Pipeline and SetPipeline fail with it
}

// fakeQueue is one replicaset's queues.
type fakeQueue struct {
	name    string
	tail    uint64
	waiting []kv.Queued      // by position
	repairs []kv.RepairEntry // by position
	// outRepairs are outbound repair entries, by position; outTail the
	// outbound queue's last position.
	outRepairs []kv.OutRepairEntry
	outTail    uint64
	ids        map[string]uint64
	settled    uint64
}

func newFakeQueues() *fakeQueues {
	f := &fakeQueues{fakeBackend: newFakeBackend(), queues: map[string]*fakeQueue{}, maxDepth: 1000, retryAfter: 1500 * time.Millisecond}
	f.cluster = exampleCluster
	return f
}

// queueEpoch is when the fake's first message came; a message's position
// says how many seconds later it was enqueued, so that times are stable.
var queueEpoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func enqueuedAt(pos uint64) int64 { return queueEpoch.Add(time.Duration(pos) * time.Second).UnixNano() }

// queue is the queues of replicaset rs, if the cluster has it.
func (f *fakeQueues) queue(rs string) (*fakeQueue, bool) {
	known := slices.ContainsFunc(f.cluster.Replicasets, func(s ReplicasetStatus) bool { return s.Name == rs })
	if !known {
		return nil, false
	}
	q, ok := f.queues[rs]
	if !ok {
		q = &fakeQueue{name: rs, ids: map[string]uint64{}}
		f.queues[rs] = q
	}
	return q, true
}

// route is the replicaset of a key: its bucket's, one bucket each.
func (f *fakeQueues) route(key string) string {
	return f.cluster.Replicasets[kv.Bucket(key, len(f.cluster.Replicasets))].Name
}

// enqueue puts m at the tail, as a new message.
func (q *fakeQueue) enqueue(m kv.Message) uint64 {
	pos := q.push(m, 0)
	q.ids[m.ID] = pos
	return pos
}

func (q *fakeQueue) push(m kv.Message, attempts int) uint64 {
	q.tail++
	q.waiting = append(q.waiting, kv.Queued{Seq: q.tail, Message: m, At: enqueuedAt(q.tail), Attempts: attempts})
	return q.tail
}

// settle stores the message at the head, or with a failure moves it to
// the repair queue, a minute after it came.
func (q *fakeQueue) settle(failure *kv.Failure) {
	m := q.waiting[0]
	q.waiting = q.waiting[1:]
	q.settled++
	if failure != nil {
		m.Attempts++
		q.repairs = append(q.repairs, kv.RepairEntry{Queued: m, Failure: *failure, FailedAt: m.At + int64(time.Minute)})
	}
}

func (q *fakeQueue) bytes() int64 {
	var n int64
	for _, m := range q.waiting {
		n += int64(len(m.Message.Payload))
	}
	return n
}

func (q *fakeQueue) state() kv.QueueState {
	st := kv.QueueState{Replicaset: q.name, Depth: len(q.waiting), Bytes: q.bytes(), Head: q.tail + 1, Tail: q.tail,
		Repairs: len(q.repairs), Settled: q.settled, OutRepairs: len(q.outRepairs), OutTail: q.outTail}
	if len(q.waiting) > 0 {
		st.Head, st.OldestAt = q.waiting[0].Seq, q.waiting[0].At
	}
	return st
}

func (q *fakeQueue) repair(pos uint64) int {
	return slices.IndexFunc(q.repairs, func(e kv.RepairEntry) bool { return e.Seq == pos })
}

// busy is the answer to an enqueue (why says so as the leader does) or a
// retry (as the state machine does) that finds the queue full.
func (f *fakeQueues) busy(why string) kv.Response {
	return kv.Response{Status: kv.StatusBusy, RetryAfter: int64(f.retryAfter), Error: "the inbound queue is full (" + why + ")"}
}

// withRepairs fills rs1 as a pipeline leaves it: messages 1 to 4 came,
// 2 was stored, 1 and 3 failed (3, from a connector that sends text,
// with a payload that is no JSON), 4 waits.
func withRepairs(f *fakeQueues) {
	q, _ := f.queue("rs1")
	q.enqueue(kv.Message{ID: "m1", Connector: "shop", Headers: []kv.Header{{Name: "X-Source", Value: "web"}}, Payload: []byte(`{"kind":"order","order_no":"o1","customer":"c9"}`)})
	q.enqueue(kv.Message{ID: "m2", Connector: "crm", Payload: []byte(`{"customer":{"id":"c1"}}`)})
	q.enqueue(kv.Message{ID: "m3", Connector: "legacy", Payload: []byte("order o2, 3 items")})
	q.enqueue(kv.Message{ID: "m4", Connector: "shop", Payload: []byte(`{"kind":"order","order_no":"o3"}`)})
	q.settle(&kv.Failure{Key: "orders", Step: 2, Handler: "enrich", Reason: "Customer c9 not found"})
	q.settle(nil)
	q.settle(&kv.Failure{Step: -1, Reason: "the payload is no JSON object"})
}

// withOutRepairs gives rs1 two outbound messages that ran out of
// attempts.
func withOutRepairs(f *fakeQueues) {
	q, _ := f.queue("rs1")
	q.outTail = 9
	for _, seq := range []uint64{4, 7} {
		q.outRepairs = append(q.outRepairs, kv.OutRepairEntry{OutboxEntry: kv.OutboxEntry{Seq: seq, Origin: seq - 1, Destination: "crm-sync",
			Key: "c1", MessageID: "m1", Value: []byte(`{"id":"c1"}`), At: enqueuedAt(seq)}, Attempts: 20, Reason: "503 Service Unavailable", FailedAt: enqueuedAt(60)})
	}
}

// twoReplicasets gives the cluster a second replicaset, rs2.
func twoReplicasets(f *fakeQueues) {
	f.cluster.Replicasets = []ReplicasetStatus{{Name: "rs1", Group: 1}, {Name: "rs2", Group: 2}}
}

// keyOfRS2 is a key the fake routes to rs2 when there are two.
const keyOfRS2 = "b"

func (f *fakeQueues) Do(ctx context.Context, req kv.Request) (kv.Response, error) {
	if !req.Op.IsQueue() {
		return f.fakeBackend.Do(ctx, req)
	}
	if f.block {
		<-ctx.Done()
		return kv.Response{}, ErrUnknownOutcome
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, cloneRequest(req))
	if f.err != nil {
		return kv.Response{}, f.err
	}
	if f.status != 0 {
		return kv.Response{Status: f.status, Leader: "n2"}, nil
	}
	invalid := func(format string, args ...any) (kv.Response, error) {
		return kv.Response{Status: kv.StatusInvalid, Error: fmt.Sprintf(format, args...)}, nil
	}
	rs := ""
	switch {
	case req.Op == kv.OpEnqueue && req.Message != nil:
		rs = f.route(req.Key)
	case req.Op != kv.OpEnqueue && req.Queue != nil:
		rs = req.Queue.Replicaset
	default:
		return invalid("%s without its message or queue part", req.Op)
	}
	q, ok := f.queue(rs)
	if !ok {
		return invalid("no replicaset is named %q", rs)
	}
	// done is an enqueue's or a repair's answer: where the message is.
	done := func(pos uint64) (kv.Response, error) {
		return kv.Response{Status: kv.StatusOK, Queue: &kv.QueueState{Replicaset: rs, Tail: pos}}, nil
	}
	switch req.Op {
	case kv.OpEnqueue:
		m := req.Message
		if err := m.Check(); err != nil {
			return invalid("%s", err)
		}
		// As core/node does: a full queue is busy before the state
		// machine looks the id up.
		if len(q.waiting) >= f.maxDepth {
			return f.busy(fmt.Sprintf("%d messages waiting", len(q.waiting))), nil
		}
		if pos, ok := q.ids[m.ID]; ok {
			return done(pos)
		}
		return done(q.enqueue(cloneMessage(*m)))
	case kv.OpReadQueue:
		r := req.Queue
		st := q.state()
		var list []kv.RepairEntry
		switch r.List {
		case "":
		case "repair":
			list = q.repairs
		case "queue":
			for _, m := range q.waiting {
				list = append(list, kv.RepairEntry{Queued: m})
			}
		case "outbound":
			for _, e := range q.outRepairs {
				if e.Seq > r.After && len(st.OutEntries) < max(r.Limit, 1) {
					st.OutEntries = append(st.OutEntries, e)
				}
			}
		default:
			return invalid("kv: no queue %q to list (repair, queue, outbound)", r.List)
		}
		limit := r.Limit
		if limit <= 0 || limit > kv.MaxQueuePage {
			limit = kv.MaxQueuePage
		}
		for _, e := range list {
			if e.Seq > r.After && len(st.Entries) < limit {
				st.Entries = append(st.Entries, e)
			}
		}
		return kv.Response{Status: kv.StatusOK, Queue: &st}, nil
	case kv.OpRepair:
		r := req.Queue
		if r.Outbound {
			i := slices.IndexFunc(q.outRepairs, func(e kv.OutRepairEntry) bool { return e.Seq == r.Seq })
			if i < 0 {
				return kv.Response{Status: kv.StatusNotFound, Error: fmt.Sprintf("the outbound repair queue has no entry %d", r.Seq)}, nil
			}
			switch r.Action {
			case kv.RepairPurge, kv.RepairRetry:
				q.outRepairs = slices.Delete(q.outRepairs, i, i+1)
				if r.Action == kv.RepairRetry {
					q.outTail++
					return done(q.outTail)
				}
			case kv.RepairEdit:
				q.outRepairs[i].Value = bytes.Clone(r.Payload)
			}
			return done(0)
		}
		i := q.repair(r.Seq)
		if i < 0 {
			return kv.Response{Status: kv.StatusNotFound, Error: fmt.Sprintf("the repair queue has no entry %d", r.Seq)}, nil
		}
		switch r.Action {
		case kv.RepairPurge:
			q.repairs = slices.Delete(q.repairs, i, i+1)
		case kv.RepairEdit:
			q.repairs[i].Message.Payload = bytes.Clone(r.Payload)
		case kv.RepairRetry:
			if len(q.waiting) >= f.maxDepth {
				return f.busy(fmt.Sprintf("%d messages, %d bytes waiting", len(q.waiting), q.bytes())), nil
			}
			e := q.repairs[i]
			q.repairs = slices.Delete(q.repairs, i, i+1)
			return done(q.push(e.Message, e.Attempts))
		default:
			return invalid("repair without an action (retry, purge, edit)")
		}
		return done(0)
	}
	return invalid("%s is not a queue request", req.Op)
}

// cloneRequest copies what a request points to, so that what the fake
// recorded cannot change under it.
func cloneRequest(req kv.Request) kv.Request {
	if req.Message != nil {
		m := cloneMessage(*req.Message)
		req.Message = &m
	}
	if req.Queue != nil {
		q := *req.Queue
		q.Payload = bytes.Clone(q.Payload)
		req.Queue = &q
	}
	return req
}

func cloneMessage(m kv.Message) kv.Message {
	m.Headers = slices.Clone(m.Headers)
	m.Payload = bytes.Clone(m.Payload)
	return m
}

func (f *fakeQueues) Pipeline(ctx context.Context) (PipelineStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pipeline, f.pipelineErr
}

// SetPipeline decides as group 0 does (cluster.Config.setPipeline): ""
// is none, anything else must parse.
func (f *fakeQueues) SetPipeline(ctx context.Context, source []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set = append(f.set, bytes.Clone(source))
	if f.pipelineErr != nil {
		return 0, f.pipelineErr
	}
	if len(source) > 0 {
		if _, err := handler.ParseWith("pipeline.yaml", source, handler.Options{AllowUnknown: true}); err != nil {
			return 0, fmt.Errorf("%w: pipeline.set: %w", ErrPipelineRefused, err)
		}
	}
	f.pipeline = PipelineStatus{Revision: f.pipeline.Revision + 1, Source: string(source)}
	return f.pipeline.Revision, nil
}

// queueSent is what Do received: every queue request, in order.
func (f *fakeQueues) queueSent() []kv.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// wantEnqueued checks that the backend got one request, an enqueue of
// this message routed by key.
func wantEnqueued(key string, m kv.Message) func(t *testing.T, f *fakeQueues) {
	return func(t *testing.T, f *fakeQueues) {
		t.Helper()
		sent := f.queueSent()
		if len(sent) != 1 || sent[0].Op != kv.OpEnqueue || sent[0].Message == nil {
			t.Fatalf("the backend got %s, want one enqueue", describeSent(sent))
		}
		got := sent[0]
		if got.Key != key || got.Queue != nil || got.Message.ID != m.ID || got.Message.Connector != m.Connector ||
			!slices.Equal(got.Message.Headers, m.Headers) || !bytes.Equal(got.Message.Payload, m.Payload) {
			t.Errorf("the backend got an enqueue routed by %q of %+v (payload %q),\nwant routed by %q %+v (payload %q)",
				got.Key, *got.Message, got.Message.Payload, key, m, m.Payload)
		}
	}
}

// wantQueueSent checks that the backend got these requests of op, in
// order, and nothing else.
func wantQueueSent(op kv.Op, want ...kv.QueueRequest) func(t *testing.T, f *fakeQueues) {
	return func(t *testing.T, f *fakeQueues) {
		t.Helper()
		sent := f.queueSent()
		ok := len(sent) == len(want)
		for i := 0; ok && i < len(sent); i++ {
			got := sent[i].Queue
			ok = sent[i].Op == op && sent[i].Message == nil && got != nil && got.Replicaset == want[i].Replicaset &&
				got.List == want[i].List && got.After == want[i].After && got.Limit == want[i].Limit &&
				got.Action == want[i].Action && got.Seq == want[i].Seq && bytes.Equal(got.Payload, want[i].Payload)
		}
		if !ok {
			var w []kv.Request
			for _, q := range want {
				w = append(w, kv.Request{Op: op, Queue: &q})
			}
			t.Errorf("the backend got %s,\nwant %s", describeSent(sent), describeSent(w))
		}
	}
}

// wantSentTimes checks how many queue requests the backend got.
func wantSentTimes(n int) func(t *testing.T, f *fakeQueues) {
	return func(t *testing.T, f *fakeQueues) {
		t.Helper()
		if sent := f.queueSent(); len(sent) != n {
			t.Errorf("the backend got %s, want %d requests", describeSent(sent), n)
		}
	}
}

func describeSent(sent []kv.Request) string {
	if len(sent) == 0 {
		return "nothing"
	}
	var b strings.Builder
	for i, r := range sent {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s key %q", r.Op, r.Key)
		if r.Message != nil {
			fmt.Fprintf(&b, " message %+v (payload %q)", *r.Message, r.Message.Payload)
		}
		if r.Queue != nil {
			fmt.Fprintf(&b, " queue %+v (payload %q)", *r.Queue, r.Queue.Payload)
		}
	}
	return b.String()
}

// wantQueues checks the positions waiting in rs1's inbound queue and in
// its repair queue, after the request.
func wantQueues(waiting, repairs []uint64) func(t *testing.T, f *fakeQueues) {
	return func(t *testing.T, f *fakeQueues) {
		t.Helper()
		f.mu.Lock()
		defer f.mu.Unlock()
		q, _ := f.queue("rs1")
		var w, r []uint64
		for _, m := range q.waiting {
			w = append(w, m.Seq)
		}
		for _, e := range q.repairs {
			r = append(r, e.Seq)
		}
		if !slices.Equal(w, waiting) || !slices.Equal(r, repairs) {
			t.Errorf("rs1: positions %v waiting and %v in repair, want %v and %v", w, r, waiting, repairs)
		}
	}
}

// all runs every check.
func all(checks ...func(t *testing.T, f *fakeQueues)) func(t *testing.T, f *fakeQueues) {
	return func(t *testing.T, f *fakeQueues) {
		t.Helper()
		for _, c := range checks {
			c(t, f)
		}
	}
}

func TestQueueAPI(t *testing.T) {
	const (
		order   = `{"kind":"order","order_no":"o1"}`
		idError = `{"error":"header Idempotency-Key: want the message's id, 1 to 256 bytes (it makes a message sent twice count once)"}`
		entry1  = `{"position":1,"id":"m1","connector":"shop","headers":{"X-Source":"web"},"enqueued_at":"2024-01-02T03:04:06Z","attempts":1,` +
			`"key":"orders","step":2,"handler":"enrich","reason":"Customer c9 not found","failed_at":"2024-01-02T03:05:06Z",` +
			`"payload":{"kind":"order","order_no":"o1","customer":"c9"}}`
		entry3 = `{"position":3,"id":"m3","connector":"legacy","enqueued_at":"2024-01-02T03:04:08Z","attempts":1,` +
			`"step":-1,"reason":"the payload is no JSON object","failed_at":"2024-01-02T03:05:08Z","payload":"order o2, 3 items"}`
		// rs1 after withRepairs, and empty.
		rs1      = `{"replicaset":"rs1","depth":1,"bytes":32,"head":4,"tail":4,"oldest_at":"2024-01-02T03:04:09Z","repairs":2,"outbound":0,"settled":3`
		rs1Empty = `{"replicaset":"rs1","depth":0,"bytes":0,"head":1,"tail":0,"repairs":0,"outbound":0,"settled":0}`
		unknown  = `{"error":"the outcome is unknown: the request may or may not have taken effect"}`
	)
	id := func(id string) map[string]string { return map[string]string{HeaderMessageID: id} }
	msg := func(connector, id, payload string) kv.Message {
		return kv.Message{ID: id, Connector: connector, Payload: []byte(payload)}
	}
	// full is rs1 with its two places taken.
	full := func(f *fakeQueues) {
		f.maxDepth = 2
		q, _ := f.queue("rs1")
		q.enqueue(msg("shop", "a", `{"n":1}`))
		q.enqueue(msg("shop", "b", `{"n":2}`))
	}
	fullError := `{"error":"the inbound queue is full (2 messages waiting); nothing was enqueued: send it again later"}`
	manyHeaders := id("m1")
	for i := range kv.MaxHeaders + 1 {
		manyHeaders[fmt.Sprintf("X-H%02d", i)] = "v"
	}
	noCluster := func(f *fakeQueues) { f.cluster = ClusterStatus{} }
	withConnectors := func(f *fakeQueues) {
		f.pipeline = PipelineStatus{Revision: 4, Source: string(examples.Pipeline) +
			"connectors:\n  inbound:\n    web: {type: http, max_body: 64, max_items: 2}\n    orders: {type: kafka, brokers: [\"localhost:9092\"], topic: orders}\n" +
			"  outbound:\n    billing: {type: webhook, url: \"http://b.example/\"}\n    warehouse: {type: webhook, url: \"http://w.example/\"}\n    test-sink: {type: webhook, url: \"http://t.example/\"}\n"}
	}
	withPipeline := func(f *fakeQueues) { f.pipeline = PipelineStatus{Revision: 3, Source: string(examples.Pipeline)} }
	wantSet := func(sources ...string) func(t *testing.T, f *fakeQueues) {
		return func(t *testing.T, f *fakeQueues) {
			t.Helper()
			f.mu.Lock()
			defer f.mu.Unlock()
			var got []string
			for _, s := range f.set {
				got = append(got, string(s))
			}
			if !slices.Equal(got, sources) {
				t.Errorf("SetPipeline got %q, want %q", got, sources)
			}
		}
	}
	badPipeline := "routes:\n  default: orders\nchains:\n  orders:\n    - set-typ: Order\n"
	tests := []struct {
		name         string
		plain        bool // a backend that is no PipelineBackend
		setup        func(f *fakeQueues)
		timeout      time.Duration
		maxBody      int64
		method, path string
		header       map[string]string // of the request
		body         string
		status       int
		want         string // the exact body, or with wantPrefix its start
		wantPrefix   bool
		wantHeader   map[string]string
		sent         func(t *testing.T, f *fakeQueues)
	}{
		// POST /v1/ingest/{connector}
		{name: "ingest", method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: order,
			status: 202, want: `{"id":"m1","replicaset":"rs1","position":1}`,
			sent: all(wantEnqueued("m1", msg("shop", "m1", order)), wantQueues([]uint64{1}, nil))},
		{name: "ingest behind others", setup: withRepairs, method: "POST", path: "/v1/ingest/shop", header: id("m5"), body: order,
			status: 202, want: `{"id":"m5","replicaset":"rs1","position":5}`, sent: wantQueues([]uint64{4, 5}, []uint64{1, 3})},
		{name: "ingest a message again", setup: withRepairs, method: "POST", path: "/v1/ingest/shop", header: id("m2"), body: order,
			status: 202, want: `{"id":"m2","replicaset":"rs1","position":2}`,
			sent: all(wantEnqueued("m2", msg("shop", "m2", order)), wantQueues([]uint64{4}, []uint64{1, 3}))},
		{name: "ingest with a key", method: "POST", path: "/v1/ingest/crm", header: map[string]string{HeaderMessageID: "m1", HeaderMessageKey: "c1"}, body: order,
			status: 202, want: `{"id":"m1","replicaset":"rs1","position":1}`, sent: wantEnqueued("c1", msg("crm", "m1", order))},
		{name: "ingest into the key's replicaset", setup: twoReplicasets, method: "POST", path: "/v1/ingest/crm",
			header: map[string]string{HeaderMessageID: "m1", HeaderMessageKey: keyOfRS2}, body: order,
			status: 202, want: `{"id":"m1","replicaset":"rs2","position":1}`, sent: wantEnqueued(keyOfRS2, msg("crm", "m1", order))},
		{name: "ingest with X- headers", method: "POST", path: "/v1/ingest/crm",
			header: map[string]string{HeaderMessageID: "m1", "X-Kind": "customer", "x-test": "1", "Authorization": "Bearer t"}, body: order,
			status: 202, want: `{"id":"m1","replicaset":"rs1","position":1}`,
			sent: wantEnqueued("m1", kv.Message{ID: "m1", Connector: "crm", Headers: []kv.Header{{Name: "X-Kind", Value: "customer"}, {Name: "X-Test", Value: "1"}}, Payload: []byte(order)})},
		{name: "ingest the payload as sent", method: "POST", path: "/v1/ingest/a.b_c-9", header: id("m1"), body: " {\"b\" : [1.50, 2e400],\n\t\"a\": \"\\u00e9\"} \n",
			status: 202, want: `{"id":"m1","replicaset":"rs1","position":1}`,
			sent: wantEnqueued("m1", msg("a.b_c-9", "m1", " {\"b\" : [1.50, 2e400],\n\t\"a\": \"\\u00e9\"} \n"))},
		{name: "ingest with the longest id and connector", method: "POST", path: "/v1/ingest/" + strings.Repeat("c", 64), header: id(strings.Repeat("i", kv.MaxMessageID)), body: `{}`,
			status: 202, want: `{"id":"` + strings.Repeat("i", kv.MaxMessageID) + `","replicaset":"rs1","position":1}`},
		{name: "ingest JSON with a charset", method: "POST", path: "/v1/ingest/shop", header: map[string]string{HeaderMessageID: "m1", "Content-Type": "application/json; charset=utf-8"}, body: order,
			status: 202, want: `{"id":"m1","replicaset":"rs1","position":1}`},
		{name: "ingest a +json type", method: "POST", path: "/v1/ingest/shop", header: map[string]string{HeaderMessageID: "m1", "Content-Type": "application/vnd.shop+json"}, body: order,
			status: 202, want: `{"id":"m1","replicaset":"rs1","position":1}`},
		{name: "ingest as curl -d sends it", method: "POST", path: "/v1/ingest/shop", header: map[string]string{HeaderMessageID: "m1", "Content-Type": "application/x-www-form-urlencoded"}, body: order,
			status: 202, want: `{"id":"m1","replicaset":"rs1","position":1}`},
		{name: "ingest without an id", method: "POST", path: "/v1/ingest/shop", body: order,
			status: 400, want: idError, sent: wantSentTimes(0)},
		{name: "ingest an id too long", method: "POST", path: "/v1/ingest/shop", header: id(strings.Repeat("i", kv.MaxMessageID+1)), body: order,
			status: 400, want: idError, sent: wantSentTimes(0)},
		{name: "ingest a key too long", method: "POST", path: "/v1/ingest/shop", header: map[string]string{HeaderMessageID: "m1", HeaderMessageKey: strings.Repeat("k", MaxKeyLen+1)}, body: order,
			status: 400, want: `{"error":"header Shoal-Key: key: must be 1 to 1024 bytes, got 1025"}`, sent: wantSentTimes(0)},
		{name: "ingest to a bad connector", method: "POST", path: "/v1/ingest/sh%20op", header: id("m1"), body: order,
			status: 400, want: `{"error":"connector \"sh op\": want 1 to 64 letters, digits, '.', '_' or '-'"}`, sent: wantSentTimes(0)},
		{name: "ingest to a connector with a slash", method: "POST", path: "/v1/ingest/a%2Fb", header: id("m1"), body: order,
			status: 400, want: `{"error":"connector \"a/b\": want 1 to 64 letters, digits, '.', '_' or '-'"}`},
		{name: "ingest to a connector name too long", method: "POST", path: "/v1/ingest/" + strings.Repeat("c", 65), header: id("m1"), body: order,
			status: 400, want: `{"error":"connector \"` + strings.Repeat("c", 65) + `\": want 1 to 64 letters, digits, '.', '_' or '-'"}`},
		{name: "ingest without a connector", method: "POST", path: "/v1/ingest/", header: id("m1"), body: order,
			status: 404, want: `{"error":"path \"/v1/ingest/\": no such endpoint"}`},
		{name: "ingest bad JSON", method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: `{"kind": order}`,
			status: 400, want: `{"error":"request body: line 1, column 10: invalid character 'o' looking for beginning of value"}`, sent: wantSentTimes(0)},
		{name: "ingest bad JSON on line 2", method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: "{\"kind\": \"order\",\n  \"n\": 1,}",
			status: 400, want: `{"error":"request body: line 2, column 10: invalid character '}' looking for beginning of object key string"}`},
		{name: "ingest truncated JSON", method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: `{"kind": "order"`,
			status: 400, want: `{"error":"request body: line 1, column 17: unexpected end of the JSON object"}`},
		{name: "ingest an array", method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: ` [{"kind": "order"}]`,
			status: 400, want: `{"error":"request body: want a JSON object, got an array"}`, sent: wantSentTimes(0)},
		{name: "ingest a string", method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: `"order"`,
			status: 400, want: `{"error":"request body: want a JSON object, got a string"}`},
		{name: "ingest a number", method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: `12`,
			status: 400, want: `{"error":"request body: want a JSON object, got a number"}`},
		{name: "ingest null", method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: `null`,
			status: 400, want: `{"error":"request body: want a JSON object, got null"}`},
		{name: "ingest an object and another", method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: order + ` {}`,
			status: 400, want: `{"error":"request body: line 1, column 34: data after the object"}`, sent: wantSentTimes(0)},
		{name: "ingest an object and a word", method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: order + "\nx",
			status: 400, want: `{"error":"request body: line 2, column 1: data after the object"}`, sent: wantSentTimes(0)},
		{name: "ingest an object and a brace", method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: order + `}`,
			status: 400, want: `{"error":"request body: line 1, column 33: data after the object"}`, sent: wantSentTimes(0)},
		{name: "ingest an empty body", method: "POST", path: "/v1/ingest/shop", header: id("m1"),
			status: 400, want: `{"error":"request body: line 1, column 1: unexpected end of the JSON object"}`, sent: wantSentTimes(0)},
		{name: "ingest too many headers", method: "POST", path: "/v1/ingest/shop", header: manyHeaders, body: order,
			status: 400, want: `{"error":"message: 65 headers, at most 64"}`, sent: wantSentTimes(0)},
		{name: "ingest a body beyond the option's bound", maxBody: 16, method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: `{"n":"123456789"}`,
			status: 413, want: `{"error":"request body exceeds 16 bytes"}`, sent: wantSentTimes(0)},
		{name: "ingest a body beyond a message's bound", maxBody: 2 * kv.MaxPayload, method: "POST", path: "/v1/ingest/shop", header: id("m1"),
			body:   `{"n":"` + strings.Repeat("x", kv.MaxPayload) + `"}`,
			status: 413, want: `{"error":"a message of 1048584 bytes: at most 1048576"}`, sent: wantSentTimes(0)},
		{name: "ingest XML", method: "POST", path: "/v1/ingest/shop", header: map[string]string{HeaderMessageID: "m1", "Content-Type": "application/xml"}, body: order,
			status: 415, want: `{"error":"Content-Type \"application/xml\": want application/json"}`, sent: wantSentTimes(0)},
		{name: "ingest into a full queue", setup: full, method: "POST", path: "/v1/ingest/shop", header: id("c"), body: order,
			status: 429, want: fullError, wantHeader: map[string]string{"Retry-After": "2"}, sent: wantQueues([]uint64{1, 2}, nil)},
		// NDJSON batches.
		{name: "ingest a batch", method: "POST", path: "/v1/ingest/shop",
			header: map[string]string{HeaderMessageID: "b1", HeaderMessageKey: "k", "Content-Type": "application/x-ndjson"},
			body:   "{\"n\":1}\n\n{\"n\":2}\r\n",
			status: 202, want: `{"enqueued":2,"items":[{"line":1,"id":"b1/1","replicaset":"rs1","position":1},{"line":3,"id":"b1/3","replicaset":"rs1","position":2}]}`,
			sent: all(wantQueues([]uint64{1, 2}, nil), wantSentTimes(2))},
		{name: "ingest a batch keyed by a field", method: "POST", path: "/v1/ingest/shop",
			header: map[string]string{HeaderMessageID: "b1", HeaderKeyField: "c.id", "Content-Type": "application/jsonl"},
			body:   `{"c":{"id":"x"}}`,
			status: 202, want: `{"enqueued":1,"items":[{"line":1,"id":"b1/1","replicaset":"rs1","position":1}]}`,
			sent: wantEnqueued("x", msg("shop", "b1/1", `{"c":{"id":"x"}}`))},
		{name: "ingest a batch with bad lines", method: "POST", path: "/v1/ingest/shop",
			header: map[string]string{HeaderMessageID: "b1", HeaderKeyField: "id", "Content-Type": "application/x-ndjson"},
			body:   "{\"id\":1}\n[1]\n{\"id\":true}\n{\"x\":1}\n{\"id\": }\n",
			status: 400, want: `{"error":"4 of 5 lines are not messages; nothing was enqueued","enqueued":0,"items":[` +
				`{"line":2,"id":"b1/2","error":"want a JSON object, got an array"},` +
				`{"line":3,"id":"b1/3","error":"field $.id: a key must be a string or a number"},` +
				`{"line":4,"id":"b1/4","error":"no field $.id for the message's key"},` +
				`{"line":5,"id":"b1/5","error":"line 1, column 8: invalid character '}' looking for beginning of value"}]}`,
			sent: wantSentTimes(0)},
		{name: "ingest an empty batch", method: "POST", path: "/v1/ingest/shop",
			header: map[string]string{HeaderMessageID: "b1", "Content-Type": "application/x-ndjson"}, body: "\n\n",
			status: 400, want: `{"error":"request body: no messages (one JSON object per line)"}`},
		{name: "ingest a batch with an id too long", method: "POST", path: "/v1/ingest/shop",
			header: map[string]string{HeaderMessageID: strings.Repeat("i", kv.MaxMessageID-7), "Content-Type": "application/x-ndjson"}, body: "{}",
			status: 400, want: `{"error":"header Idempotency-Key: a batch's id is at most 248 bytes (its messages add their line number)"}`},
		{name: "ingest a batch into a queue that fills", setup: full, method: "POST", path: "/v1/ingest/shop",
			header: map[string]string{HeaderMessageID: "b1", HeaderMessageKey: "k", "Content-Type": "application/x-ndjson"}, body: "{}\n{}",
			status: 429, wantHeader: map[string]string{"Retry-After": "2"},
			want: `{"error":"0 of 2 messages enqueued, then: the inbound queue is full (2 messages waiting); nothing was enqueued: send it again later; send the batch again (the messages taken count once)",` +
				`"enqueued":0,"items":[{"line":1,"id":"b1/1","error":"the inbound queue is full (2 messages waiting); nothing was enqueued: send it again later"},{"line":2,"id":"b1/2"}]}`},
		// Outbound repair entries.
		{name: "outbound repair entries", setup: withOutRepairs, method: "GET", path: "/v1/repair?kind=outbound&after=4",
			status: 200, want: rs1Empty[:len(rs1Empty)-1] + `,"outbound_repairs":2,"outbound_entries":[{"position":7,"destination":"crm-sync","idempotency_key":"rs1-6","key":"c1",` +
				`"message_id":"m1","queued_at":"2024-01-02T03:04:12Z","attempts":20,"reason":"503 Service Unavailable","failed_at":"2024-01-02T03:05:05Z","payload":{"id":"c1"}}]}`,
			sent: wantQueueSent(kv.OpReadQueue, kv.QueueRequest{Replicaset: "rs1", List: "outbound", After: 4})},
		{name: "an outbound repair entry", setup: withOutRepairs, method: "GET", path: "/v1/repair/rs1/4?kind=outbound",
			status: 200, want: `{"position":4,"destination":"crm-sync","idempotency_key":"rs1-3","key":"c1",` +
				`"message_id":"m1","queued_at":"2024-01-02T03:04:09Z","attempts":20,"reason":"503 Service Unavailable","failed_at":"2024-01-02T03:05:05Z","payload":{"id":"c1"}}`},
		{name: "an outbound repair entry missing", setup: withOutRepairs, method: "GET", path: "/v1/repair/rs1/5?kind=outbound",
			status: 404, want: `{"error":"the outbound repair entries of rs1 have no entry 5"}`},
		{name: "retry an outbound repair entry", setup: withOutRepairs, method: "POST", path: "/v1/repair/rs1/7/retry?kind=outbound",
			status: 200, want: `{"action":"retry","kind":"outbound","position":7,"queued_at":10,"replicaset":"rs1"}`,
			sent: wantQueueSent(kv.OpRepair, kv.QueueRequest{Replicaset: "rs1", Action: kv.RepairRetry, Seq: 7, Outbound: true})},
		{name: "purge a missing outbound repair entry", setup: withOutRepairs, method: "DELETE", path: "/v1/repair/rs1/5?kind=outbound",
			status: 404, want: `{"error":"the outbound repair queue has no entry 5"}`},
		{name: "repair of an unknown kind", method: "GET", path: "/v1/repair?kind=sideways",
			status: 400, want: `{"error":"kind \"sideways\": want inbound or outbound"}`, sent: wantSentTimes(0)},
		// Declared connectors.
		{name: "ingest to a declared connector", setup: withConnectors, method: "POST", path: "/v1/ingest/web", header: id("m1"), body: order,
			status: 202, want: `{"id":"m1","replicaset":"rs1","position":1}`},
		{name: "ingest to an undeclared connector", setup: withConnectors, method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: order,
			status: 404, want: `{"error":"no inbound connector \"shop\": the pipeline declares these http and shoal connectors: web"}`, sent: wantSentTimes(0)},
		{name: "ingest to a kafka connector", setup: withConnectors, method: "POST", path: "/v1/ingest/orders", header: id("m1"), body: order,
			status: 404, want: `{"error":"inbound connector \"orders\" is of type kafka, not http or shoal: it takes no HTTP requests"}`},
		{name: "ingest over a connector's max_body", setup: withConnectors, method: "POST", path: "/v1/ingest/web", header: id("m1"), body: `{"n":"` + strings.Repeat("x", 64) + `"}`,
			status: 413, want: `{"error":"a message of 72 bytes: connector web takes at most 64 (max_body)"}`},
		{name: "ingest over a connector's max_items", setup: withConnectors, method: "POST", path: "/v1/ingest/web",
			header: map[string]string{HeaderMessageID: "b1", "Content-Type": "application/x-ndjson"}, body: "{}\n{}\n{}",
			status: 413, want: `{"error":"more than 2 messages in one request (max_items of connector web)"}`, sent: wantSentTimes(0)},
		{name: "ingest into a full queue, to wait a moment", setup: func(f *fakeQueues) { full(f); f.retryAfter = time.Millisecond },
			method: "POST", path: "/v1/ingest/shop", header: id("c"), body: order,
			status: 429, want: fullError, wantHeader: map[string]string{"Retry-After": "1"}},
		{name: "ingest into a full queue, to wait whole seconds", setup: func(f *fakeQueues) { full(f); f.retryAfter = 3 * time.Second },
			method: "POST", path: "/v1/ingest/shop", header: id("c"), body: order,
			status: 429, want: fullError, wantHeader: map[string]string{"Retry-After": "3"}},
		{name: "ingest into a full queue, no time said", setup: func(f *fakeQueues) { full(f); f.retryAfter = 0 },
			method: "POST", path: "/v1/ingest/shop", header: id("c"), body: order,
			status: 429, want: fullError, wantHeader: map[string]string{"Retry-After": "1"}},
		{name: "ingest unavailable", setup: func(f *fakeQueues) { f.err = fmt.Errorf("%w: no leader is known", ErrUnavailable) },
			method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: order,
			status: 503, want: `{"error":"unavailable, nothing was done: no leader is known"}`, wantHeader: map[string]string{"Retry-After": "1"}},
		{name: "ingest, outcome unknown", setup: func(f *fakeQueues) { f.err = ErrUnknownOutcome },
			method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: order,
			status: 504, want: unknown},
		{name: "ingest past the timeout", setup: func(f *fakeQueues) { f.block = true }, timeout: 20 * time.Millisecond,
			method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: order,
			status: 504, want: unknown},
		{name: "ingest and the backend fails", setup: func(f *fakeQueues) { f.err = errors.New("disk on fire") },
			method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: order,
			status: 500, want: `{"error":"internal error: disk on fire"}`},
		{name: "ingest and the backend redirects", setup: func(f *fakeQueues) { f.status = kv.StatusRedirect },
			method: "POST", path: "/v1/ingest/shop", header: id("m1"), body: order,
			status: 503, want: `{"error":"unavailable, nothing was done (this node could not forward the request: leader \"n2\", hint \"\")"}`,
			sent: wantSentTimes(1)},
		{name: "get an ingest", method: "GET", path: "/v1/ingest/shop",
			status: 405, want: `{"error":"GET /v1/ingest/shop: method not allowed (allowed: POST)"}`, wantHeader: map[string]string{"Allow": "POST"}},

		// GET /v1/queue
		{name: "queues", method: "GET", path: "/v1/queue",
			status: 200, want: `[` + rs1Empty + `]`, sent: wantQueueSent(kv.OpReadQueue, kv.QueueRequest{Replicaset: "rs1"})},
		{name: "queues with messages", setup: withRepairs, method: "GET", path: "/v1/queue",
			status: 200, want: `[` + rs1 + `}]`},
		{name: "queues of two replicasets", setup: func(f *fakeQueues) { withRepairs(f); twoReplicasets(f) }, method: "GET", path: "/v1/queue",
			status: 200, want: `[` + rs1 + `},{"replicaset":"rs2","depth":0,"bytes":0,"head":1,"tail":0,"repairs":0,"outbound":0,"settled":0}]`,
			sent: wantQueueSent(kv.OpReadQueue, kv.QueueRequest{Replicaset: "rs1"}, kv.QueueRequest{Replicaset: "rs2"})},
		{name: "queues of a cluster without replicasets", setup: noCluster, method: "GET", path: "/v1/queue",
			status: 200, want: `[]`, sent: wantSentTimes(0)},
		{name: "queues unavailable", setup: func(f *fakeQueues) { f.err = ErrUnavailable }, method: "GET", path: "/v1/queue",
			status: 503, want: `{"error":"unavailable, nothing was done"}`, wantHeader: map[string]string{"Retry-After": "1"}},
		{name: "post the queues", method: "POST", path: "/v1/queue",
			status: 405, want: `{"error":"POST /v1/queue: method not allowed (allowed: GET, HEAD)"}`},

		// GET /v1/repair
		{name: "repair queue", setup: withRepairs, method: "GET", path: "/v1/repair",
			status: 200, want: rs1 + `,"entries":[` + entry1 + `,` + entry3 + `]}`,
			sent: wantQueueSent(kv.OpReadQueue, kv.QueueRequest{Replicaset: "rs1", List: "repair"})},
		{name: "repair queue after 1", setup: withRepairs, method: "GET", path: "/v1/repair?after=1",
			status: 200, want: rs1 + `,"entries":[` + entry3 + `]}`,
			sent: wantQueueSent(kv.OpReadQueue, kv.QueueRequest{Replicaset: "rs1", List: "repair", After: 1})},
		{name: "repair queue, one entry", setup: withRepairs, method: "GET", path: "/v1/repair?limit=1",
			status: 200, want: rs1 + `,"entries":[` + entry1 + `]}`,
			sent: wantQueueSent(kv.OpReadQueue, kv.QueueRequest{Replicaset: "rs1", List: "repair", Limit: 1})},
		{name: "repair queue after the last", setup: withRepairs, method: "GET", path: "/v1/repair?replicaset=rs1&after=3&limit=1000",
			status: 200, want: rs1 + `}`,
			sent: wantQueueSent(kv.OpReadQueue, kv.QueueRequest{Replicaset: "rs1", List: "repair", After: 3, Limit: 1000})},
		{name: "repair queue of a replicaset", setup: func(f *fakeQueues) { withRepairs(f); twoReplicasets(f) }, method: "GET", path: "/v1/repair?replicaset=rs2",
			status: 200, want: `{"replicaset":"rs2","depth":0,"bytes":0,"head":1,"tail":0,"repairs":0,"outbound":0,"settled":0}`,
			sent: wantQueueSent(kv.OpReadQueue, kv.QueueRequest{Replicaset: "rs2", List: "repair"})},
		{name: "repair queue of which replicaset", setup: twoReplicasets, method: "GET", path: "/v1/repair",
			status: 400, want: `{"error":"replicaset: the cluster has 2 replicasets (rs1, rs2): name one, such as ?replicaset=rs1"}`, sent: wantSentTimes(0)},
		{name: "repair queue of an unknown replicaset", method: "GET", path: "/v1/repair?replicaset=rs9",
			status: 400, want: `{"error":"no replicaset is named \"rs9\""}`},
		{name: "repair queue of a cluster without replicasets", setup: noCluster, method: "GET", path: "/v1/repair",
			status: 503, want: `{"error":"unavailable, nothing was done: the cluster has no replicaset yet"}`, sent: wantSentTimes(0)},
		{name: "repair queue after a word", method: "GET", path: "/v1/repair?after=x",
			status: 400, want: `{"error":"after: want an integer from 0 to 18446744073709551614, got \"x\""}`, sent: wantSentTimes(0)},
		{name: "repair queue after a negative", method: "GET", path: "/v1/repair?after=-1",
			status: 400, want: `{"error":"after: want an integer from 0 to 18446744073709551614, got \"-1\""}`},
		{name: "repair queue after the end", method: "GET", path: "/v1/repair?after=18446744073709551615",
			status: 400, want: `{"error":"after: want an integer from 0 to 18446744073709551614, got \"18446744073709551615\""}`},
		{name: "repair queue, no entries", method: "GET", path: "/v1/repair?limit=0",
			status: 400, want: `{"error":"limit: want an integer from 1 to 1000, got \"0\""}`, sent: wantSentTimes(0)},
		{name: "repair queue, too many entries", method: "GET", path: "/v1/repair?limit=1001",
			status: 400, want: `{"error":"limit: want an integer from 1 to 1000, got \"1001\""}`},
		{name: "repair queue, a limit in words", method: "GET", path: "/v1/repair?limit=ten",
			status: 400, want: `{"error":"limit: want an integer from 1 to 1000, got \"ten\""}`},
		{name: "repair queue unavailable", setup: func(f *fakeQueues) { f.err = ErrUnavailable }, method: "GET", path: "/v1/repair?replicaset=rs1",
			status: 503, want: `{"error":"unavailable, nothing was done"}`},

		// GET /v1/repair/{replicaset}/{position}
		{name: "repair entry", setup: withRepairs, method: "GET", path: "/v1/repair/rs1/1",
			status: 200, want: entry1, sent: wantQueueSent(kv.OpReadQueue, kv.QueueRequest{Replicaset: "rs1", List: "repair", Limit: 1})},
		{name: "repair entry that is no JSON", setup: withRepairs, method: "GET", path: "/v1/repair/rs1/3",
			status: 200, want: entry3, sent: wantQueueSent(kv.OpReadQueue, kv.QueueRequest{Replicaset: "rs1", List: "repair", After: 2, Limit: 1})},
		{name: "repair entry of a message stored", setup: withRepairs, method: "GET", path: "/v1/repair/rs1/2",
			status: 404, want: `{"error":"the repair queue of rs1 has no entry 2"}`},
		{name: "repair entry beyond the tail", setup: withRepairs, method: "GET", path: "/v1/repair/rs1/9",
			status: 404, want: `{"error":"the repair queue of rs1 has no entry 9"}`},
		{name: "repair entry 0", method: "GET", path: "/v1/repair/rs1/0",
			status: 400, want: `{"error":"position \"0\": want the entry's position, a positive integer"}`, sent: wantSentTimes(0)},
		{name: "repair entry x", method: "DELETE", path: "/v1/repair/rs1/x",
			status: 400, want: `{"error":"position \"x\": want the entry's position, a positive integer"}`, sent: wantSentTimes(0)},
		{name: "repair entry of an unknown replicaset", method: "GET", path: "/v1/repair/rs9/1",
			status: 400, want: `{"error":"no replicaset is named \"rs9\""}`},
		{name: "repair entry with a path too deep", method: "GET", path: "/v1/repair/rs1/1/x",
			status: 404, want: `{"error":"path \"/v1/repair/rs1/1/x\": no such endpoint"}`},
		{name: "post a repair entry", method: "POST", path: "/v1/repair/rs1/1",
			status: 405, want: `{"error":"POST /v1/repair/rs1/1: method not allowed (allowed: DELETE, GET, HEAD, PUT)"}`},

		// PUT /v1/repair/{replicaset}/{position}
		{name: "edit", setup: withRepairs, method: "PUT", path: "/v1/repair/rs1/1", body: `{"kind":"order","order_no":"o1","customer":"c1"}`,
			status: 200, want: `{"action":"edit","position":1,"replicaset":"rs1"}`,
			sent: all(wantQueueSent(kv.OpRepair, kv.QueueRequest{Replicaset: "rs1", Action: kv.RepairEdit, Seq: 1, Payload: []byte(`{"kind":"order","order_no":"o1","customer":"c1"}`)}),
				wantQueues([]uint64{4}, []uint64{1, 3}))},
		{name: "edit to an array", setup: withRepairs, method: "PUT", path: "/v1/repair/rs1/1", body: `[1]`,
			status: 400, want: `{"error":"request body: want a JSON object, got an array"}`, sent: wantSentTimes(0)},
		{name: "edit to bad JSON", setup: withRepairs, method: "PUT", path: "/v1/repair/rs1/1", body: "{\n\"a\" 1}",
			status: 400, want: `{"error":"request body: line 2, column 5: invalid character '1' after object key"}`, sent: wantSentTimes(0)},
		{name: "edit to nothing", setup: withRepairs, method: "PUT", path: "/v1/repair/rs1/1",
			status: 400, want: `{"error":"request body: line 1, column 1: unexpected end of the JSON object"}`, sent: wantSentTimes(0)},
		{name: "edit to XML", setup: withRepairs, method: "PUT", path: "/v1/repair/rs1/1", header: map[string]string{"Content-Type": "text/xml"}, body: `{}`,
			status: 415, want: `{"error":"Content-Type \"text/xml\": want application/json"}`},
		{name: "edit beyond the option's bound", maxBody: 8, method: "PUT", path: "/v1/repair/rs1/1", body: `{"a":"123"}`,
			status: 413, want: `{"error":"request body exceeds 8 bytes"}`},
		{name: "edit a message stored", setup: withRepairs, method: "PUT", path: "/v1/repair/rs1/2", body: `{}`,
			status: 404, want: `{"error":"the repair queue has no entry 2"}`},

		// POST /v1/repair/{replicaset}/{position}/retry
		{name: "retry", setup: withRepairs, method: "POST", path: "/v1/repair/rs1/1/retry",
			status: 200, want: `{"action":"retry","position":1,"queued_at":5,"replicaset":"rs1"}`,
			sent: all(wantQueueSent(kv.OpRepair, kv.QueueRequest{Replicaset: "rs1", Action: kv.RepairRetry, Seq: 1}), wantQueues([]uint64{4, 5}, []uint64{3}))},
		{name: "retry into a full queue", setup: func(f *fakeQueues) { withRepairs(f); f.maxDepth = 1 }, method: "POST", path: "/v1/repair/rs1/3/retry",
			status: 429, want: `{"error":"the inbound queue is full (1 messages, 32 bytes waiting); nothing was enqueued: send it again later"}`,
			wantHeader: map[string]string{"Retry-After": "2"}, sent: wantQueues([]uint64{4}, []uint64{1, 3})},
		{name: "retry a message stored", setup: withRepairs, method: "POST", path: "/v1/repair/rs1/2/retry",
			status: 404, want: `{"error":"the repair queue has no entry 2"}`},
		{name: "retry, outcome unknown", setup: func(f *fakeQueues) { f.err = ErrUnknownOutcome }, method: "POST", path: "/v1/repair/rs1/1/retry",
			status: 504, want: unknown},
		{name: "retry redirected", setup: func(f *fakeQueues) { withRepairs(f); f.status = kv.StatusRedirect }, method: "POST", path: "/v1/repair/rs1/1/retry",
			status: 503, want: `{"error":"unavailable, nothing was done (this node could not forward the request: leader \"n2\", hint \"\")"}`,
			sent: wantSentTimes(1)},
		{name: "get a retry", method: "GET", path: "/v1/repair/rs1/1/retry",
			status: 405, want: `{"error":"GET /v1/repair/rs1/1/retry: method not allowed (allowed: POST)"}`},

		// DELETE /v1/repair/{replicaset}/{position}
		{name: "purge", setup: withRepairs, method: "DELETE", path: "/v1/repair/rs1/3",
			status: 200, want: `{"action":"purge","position":3,"replicaset":"rs1"}`,
			sent: all(wantQueueSent(kv.OpRepair, kv.QueueRequest{Replicaset: "rs1", Action: kv.RepairPurge, Seq: 3}), wantQueues([]uint64{4}, []uint64{1}))},
		{name: "purge a message stored", setup: withRepairs, method: "DELETE", path: "/v1/repair/rs1/2",
			status: 404, want: `{"error":"the repair queue has no entry 2"}`, sent: wantQueues([]uint64{4}, []uint64{1, 3})},
		{name: "purge in an unknown replicaset", method: "DELETE", path: "/v1/repair/rs9/1",
			status: 400, want: `{"error":"no replicaset is named \"rs9\""}`},

		// GET /v1/pipeline
		{name: "no pipeline", method: "GET", path: "/v1/pipeline",
			status: 200, want: `{"revision":0,"source":""}`},
		{name: "pipeline", setup: withPipeline, method: "GET", path: "/v1/pipeline",
			status: 200, want: `{"revision":3,"source":"# The example pipeline`, wantPrefix: true},
		{name: "pipeline unavailable", setup: func(f *fakeQueues) { f.pipelineErr = fmt.Errorf("%w: %w", ErrUnavailable, ErrNotFormed) }, method: "GET", path: "/v1/pipeline",
			status: 503, want: `{"error":"unavailable, nothing was done: ` + ErrNotFormed.Error() + `"}`},
		{name: "pipeline of a node without one", plain: true, method: "GET", path: "/v1/pipeline",
			status: 501, want: `{"error":"this node serves no pipeline"}`},
		{name: "delete the pipeline", method: "DELETE", path: "/v1/pipeline",
			status: 405, want: `{"error":"DELETE /v1/pipeline: method not allowed (allowed: GET, HEAD, PUT)"}`},

		// PUT /v1/pipeline
		{name: "put the pipeline", method: "PUT", path: "/v1/pipeline", header: map[string]string{"Content-Type": "application/yaml"}, body: string(examples.Pipeline),
			status: 200, want: `{"revision":1}`, sent: wantSet(string(examples.Pipeline))},
		{name: "put the next pipeline as curl -d sends it", setup: withPipeline, method: "PUT", path: "/v1/pipeline",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: string(examples.Pipeline),
			status: 200, want: `{"revision":4}`},
		{name: "put an invalid pipeline", method: "PUT", path: "/v1/pipeline", body: badPipeline,
			status: 400, want: `{"error":"pipeline.yaml:5: chains.orders[0]: unknown handler \"set-typ\" (did you mean set-type?)"}`, sent: wantSet()},
		{name: "put a pipeline of bad YAML", method: "PUT", path: "/v1/pipeline", body: "routes: {default: k}\nchains: [\n",
			status: 400, want: `{"error":"pipeline.yaml:2: invalid YAML: did not find expected node content"}`, sent: wantSet()},
		{name: "put a refused pipeline", setup: func(f *fakeQueues) {
			f.pipelineErr = fmt.Errorf("%w: chains.orders[5]: the model has no type \"Order\"", ErrPipelineRefused)
		}, method: "PUT", path: "/v1/pipeline", body: string(examples.Pipeline),
			status: 422, want: `{"error":"pipeline refused: chains.orders[5]: the model has no type \"Order\""}`, sent: wantSet(string(examples.Pipeline))},
		{name: "put a pipeline undecided", setup: func(f *fakeQueues) {
			f.pipelineErr = fmt.Errorf("%w: group 0 did not take the pipeline in time", ErrUnknownOutcome)
		}, method: "PUT", path: "/v1/pipeline", body: string(examples.Pipeline),
			status: 504, want: `{"error":"the outcome is unknown: the request may or may not have taken effect: group 0 did not take the pipeline in time"}`},
		{name: "put a pipeline unavailable", setup: func(f *fakeQueues) { f.pipelineErr = fmt.Errorf("%w: the instance is stopping", ErrUnavailable) },
			method: "PUT", path: "/v1/pipeline", body: string(examples.Pipeline),
			status: 503, want: `{"error":"unavailable, nothing was done: the instance is stopping"}`},
		{name: "clear the pipeline", setup: withPipeline, method: "PUT", path: "/v1/pipeline",
			status: 200, want: `{"revision":4}`, sent: all(wantSet(""), func(t *testing.T, f *fakeQueues) {
				if st, _ := f.Pipeline(context.Background()); st != (PipelineStatus{Revision: 4}) {
					t.Errorf("the pipeline is %+v, want none at revision 4", st)
				}
			})},
		{name: "clear the pipeline with a blank line", setup: withPipeline, method: "PUT", path: "/v1/pipeline", body: " \n",
			status: 200, want: `{"revision":4}`, sent: wantSet("")},
		{name: "put a pipeline as XML", method: "PUT", path: "/v1/pipeline", header: map[string]string{"Content-Type": "application/xml"}, body: string(examples.Pipeline),
			status: 415, want: `{"error":"Content-Type \"application/xml\": want application/yaml"}`, sent: wantSet()},
		{name: "put a pipeline beyond the option's bound", maxBody: 100, method: "PUT", path: "/v1/pipeline", body: string(examples.Pipeline),
			status: 413, want: `{"error":"request body exceeds 100 bytes"}`, sent: wantSet()},
		{name: "put a pipeline to a node without one", plain: true, method: "PUT", path: "/v1/pipeline", body: string(examples.Pipeline),
			status: 501, want: `{"error":"this node serves no pipeline"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeQueues()
			if tc.setup != nil {
				tc.setup(f)
			}
			var b Backend = f
			if tc.plain {
				b = f.fakeBackend
			}
			srv := httptest.NewServer(NewAPI(b, APIOptions{Logger: quiet, Timeout: tc.timeout, MaxBody: tc.maxBody}))
			defer srv.Close()
			got := callWith(t, srv, tc.method, tc.path, tc.header, tc.body)
			if got.status != tc.status || (tc.wantPrefix && !strings.HasPrefix(got.body, tc.want)) || (!tc.wantPrefix && got.body != tc.want) {
				t.Errorf("%s %s: got %d %s\nwant %d %s", tc.method, tc.path, got.status, got.body, tc.status, tc.want)
			}
			for k, v := range tc.wantHeader {
				if got.header.Get(k) != v {
					t.Errorf("header %s: got %q, want %q", k, got.header.Get(k), v)
				}
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if tc.sent != nil {
				tc.sent(t, f)
			}
		})
	}
}

// TestQueueAPISequence follows messages through one backend: two come
// in, one of them twice; the first fails, and an operator reads, edits
// and retries it; the second fails and is purged. Then the pipeline is
// set and cleared.
func TestQueueAPISequence(t *testing.T) {
	f := newFakeQueues()
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
	defer srv.Close()
	id := func(id string) map[string]string { return map[string]string{HeaderMessageID: id} }
	// fail has the pipeline fail the message at the head of rs1.
	fail := func(reason string) func() {
		return func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			q, _ := f.queue("rs1")
			q.settle(&kv.Failure{Handler: "set-type", Reason: reason})
		}
	}
	m1 := `{"position":1,"id":"m1","connector":"shop","enqueued_at":"2024-01-02T03:04:06Z","attempts":1,"step":0,"handler":"set-type",` +
		`"reason":"the model has no type \"Order\"","failed_at":"2024-01-02T03:05:06Z","payload":`
	steps := []struct {
		before       func()
		method, path string
		header       map[string]string
		body         string
		status       int
		want         string
	}{
		{nil, "POST", "/v1/ingest/shop", id("m1"), `{"n":1}`, 202, `{"id":"m1","replicaset":"rs1","position":1}`},
		{nil, "POST", "/v1/ingest/shop", id("m2"), `{"n":2}`, 202, `{"id":"m2","replicaset":"rs1","position":2}`},
		{nil, "POST", "/v1/ingest/shop", id("m1"), `{"n":1}`, 202, `{"id":"m1","replicaset":"rs1","position":1}`},
		{nil, "GET", "/v1/queue", nil, "", 200,
			`[{"replicaset":"rs1","depth":2,"bytes":14,"head":1,"tail":2,"oldest_at":"2024-01-02T03:04:06Z","repairs":0,"outbound":0,"settled":0}]`},
		{fail(`the model has no type "Order"`), "GET", "/v1/repair", nil, "", 200,
			`{"replicaset":"rs1","depth":1,"bytes":7,"head":2,"tail":2,"oldest_at":"2024-01-02T03:04:07Z","repairs":1,"outbound":0,"settled":1,` +
				`"entries":[` + m1 + `{"n":1}}]}`},
		{nil, "PUT", "/v1/repair/rs1/1", nil, `{"n": 10}`, 200, `{"action":"edit","position":1,"replicaset":"rs1"}`},
		{nil, "GET", "/v1/repair/rs1/1", nil, "", 200, m1 + `{"n":10}}`},
		{nil, "POST", "/v1/repair/rs1/1/retry", nil, "", 200, `{"action":"retry","position":1,"queued_at":3,"replicaset":"rs1"}`},
		{nil, "GET", "/v1/repair/rs1/1", nil, "", 404, `{"error":"the repair queue of rs1 has no entry 1"}`},
		{nil, "POST", "/v1/repair/rs1/1/retry", nil, "", 404, `{"error":"the repair queue has no entry 1"}`},
		{fail("no chain"), "DELETE", "/v1/repair/rs1/2", nil, "", 200, `{"action":"purge","position":2,"replicaset":"rs1"}`},
		{nil, "DELETE", "/v1/repair/rs1/2", nil, "", 404, `{"error":"the repair queue has no entry 2"}`},
		{nil, "GET", "/v1/queue", nil, "", 200,
			`[{"replicaset":"rs1","depth":1,"bytes":9,"head":3,"tail":3,"oldest_at":"2024-01-02T03:04:08Z","repairs":0,"outbound":0,"settled":2}]`},
		{nil, "GET", "/v1/pipeline", nil, "", 200, `{"revision":0,"source":""}`},
		{nil, "PUT", "/v1/pipeline", nil, string(examples.Pipeline), 200, `{"revision":1}`},
		{nil, "PUT", "/v1/pipeline", nil, "", 200, `{"revision":2}`},
		{nil, "GET", "/v1/pipeline", nil, "", 200, `{"revision":2,"source":""}`},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		got := callWith(t, srv, s.method, s.path, s.header, s.body)
		if got.status != s.status || got.body != s.want {
			t.Fatalf("%s %s: got %d %s\nwant %d %s", s.method, s.path, got.status, got.body, s.status, s.want)
		}
	}
}

// TestIngestHeaders: a message carries the request's X- headers, by
// canonical name, sorted, a repeated header's values joined; no other
// header; and the key Shoal-Key names, else its id.
func TestIngestHeaders(t *testing.T) {
	tests := []struct {
		name    string
		header  http.Header // beside Idempotency-Key: m1
		key     string
		headers []kv.Header
	}{
		{name: "X- headers, sorted", header: http.Header{"X-Test": {"1"}, "X-Kind": {"customer"}, "X-Empty": {""}},
			key: "m1", headers: []kv.Header{{Name: "X-Empty"}, {Name: "X-Kind", Value: "customer"}, {Name: "X-Test", Value: "1"}}},
		{name: "names sent in any case, canonical", header: http.Header{"x-source": {"web"}, "X-ORDER-ID": {"o1"}},
			key: "m1", headers: []kv.Header{{Name: "X-Order-Id", Value: "o1"}, {Name: "X-Source", Value: "web"}}},
		{name: "a repeated header, its values joined in order", header: http.Header{"X-Tag": {"b", "a, c"}},
			key: "m1", headers: []kv.Header{{Name: "X-Tag", Value: "b, a, c"}}},
		{name: "no other header", header: http.Header{"Authorization": {"Bearer secret"}, "Content-Type": {"application/json"},
			"User-Agent": {"connector/1"}, "Xylophone": {"no"}, "Shoal-Trace": {"no"}, "Accept": {"*/*"}},
			key: "m1"},
		{name: "a key", header: http.Header{HeaderMessageKey: {"c1"}, "X-Kind": {"customer"}},
			key: "c1", headers: []kv.Header{{Name: "X-Kind", Value: "customer"}}},
		{name: "an empty key: the id", header: http.Header{HeaderMessageKey: {""}}, key: "m1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeQueues()
			srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
			defer srv.Close()
			req, err := http.NewRequest("POST", srv.URL+"/v1/ingest/crm", strings.NewReader(`{"a":1}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tc.header.Clone()
			req.Header.Set(HeaderMessageID, "m1")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("status %d, want 202", resp.StatusCode)
			}
			wantEnqueued(tc.key, kv.Message{ID: "m1", Connector: "crm", Headers: tc.headers, Payload: []byte(`{"a":1}`)})(t, f)
		})
	}
}

// ingestDirect posts body to u without a network, as serveDirect does,
// with the id header set.
func ingestDirect(h http.Handler, u *url.URL, id, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
	req.URL, req.RequestURI = u, u.RequestURI()
	req.Header.Set(HeaderMessageID, id)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// asJSON is s as a JSON answer carries it: invalid UTF-8 replaced.
func asJSON(s string) string {
	b, _ := json.Marshal(s)
	json.Unmarshal(b, &s)
	return s
}

// ingestType reports whether POST /v1/ingest takes a body of this
// Content-Type: none, JSON, or what curl -d or a bare text body send.
func ingestType(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (strings.HasSuffix(mt, "+json") || slices.Contains([]string{"application/json", "text/plain", "application/x-www-form-urlencoded"}, mt))
}

func batchType(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/x-ndjson" || mt == "application/jsonl"
}

// FuzzIngestBatch: whatever the lines, an NDJSON batch is answered 202
// with every line enqueued as sent, or a client's error with nothing
// enqueued (400, 413), or, its queue full, 429 with what was taken.
func FuzzIngestBatch(f *testing.F) {
	for _, s := range []struct{ body, id string }{
		{"{}\n{}\n", "b1"}, {"{\"a\":1}\r\n\n[1]", "b1"}, {"", "b1"}, {"\n", "b1"}, {"{}", ""},
		{"{\"a\":\"\xff\"}", "b1"}, {"{}\n{}\n{}", "b1"}, {"{} {}\n", "b1"}, {strings.Repeat("{}\n", 5), strings.Repeat("i", 250)},
	} {
		f.Add([]byte(s.body), s.id)
	}
	fq := newFakeQueues()
	h := NewAPI(fq, APIOptions{Logger: quiet})
	f.Fuzz(func(t *testing.T, body []byte, id string) {
		fq.mu.Lock()
		fq.queues, fq.sent, fq.maxDepth = map[string]*fakeQueue{}, nil, 3
		fq.mu.Unlock()
		u := &url.URL{Path: "/v1/ingest/shop"}
		what := fmt.Sprintf("POST a batch (id %q) %q", id, body)
		rec := ingestDirect(h, u, id, "application/x-ndjson", body)
		checkAnswer(t, what, rec)
		sent := fq.queueSent()
		var lines []string
		for _, l := range strings.Split(string(body), "\n") {
			if strings.TrimSpace(strings.TrimSuffix(l, "\r")) != "" {
				lines = append(lines, strings.TrimSuffix(l, "\r"))
			}
		}
		switch rec.Code {
		case 202:
			if len(sent) != len(lines) {
				t.Fatalf("%s: 202, and the backend got %d messages for %d lines", what, len(sent), len(lines))
			}
			for _, req := range sent {
				if !slices.Contains(lines, string(req.Message.Payload)) || !strings.HasPrefix(req.Message.ID, id+"/") {
					t.Fatalf("%s: 202, and the backend got %s", what, describeSent(sent))
				}
			}
		case 429:
			if len(sent) < 3 {
				t.Fatalf("%s: 429 with %d messages sent into a queue of 3 places", what, len(sent))
			}
		case 400, 413:
			if len(sent) != 0 {
				t.Fatalf("%s: %d %s, but the backend got %s", what, rec.Code, rec.Body, describeSent(sent))
			}
		default:
			t.Fatalf("%s: %d %s, want 202, 400, 413 or 429", what, rec.Code, rec.Body)
		}
	})
}

// FuzzIngest: whatever the body, id, connector and Content-Type, POST
// /v1/ingest answers 202 or a client's error in JSON, never 5xx. A
// well-formed message is taken, exactly as sent; sent again it keeps its
// position; a second one comes after it, and a third finds the queue (of
// two places) full.
func FuzzIngest(f *testing.F) {
	const maxBody = 4096
	for _, s := range []struct{ body, id, connector, contentType string }{
		{`{"kind":"order"}`, "m1", "shop", ""},
		{`{"kind":"order"}`, "m1", "shop", "application/json; charset=utf-8"},
		{" {\"a\" : [1.50, 2e400, \"\\u00e9\"],\n\"a\": {}} \n", "m2", "a.b_c-9", "text/plain"},
		{`{}`, strings.Repeat("i", kv.MaxMessageID), strings.Repeat("c", 64), "application/x-www-form-urlencoded"},
		{`{}`, strings.Repeat("i", kv.MaxMessageID+1), strings.Repeat("c", 65), ""},
		{`{"a":"` + strings.Repeat("x", maxBody) + `"}`, "m1", "shop", ""},
		{`[]`, "m1", "shop", ""}, {``, "m1", "shop", ""}, {`null`, "m1", "shop", ""}, {`"x"`, "m1", "shop", ""},
		{`{"a":1} x`, "m1", "shop", ""}, {`{"a":1}}`, "m1", "shop", ""}, {`{"a":1} {}`, "m1", "shop", ""}, {`{"a":`, "m1", "shop", ""},
		{"\xff", "m1", "shop", ""}, {"{\"a\":\"\xff\"}", "m1", "shop", ""}, {"\ufeff{}", "m1", "shop", ""},
		{`{}`, "", "shop", ""}, {`{}`, "m\n1", "shop", ""}, {`{}`, "m1", "", ""}, {`{}`, "m1", "a/b", ""}, {`{}`, "m1", "..", ""},
		{`{}`, "m1", "%2F", ""}, {`{}`, "m1", "a b?#", ""},
		{`{}`, "m1", "shop", "application/xml"}, {`{}`, "m1", "shop", ";;"}, {`{}`, "m1", "shop", "application/problem+json"},
	} {
		f.Add([]byte(s.body), s.id, s.connector, s.contentType)
	}
	fq := newFakeQueues()
	h := NewAPI(fq, APIOptions{Logger: quiet, MaxBody: maxBody})
	f.Fuzz(func(t *testing.T, body []byte, id, connector, contentType string) {
		fq.mu.Lock()
		fq.queues, fq.sent, fq.maxDepth = map[string]*fakeQueue{}, nil, 2
		fq.mu.Unlock()
		if batchType(contentType) {
			return // FuzzIngestBatch's
		}
		u := &url.URL{Path: "/v1/ingest/" + connector}
		what := fmt.Sprintf("POST %s (id %q, Content-Type %q) %q", u.EscapedPath(), id, contentType, body)
		rec := ingestDirect(h, u, id, contentType, body)
		got := checkAnswer(t, what, rec)
		sent := fq.queueSent()
		switch rec.Code {
		case 202:
		case 400, 404, 405, 413, 415:
			if len(sent) != 0 {
				t.Fatalf("%s: %d %s, but the backend got %s", what, rec.Code, rec.Body, describeSent(sent))
			}
		default:
			t.Fatalf("%s: %d %s, want 202, 400, 404, 405, 413 or 415", what, rec.Code, rec.Body)
		}
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		wellFormed := id != "" && len(id) <= kv.MaxMessageID &&
			connectorPattern.MatchString(connector) && connector != "." && connector != ".." &&
			ingestType(contentType) && len(body) <= maxBody && json.Valid(body) && utf8.Valid(body) && len(trimmed) > 0 && trimmed[0] == '{'
		if wellFormed != (rec.Code == 202) {
			t.Fatalf("%s: %d %s; well-formed: %v", what, rec.Code, rec.Body, wellFormed)
		}
		if rec.Code != 202 {
			return
		}
		if len(sent) != 1 || sent[0].Op != kv.OpEnqueue || sent[0].Key != id || sent[0].Message.ID != id ||
			sent[0].Message.Connector != connector || len(sent[0].Message.Headers) != 0 || !bytes.Equal(sent[0].Message.Payload, body) {
			t.Fatalf("%s: 202, and the backend got %s", what, describeSent(sent))
		}
		if got["id"] != asJSON(id) || got["replicaset"] != "rs1" || got["position"] != 1.0 {
			t.Fatalf("%s: 202 %s, want id %q at rs1 position 1", what, rec.Body, id)
		}
		again := ingestDirect(h, u, id, contentType, body)
		if again.Code != 202 || again.Body.String() != rec.Body.String() {
			t.Fatalf("%s sent again: %d %s, want 202 %s", what, again.Code, again.Body, rec.Body)
		}
		var others []string // ids of the same length
		for _, c := range "~!#" {
			if rune(id[0]) != c {
				others = append(others, string(c)+id[1:])
			}
		}
		second := ingestDirect(h, u, others[0], contentType, body)
		if got := checkAnswer(t, what, second); second.Code != 202 || got["id"] != asJSON(others[0]) || got["position"] != 2.0 {
			t.Fatalf("%s as %q: %d %s, want 202 at position 2", what, others[0], second.Code, second.Body)
		}
		full := ingestDirect(h, u, others[1], contentType, body)
		if full.Code != 429 || full.Header().Get("Retry-After") != "2" {
			t.Fatalf("%s as %q into a full queue: %d %s (Retry-After %q), want 429 after 2s", what, others[1], full.Code, full.Body, full.Header().Get("Retry-After"))
		}
		fq.mu.Lock()
		defer fq.mu.Unlock()
		if q := fq.queues["rs1"]; len(q.waiting) != 2 || q.tail != 2 {
			t.Fatalf("%s four times: positions up to %d, %d waiting; want two messages", what, q.tail, len(q.waiting))
		}
	})
}
