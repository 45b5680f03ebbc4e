package kvclient

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/simnet/client"
)

var (
	enqueue = client.Op{F: kv.OpEnqueue, Key: "c7", Label: "Customer/m1", Message: &kv.Message{ID: "m1", Connector: "crm",
		Headers: []kv.Header{{Name: "X-Kind", Value: "customer"}}, Payload: []byte(`{"n":1}`)}}
	readRepair  = client.Op{F: kv.OpReadQueue, Queue: &kv.QueueRequest{Replicaset: "rs1", List: "repair", Limit: kv.MaxQueuePage}}
	readDepths  = client.Op{F: kv.OpReadQueue, Queue: &kv.QueueRequest{Replicaset: "rs2"}}
	readHistory = client.Op{F: kv.OpGetObject, Key: "c1", Label: "Customer/c1", Object: &kv.ObjectRequest{Type: "Customer", PK: "c1", History: true}}
)

// The lines the client records for these operations by process p.
const (
	invokeEnqueue = `"node":"c1","kind":"client.invoke","process":%d,"seq":%d,"f":"enqueue","key":"m1","value":"{\"n\":1}","expect":"Customer/m1"`
	endEnqueue    = `"node":"c1","kind":"%s","process":%d,"seq":%d,"f":"enqueue","key":"m1","value":"{\"n\":1}","expect":"Customer/m1","index":0`
	invokeHistory = `"node":"c1","kind":"client.invoke","process":3,"seq":1,"f":"read-object","key":"Customer/c1","value":"","absent":true,"type":"Customer","version":0`
	repairListing = `{"replicaset":"rs1","depth":0,"bytes":0,"head":6,"tail":5,"repairs":1,"outbound":0,"settled":5,"entries":[` +
		`{"position":4,"id":"m4","connector":"crm","headers":{"X-Kind":"customer"},"enqueued_at":"2026-01-02T03:04:05Z","attempts":2,` +
		`"key":"customers","step":1,"handler":"map","reason":"no field id","failed_at":"2026-01-02T03:04:06Z","payload":{"n":4}}]}`
)

// TestQueueOutcomes: messages, queue reads and history reads are
// judged as the API answers them and recorded as the simulator's client
// records them (client.QueueHistoryFields, ObjectHistoryFields and the
// history count), which checker.Delivery reads.
func TestQueueOutcomes(t *testing.T) {
	accepted := reply{status: 202, body: `{"id":"m1","replicaset":"rs1","position":7}`}
	unavailable := reply{status: 503, body: `{"error":"unavailable, nothing was done: no leader is known"}`}
	full := reply{status: 429, body: `{"error":"the inbound queue is full (20 messages waiting); nothing was enqueued: send it again later"}`,
		header: map[string]string{"Retry-After": "1"}}
	const busy = "busy: s1 answered 429: the inbound queue is full (20 messages waiting); nothing was enqueued: send it again later"
	for _, tc := range []struct {
		name     string
		replies  []reply
		ops      ops
		retries  int
		want     []string // lines without the time and the note
		notes    []string // what each completion's note says, in order
		stats    Stats
		requests []string
	}{{
		name:    "202: ok, with where the message waits",
		replies: []reply{accepted},
		ops:     ops{enqueue},
		want: []string{
			fmt.Sprintf(invokeEnqueue, 3, 1),
			fmt.Sprintf(endEnqueue, "client.ok", 3, 1) + `,"replicaset":"rs1","position":7`,
		},
		notes:    []string{"s1"},
		stats:    Stats{OK: 1},
		requests: []string{`POST /v1/ingest/crm {"n":1}`},
	}, {
		name:    "503 then 202: sent again, ok",
		replies: []reply{unavailable, accepted},
		ops:     ops{enqueue}, retries: 3,
		want: []string{
			fmt.Sprintf(invokeEnqueue, 3, 1),
			fmt.Sprintf(endEnqueue, "client.ok", 3, 1) + `,"replicaset":"rs1","position":7`,
		},
		notes:    []string{"s1"},
		stats:    Stats{OK: 1},
		requests: []string{`POST /v1/ingest/crm {"n":1}`, `POST /v1/ingest/crm {"n":1}`},
	}, {
		name:    "429: fail, busy, not sent again",
		replies: []reply{full, accepted},
		ops:     ops{enqueue}, retries: 3,
		want: []string{
			fmt.Sprintf(invokeEnqueue, 3, 1),
			fmt.Sprintf(endEnqueue, "client.fail", 3, 1),
		},
		notes:    []string{busy},
		stats:    Stats{Fail: 1},
		requests: []string{`POST /v1/ingest/crm {"n":1}`},
	}, {
		name:    "503 then 429: the note still begins busy",
		replies: []reply{unavailable, full},
		ops:     ops{enqueue}, retries: 3,
		want: []string{
			fmt.Sprintf(invokeEnqueue, 3, 1),
			fmt.Sprintf(endEnqueue, "client.fail", 3, 1),
		},
		notes: []string{busy + " (on attempt 2)"},
		stats: Stats{Fail: 1},
	}, {
		name:    "504: info, and the next operation under process+stride",
		replies: []reply{{status: 504, body: `{"error":"the outcome is unknown"}`}, accepted},
		ops:     ops{enqueue, enqueue}, retries: 3,
		want: []string{
			fmt.Sprintf(invokeEnqueue, 3, 1),
			fmt.Sprintf(endEnqueue, "client.info", 3, 1),
			fmt.Sprintf(invokeEnqueue, 13, 2),
			fmt.Sprintf(endEnqueue, "client.ok", 13, 2) + `,"replicaset":"rs1","position":7`,
		},
		notes: []string{"s1 answered 504: the outcome is unknown", "s1"},
		stats: Stats{OK: 1, Info: 1},
	}, {
		name:    "400: fail, flagged, not sent again",
		replies: []reply{{status: 400, body: `{"error":"request body: want a JSON object, got an array"}`}},
		ops:     ops{enqueue}, retries: 3,
		want: []string{
			fmt.Sprintf(invokeEnqueue, 3, 1),
			fmt.Sprintf(endEnqueue, "client.fail", 3, 1),
		},
		notes:    []string{"s1 answered 400: request body: want a JSON object, got an array"},
		stats:    Stats{Fail: 1, Bad: 1},
		requests: []string{`POST /v1/ingest/crm {"n":1}`},
	}, {
		name:    "202 for another message: info, flagged",
		replies: []reply{{status: 202, body: `{"id":"m2","replicaset":"rs1","position":7}`}},
		ops:     ops{enqueue},
		want: []string{
			fmt.Sprintf(invokeEnqueue, 3, 1),
			fmt.Sprintf(endEnqueue, "client.info", 3, 1),
		},
		notes: []string{`s1 answered 202 for message "m2", not "m1"`},
		stats: Stats{Info: 1, Bad: 1},
	}, {
		name:    "a repair listing: ok, the queue state as the simulator records it",
		replies: []reply{{status: 200, body: repairListing}},
		ops:     ops{readRepair},
		want: []string{
			`"node":"c1","kind":"client.invoke","process":3,"seq":1,"f":"read-queue","key":"rs1","value":""`,
			`"node":"c1","kind":"client.ok","process":3,"seq":1,"f":"read-queue","key":"rs1","value":` +
				`"{\"replicaset\":\"rs1\",\"depth\":0,\"repairs\":1,\"outbound\":0,\"settled\":5,\"entries\":[` +
				`{\"position\":4,\"id\":\"m4\",\"attempts\":2,\"key\":\"customers\",\"reason\":\"no field id\"}]}","index":0`,
		},
		notes:    []string{"s1"},
		stats:    Stats{OK: 1},
		requests: []string{`GET /v1/repair?limit=1000&replicaset=rs1`},
	}, {
		name:    "the depths: the replicaset's of every one listed",
		replies: []reply{{status: 200, body: `[{"replicaset":"rs1","depth":3},{"replicaset":"rs2","depth":2,"settled":9}]`}},
		ops:     ops{readDepths},
		want: []string{
			`"node":"c1","kind":"client.invoke","process":3,"seq":1,"f":"read-queue","key":"rs2","value":""`,
			`"node":"c1","kind":"client.ok","process":3,"seq":1,"f":"read-queue","key":"rs2","value":` +
				`"{\"replicaset\":\"rs2\",\"depth\":2,\"repairs\":0,\"outbound\":0,\"settled\":9}","index":0`,
		},
		notes:    []string{"s1"},
		stats:    Stats{OK: 1},
		requests: []string{`GET /v1/queue`},
	}, {
		name:    "a queue read refused until out of retries: fail",
		replies: []reply{unavailable},
		ops:     ops{readRepair}, retries: 1,
		want: []string{
			`"node":"c1","kind":"client.invoke","process":3,"seq":1,"f":"read-queue","key":"rs1","value":""`,
			`"node":"c1","kind":"client.fail","process":3,"seq":1,"f":"read-queue","key":"rs1","value":"","index":0`,
		},
		notes: []string{"refused 2 times; last, s1 answered 503: unavailable, nothing was done: no leader is known"},
		stats: Stats{Fail: 1},
	}, {
		name: "a history: ok, the object and the count of versions before it",
		replies: []reply{{status: 200, body: `{"type":"Customer","key":"c1","history":[` +
			`{"version":1,"revision":3,"object":{"id":"c1","n":1}},{"version":2,"revision":5,"object":{"id":"c1","n":2}}]}`}},
		ops: ops{readHistory},
		want: []string{
			invokeHistory,
			`"node":"c1","kind":"client.ok","process":3,"seq":1,"f":"read-object","key":"Customer/c1","value":"{\"id\":\"c1\",\"n\":2}","absent":false,"type":"Customer","version":2,"index":0,"history":1`,
		},
		notes:    []string{"s1"},
		stats:    Stats{OK: 1},
		requests: []string{`GET /v1/data/Customer/c1/history`},
	}, {
		name:    "a history's 404 naming the object: ok, absent",
		replies: []reply{{status: 404, body: `{"error":"Customer c1 not found, and no history of it is kept"}`}},
		ops:     ops{readHistory},
		want: []string{
			invokeHistory,
			`"node":"c1","kind":"client.ok","process":3,"seq":1,"f":"read-object","key":"Customer/c1","value":"","absent":true,"type":"Customer","version":0,"index":0,"history":0`,
		},
		notes: []string{"s1"},
		stats: Stats{OK: 1},
	}, {
		name:    "another 404 on a history: fail, flagged",
		replies: []reply{{status: 404, body: `{"error":"no type Customer in the model"}`}},
		ops:     ops{readHistory}, retries: 3,
		want: []string{
			invokeHistory,
			`"node":"c1","kind":"client.fail","process":3,"seq":1,"f":"read-object","key":"Customer/c1","value":"","absent":true,"type":"Customer","version":0,"index":0,"history":0`,
		},
		notes: []string{"s1 answered 404: no type Customer in the model"},
		stats: Stats{Fail: 1, Bad: 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s, srv := serve(t, tc.replies...)
			tr := newTrace()
			var log bytes.Buffer
			stats := Run(context.Background(), Config{Name: "c1", Servers: map[env.NodeID]string{"s1": srv.URL}, Timeout: 5 * time.Second,
				Retries: tc.retries, Process: 3, ProcessStride: 10, Recorder: tr, Logger: slog.New(slog.NewTextHandler(&log, nil))}, &tc.ops)
			if warned := strings.Count(log.String(), "level=WARN"); warned != tc.stats.Bad {
				t.Errorf("%d warnings for %d bad answers:\n%s", warned, tc.stats.Bad, log.String())
			}
			var got, notes []string
			for _, r := range tr.records() {
				got = append(got, line(r))
				if r.Kind != "client.invoke" {
					notes = append(notes, note(r))
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("recorded\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if strings.Join(notes, "\n") != strings.Join(tc.notes, "\n") {
				t.Errorf("notes\n%s\nwant\n%s", strings.Join(notes, "\n"), strings.Join(tc.notes, "\n"))
			}
			if stats != tc.stats {
				t.Errorf("stats %+v, want %+v", stats, tc.stats)
			}
			if tc.requests != nil {
				if seen := s.seen(); strings.Join(seen, "\n") != strings.Join(tc.requests, "\n") {
					t.Errorf("the server saw\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(tc.requests, "\n"))
				}
			}
		})
	}
}

// TestEnqueueHeaders: a message goes out with its id as the idempotency
// key, its key as the one that picks its replicaset, and its own headers.
func TestEnqueueHeaders(t *testing.T) {
	s, srv := serve(t, reply{status: 202, body: `{"id":"m1","replicaset":"rs1","position":7}`})
	Run(context.Background(), Config{Name: "c1", Servers: map[env.NodeID]string{"s1": srv.URL}, Timeout: 5 * time.Second, Recorder: newTrace()},
		&ops{enqueue})
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.headers) != 1 {
		t.Fatalf("%d requests, want 1", len(s.headers))
	}
	h := s.headers[0]
	for name, want := range map[string]string{live.HeaderMessageID: "m1", live.HeaderMessageKey: "c7", "X-Kind": "customer", "Content-Type": "application/json"} {
		if got := h.Get(name); got != want {
			t.Errorf("header %s: %q, want %q", name, got, want)
		}
	}
	// A header the API would not pass on is not sent at all.
	tr := newTrace()
	odd := enqueue
	odd.Message = &kv.Message{ID: "m2", Connector: "crm", Headers: []kv.Header{{Name: "Kind", Value: "customer"}}, Payload: []byte(`{}`)}
	stats := Run(context.Background(), Config{Name: "c1", Servers: map[env.NodeID]string{"s1": srv.URL}, Timeout: 5 * time.Second, Recorder: tr}, &ops{odd})
	if recs := tr.records(); stats != (Stats{Fail: 1, Bad: 1}) || len(recs) != 2 || !strings.Contains(note(recs[1]), "not sent") {
		t.Errorf("a message with header Kind: stats %+v, events %v; want it failed, not sent", stats, recs)
	}
}
