package kvclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/simnet/client"
)

// trace is a Recorder that keeps the events with the time since it was
// made, never decreasing.
type trace struct {
	mu    sync.Mutex
	start time.Time
	last  int64
	recs  []env.Record
}

func newTrace() *trace { return &trace{start: time.Now()} }

func (tr *trace) Note(node env.NodeID, kind string, fields ...env.Field) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.last = max(tr.last, time.Since(tr.start).Nanoseconds())
	tr.recs = append(tr.recs, env.Record{Time: tr.last, Node: node, Kind: kind, Fields: fields})
}

func (tr *trace) records() []env.Record {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]env.Record(nil), tr.recs...)
}

// line renders a record as its trace line without the time and the note,
// so that a test compares every other field, in order.
func line(r env.Record) string {
	var fields []env.Field
	for _, f := range r.Fields {
		if f.Key != "note" {
			fields = append(fields, f)
		}
	}
	s := string(env.AppendLine(nil, 0, r.Node, r.Kind, fields))
	return strings.TrimSuffix(strings.TrimPrefix(s, `{"time":0,`), "}\n")
}

func note(r env.Record) string {
	s, _ := r.Str("note")
	return s
}

// history converts the records into a history and checks that the
// history parser accepts what it writes: one completion per invoke, no
// invoke after an info, matching operations.
func history(t testing.TB, recs []env.Record) *checker.History {
	t.Helper()
	h := checker.FromTrace(recs)
	var b bytes.Buffer
	if err := h.Write(&b); err != nil {
		t.Fatal(err)
	}
	if _, err := checker.ParseHistory(&b); err != nil {
		t.Fatalf("the history the client recorded does not parse: %v\n%s", err, b.String())
	}
	return h
}

// ops is a workload of the given operations, in order.
type ops []client.Op

func (w *ops) Next(*rand.Rand) (client.Op, bool) {
	if len(*w) == 0 {
		return client.Op{}, false
	}
	op := (*w)[0]
	*w = (*w)[1:]
	return op, true
}

// reply is one scripted answer.
type reply struct {
	status int
	body   string
	header map[string]string
	hang   bool // answer nothing until the client gives up
}

// script serves its replies in order, the last one again and again, and
// remembers the requests.
type script struct {
	mu       sync.Mutex
	replies  []reply
	requests []string      // "METHOD path body"
	headers  []http.Header // each request's
	stop     chan struct{}
}

func serve(t *testing.T, replies ...reply) (*script, *httptest.Server) {
	s := &script{replies: replies, stop: make(chan struct{})}
	srv := httptest.NewServer(s)
	t.Cleanup(func() { close(s.stop); srv.Close() })
	return s, srv
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(body)))
	s.headers = append(s.headers, r.Header.Clone())
	rp := s.replies[0]
	if len(s.replies) > 1 {
		s.replies = s.replies[1:]
	}
	s.mu.Unlock()
	if rp.hang {
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		return
	}
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rp.status)
	io.WriteString(w, rp.body)
}

func (s *script) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

var (
	put = client.Op{F: kv.OpPut, Key: "k1", Value: "c1-1"}
	get = client.Op{F: kv.OpGet, Key: "k1"}
	del = client.Op{F: kv.OpDelete, Key: "k1"}
	cas = client.Op{F: kv.OpCAS, Key: "k1", Value: "c1-2", Expected: kv.Some("c1-1")}
)

// The lines the client records for these operations by process p.
const (
	invokePut = `"node":"c1","kind":"client.invoke","process":%d,"seq":%d,"f":"write","key":"k1","value":"c1-1","absent":false`
	invokeGet = `"node":"c1","kind":"client.invoke","process":%d,"seq":%d,"f":"read","key":"k1","value":"","absent":true`
	invokeCAS = `"node":"c1","kind":"client.invoke","process":%d,"seq":%d,"f":"cas","key":"k1","value":"c1-2","absent":false,"expected":"c1-1","expected_absent":false`
)

func TestOutcomes(t *testing.T) {
	unavailable := reply{status: 503, body: `{"error":"unavailable, nothing was done: no leader is known"}`}
	unknownOutcome := reply{status: 504, body: `{"error":"the outcome is unknown: the request may or may not have taken effect"}`}
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
		name:    "503 then 200: retried, ok",
		replies: []reply{unavailable, {status: 200, body: `{"key":"k1","value":"c1-1","index":7}`}},
		ops:     ops{put}, retries: 3,
		want: []string{
			fmt.Sprintf(invokePut, 3, 1),
			`"node":"c1","kind":"client.ok","process":3,"seq":1,"f":"write","key":"k1","value":"c1-1","absent":false,"index":7`,
		},
		notes:    []string{"s1"},
		stats:    Stats{OK: 1},
		requests: []string{`PUT /v1/kv/k1 {"value":"c1-1"}`, `PUT /v1/kv/k1 {"value":"c1-1"}`},
	}, {
		name:    "503 until out of retries: a write fails",
		replies: []reply{unavailable},
		ops:     ops{put}, retries: 2,
		want: []string{
			fmt.Sprintf(invokePut, 3, 1),
			`"node":"c1","kind":"client.fail","process":3,"seq":1,"f":"write","key":"k1","value":"c1-1","absent":false,"index":0`,
		},
		notes: []string{"refused 3 times; last, s1 answered 503: unavailable, nothing was done: no leader is known"},
		stats: Stats{Fail: 1},
	}, {
		name:    "503 until out of retries: a cas is info, not a failed compare",
		replies: []reply{unavailable},
		ops:     ops{cas, get}, retries: 0,
		want: []string{
			fmt.Sprintf(invokeCAS, 3, 1),
			`"node":"c1","kind":"client.info","process":3,"seq":1,"f":"cas","key":"k1","value":"c1-2","absent":false,"expected":"c1-1","expected_absent":false,"index":0`,
			fmt.Sprintf(invokeGet, 13, 2),
			`"node":"c1","kind":"client.fail","process":13,"seq":2,"f":"read","key":"k1","value":"","absent":true,"index":0`,
		},
		notes: []string{"s1 answered 503: unavailable, nothing was done: no leader is known; a failed cas would claim its compare failed",
			"s1 answered 503: unavailable, nothing was done: no leader is known"},
		stats: Stats{Fail: 1, Info: 1},
	}, {
		name:    "504 on a write: info, and the next operation under process+stride",
		replies: []reply{unknownOutcome, {status: 200, body: `{"key":"k1","value":"x","index":9}`}},
		ops:     ops{put, get}, retries: 3,
		want: []string{
			fmt.Sprintf(invokePut, 3, 1),
			`"node":"c1","kind":"client.info","process":3,"seq":1,"f":"write","key":"k1","value":"c1-1","absent":false,"index":0`,
			fmt.Sprintf(invokeGet, 13, 2),
			`"node":"c1","kind":"client.ok","process":13,"seq":2,"f":"read","key":"k1","value":"x","absent":false,"index":9`,
		},
		notes:    []string{"s1 answered 504: the outcome is unknown: the request may or may not have taken effect", "s1"},
		stats:    Stats{OK: 1, Info: 1},
		requests: []string{`PUT /v1/kv/k1 {"value":"c1-1"}`, `GET /v1/kv/k1`},
	}, {
		name:    "504 on a read: fail, and the same process goes on",
		replies: []reply{unknownOutcome},
		ops:     ops{get, get}, retries: 3,
		want: []string{
			fmt.Sprintf(invokeGet, 3, 1),
			`"node":"c1","kind":"client.fail","process":3,"seq":1,"f":"read","key":"k1","value":"","absent":true,"index":0`,
			fmt.Sprintf(invokeGet, 3, 2),
			`"node":"c1","kind":"client.fail","process":3,"seq":2,"f":"read","key":"k1","value":"","absent":true,"index":0`,
		},
		notes: []string{"s1 answered 504: the outcome is unknown: the request may or may not have taken effect; a read changes nothing",
			"s1 answered 504: the outcome is unknown: the request may or may not have taken effect; a read changes nothing"},
		stats:    Stats{Fail: 2},
		requests: []string{`GET /v1/kv/k1`, `GET /v1/kv/k1`},
	}, {
		name: "409 on a cas: fail, with what it found",
		replies: []reply{
			{status: 409, body: `{"error":"cas: the key holds another value","key":"k1","current":"c2-4","index":5}`},
			{status: 409, body: `{"error":"cas: the key is absent","key":"k1","current":null,"index":6}`},
		},
		ops: ops{cas, {F: kv.OpCAS, Key: "k1", Value: "c1-3", Expected: kv.None}},
		want: []string{
			fmt.Sprintf(invokeCAS, 3, 1),
			`"node":"c1","kind":"client.fail","process":3,"seq":1,"f":"cas","key":"k1","value":"c1-2","absent":false,"expected":"c1-1","expected_absent":false,"index":5`,
			`"node":"c1","kind":"client.invoke","process":3,"seq":2,"f":"cas","key":"k1","value":"c1-3","absent":false,"expected":"","expected_absent":true`,
			`"node":"c1","kind":"client.fail","process":3,"seq":2,"f":"cas","key":"k1","value":"c1-3","absent":false,"expected":"","expected_absent":true,"index":6`,
		},
		notes:    []string{`cas found "c2-4"`, `cas found <absent>`},
		stats:    Stats{Fail: 2},
		requests: []string{`POST /v1/kv/k1/cas {"expected":"c1-1","value":"c1-2"}`, `POST /v1/kv/k1/cas {"expected":null,"value":"c1-3"}`},
	}, {
		name:    "200 on a cas and a delete: ok",
		replies: []reply{{status: 200, body: `{"key":"k1","value":"c1-2","index":11}`}, {status: 200, body: `{"key":"k1","index":12}`}},
		ops:     ops{cas, del},
		want: []string{
			fmt.Sprintf(invokeCAS, 3, 1),
			`"node":"c1","kind":"client.ok","process":3,"seq":1,"f":"cas","key":"k1","value":"c1-2","absent":false,"expected":"c1-1","expected_absent":false,"index":11`,
			`"node":"c1","kind":"client.invoke","process":3,"seq":2,"f":"delete","key":"k1","value":"","absent":true`,
			`"node":"c1","kind":"client.ok","process":3,"seq":2,"f":"delete","key":"k1","value":"","absent":true,"index":12`,
		},
		notes:    []string{"s1", "s1"},
		stats:    Stats{OK: 2},
		requests: []string{`POST /v1/kv/k1/cas {"expected":"c1-1","value":"c1-2"}`, `DELETE /v1/kv/k1`},
	}, {
		name:    "404 naming the key on a read: ok, absent",
		replies: []reply{{status: 404, body: `{"error":"key not found","key":"k1","index":4}`}},
		ops:     ops{get},
		want: []string{
			fmt.Sprintf(invokeGet, 3, 1),
			`"node":"c1","kind":"client.ok","process":3,"seq":1,"f":"read","key":"k1","value":"","absent":true,"index":4`,
		},
		notes: []string{"s1"},
		stats: Stats{OK: 1},
	}, {
		name:    "another 404 on a read: fail, flagged",
		replies: []reply{{status: 404, body: `{"error":"path \"/v1/kv/k1/x\": no such endpoint"}`}},
		ops:     ops{get}, retries: 3,
		want: []string{
			fmt.Sprintf(invokeGet, 3, 1),
			`"node":"c1","kind":"client.fail","process":3,"seq":1,"f":"read","key":"k1","value":"","absent":true,"index":0`,
		},
		notes:    []string{`s1 answered 404: path "/v1/kv/k1/x": no such endpoint`},
		stats:    Stats{Fail: 1, Bad: 1},
		requests: []string{`GET /v1/kv/k1`},
	}, {
		name:    "400 on a write: fail, flagged, not retried",
		replies: []reply{{status: 400, body: `{"error":"request body: line 1, column 2: unknown field \"vaule\""}`}},
		ops:     ops{put}, retries: 3,
		want: []string{
			fmt.Sprintf(invokePut, 3, 1),
			`"node":"c1","kind":"client.fail","process":3,"seq":1,"f":"write","key":"k1","value":"c1-1","absent":false,"index":0`,
		},
		notes:    []string{`s1 answered 400: request body: line 1, column 2: unknown field "vaule"`},
		stats:    Stats{Fail: 1, Bad: 1},
		requests: []string{`PUT /v1/kv/k1 {"value":"c1-1"}`},
	}, {
		name:    "415 on a cas: info, flagged",
		replies: []reply{{status: 415, body: `{"error":"Content-Type \"text/xml\": want application/json"}`}},
		ops:     ops{cas},
		want: []string{
			fmt.Sprintf(invokeCAS, 3, 1),
			`"node":"c1","kind":"client.info","process":3,"seq":1,"f":"cas","key":"k1","value":"c1-2","absent":false,"expected":"c1-1","expected_absent":false,"index":0`,
		},
		notes: []string{`s1 answered 415: Content-Type "text/xml": want application/json; a failed cas would claim its compare failed`},
		stats: Stats{Info: 1, Bad: 1},
	}, {
		name:    "500 on a write: info, flagged",
		replies: []reply{{status: 500, body: `{"error":"internal error: the request handler failed (logged)"}`}},
		ops:     ops{put},
		want: []string{
			fmt.Sprintf(invokePut, 3, 1),
			`"node":"c1","kind":"client.info","process":3,"seq":1,"f":"write","key":"k1","value":"c1-1","absent":false,"index":0`,
		},
		notes: []string{`s1 answered 500: internal error: the request handler failed (logged)`},
		stats: Stats{Info: 1, Bad: 1},
	}, {
		name:    "200 that is not a result: info, flagged",
		replies: []reply{{status: 200, body: `hello`}},
		ops:     ops{put},
		want: []string{
			fmt.Sprintf(invokePut, 3, 1),
			`"node":"c1","kind":"client.info","process":3,"seq":1,"f":"write","key":"k1","value":"c1-1","absent":false,"index":0`,
		},
		notes: []string{`s1 answered 200 with a body that is not a result: invalid character 'h' looking for beginning of value`},
		stats: Stats{Info: 1, Bad: 1},
	}, {
		name:    "200 for another key on a read: fail, flagged",
		replies: []reply{{status: 200, body: `{"key":"k2","value":"x","index":3}`}},
		ops:     ops{get},
		want: []string{
			fmt.Sprintf(invokeGet, 3, 1),
			`"node":"c1","kind":"client.fail","process":3,"seq":1,"f":"read","key":"k1","value":"","absent":true,"index":0`,
		},
		notes: []string{`s1 answered 200 for key "k2", not "k1"; a read changes nothing`},
		stats: Stats{Fail: 1, Bad: 1},
	}, {
		name:    "a redirect is not followed: info, flagged",
		replies: []reply{{status: 307, header: map[string]string{"Location": "/v1/kv/k2"}}},
		ops:     ops{put},
		want: []string{
			fmt.Sprintf(invokePut, 3, 1),
			`"node":"c1","kind":"client.info","process":3,"seq":1,"f":"write","key":"k1","value":"c1-1","absent":false,"index":0`,
		},
		notes:    []string{`s1 answered 307`},
		stats:    Stats{Info: 1, Bad: 1},
		requests: []string{`PUT /v1/kv/k1 {"value":"c1-1"}`},
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
			recs := tr.records()
			var got, notes []string
			for _, r := range recs {
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
			history(t, recs)
		})
	}
}

// TestRetryGoesToAnotherServer: a refused attempt is sent again to a
// server drawn again, and the answer names the one that served it.
// A stale read asks for one, and is recorded as a read like any other:
// the checkers judge what it returned.
func TestStaleRead(t *testing.T) {
	s, srv := serve(t, reply{status: 200, body: `{"key":"k1","value":"v","index":3}`, header: map[string]string{live.ConsistencyHeader: live.ConsistencyStale}})
	tr := newTrace()
	stats := Run(context.Background(), Config{Name: "c1", Servers: map[env.NodeID]string{"s1": srv.URL}, Timeout: 5 * time.Second, Seed: 1, Recorder: tr},
		&ops{{F: kv.OpGet, Key: "k1", Stale: true}})
	if seen := s.seen(); stats != (Stats{OK: 1}) || len(seen) != 1 || seen[0] != "GET /v1/kv/k1?consistency=stale" {
		t.Fatalf("stats %+v, requests %q; want one ok GET /v1/kv/k1?consistency=stale", stats, seen)
	}
	recs := tr.records()
	if len(recs) != 2 || line(recs[0]) != fmt.Sprintf(invokeGet, 0, 1) || note(recs[1]) != "s1" ||
		line(recs[1]) != `"node":"c1","kind":"client.ok","process":0,"seq":1,"f":"read","key":"k1","value":"v","absent":false,"index":3` {
		t.Errorf("recorded %v", recs)
	}
}

func TestRetryGoesToAnotherServer(t *testing.T) {
	refusing, s1 := serve(t, reply{status: 503, body: `{"error":"unavailable, nothing was done"}`})
	serving, s2 := serve(t, reply{status: 200, body: `{"key":"k1","value":"c1-1","index":2}`})
	tr := newTrace()
	stats := Run(context.Background(), Config{Name: "c1", Servers: map[env.NodeID]string{"s1": s1.URL, "s2": s2.URL}, Target: "s1",
		Timeout: 5 * time.Second, Retries: 40, Seed: 7, Recorder: tr}, &ops{put})
	recs := tr.records()
	if stats != (Stats{OK: 1}) || len(recs) != 2 || note(recs[1]) != "s2" {
		t.Fatalf("stats %+v, events %v", stats, recs)
	}
	if len(refusing.seen()) == 0 || len(serving.seen()) != 1 {
		t.Errorf("s1 saw %d requests, s2 %d; want the first on s1 and one on s2", len(refusing.seen()), len(serving.seen()))
	}
}

// TestLeaderTarget: target leader asks Leader for every attempt, and
// draws a server when it knows none.
func TestLeaderTarget(t *testing.T) {
	_, s1 := serve(t, reply{status: 200, body: `{"key":"k1","value":"c1-1","index":2}`})
	_, s2 := serve(t, reply{status: 200, body: `{"key":"k1","value":"c1-1","index":2}`})
	servers := map[env.NodeID]string{"s1": s1.URL, "s2": s2.URL}
	for _, tc := range []struct {
		leader env.NodeID
		known  bool
		want   string
	}{{"s2", true, "s2"}, {"s1", true, "s1"}, {"s9", true, ""}, {"", false, ""}} {
		tr := newTrace()
		Run(context.Background(), Config{Name: "c1", Servers: servers, Target: "leader", Timeout: 5 * time.Second, Recorder: tr,
			Leader: func() (env.NodeID, bool) { return tc.leader, tc.known }}, &ops{put, put, put, put})
		for _, r := range tr.records() {
			if r.Kind == "client.ok" && tc.want != "" && note(r) != tc.want {
				t.Errorf("leader %q: served by %s, want %s", tc.leader, note(r), tc.want)
			}
			if r.Kind != "client.ok" && r.Kind != "client.invoke" {
				t.Errorf("leader %q: %s", tc.leader, line(r))
			}
		}
	}
}

// roundTripper is a transport of another kind than net/http's.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestForeignTransport: with a transport that does not report its
// connections, only a failed dial counts as nothing sent.
func TestForeignTransport(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("connection reset by peer"), "client.info"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, "client.fail"},
	} {
		tr := newTrace()
		hc := &http.Client{Transport: roundTripper(func(*http.Request) (*http.Response, error) { return nil, tc.err })}
		Run(context.Background(), Config{Name: "c1", Servers: map[env.NodeID]string{"s1": "http://127.0.0.1:1"}, Timeout: time.Second, HTTP: hc, Recorder: tr},
			&ops{put})
		if recs := tr.records(); len(recs) != 2 || recs[1].Kind != tc.want {
			t.Errorf("%v: %v, want %s", tc.err, recs, tc.want)
		}
	}
}

// closedPort is the URL of a port nobody listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestConnectionRefused: nothing was sent, so the operation is retried,
// and then a write or read fails, and a cas is info.
func TestConnectionRefused(t *testing.T) {
	tr := newTrace()
	stats := Run(context.Background(), Config{Name: "c1", Servers: map[env.NodeID]string{"s1": closedPort(t)}, Timeout: 5 * time.Second,
		Retries: 2, Process: 3, ProcessStride: 10, Recorder: tr}, &ops{put, get, del, cas})
	want := []string{
		fmt.Sprintf(invokePut, 3, 1),
		`"node":"c1","kind":"client.fail","process":3,"seq":1,"f":"write","key":"k1","value":"c1-1","absent":false,"index":0`,
		fmt.Sprintf(invokeGet, 3, 2),
		`"node":"c1","kind":"client.fail","process":3,"seq":2,"f":"read","key":"k1","value":"","absent":true,"index":0`,
		`"node":"c1","kind":"client.invoke","process":3,"seq":3,"f":"delete","key":"k1","value":"","absent":true`,
		`"node":"c1","kind":"client.fail","process":3,"seq":3,"f":"delete","key":"k1","value":"","absent":true,"index":0`,
		fmt.Sprintf(invokeCAS, 3, 4),
		`"node":"c1","kind":"client.info","process":3,"seq":4,"f":"cas","key":"k1","value":"c1-2","absent":false,"expected":"c1-1","expected_absent":false,"index":0`,
	}
	recs := tr.records()
	var got []string
	for _, r := range recs {
		got = append(got, line(r))
		if r.Kind != "client.invoke" && (!strings.HasPrefix(note(r), "refused 3 times; last, s1: no connection: ") || !strings.Contains(note(r), "connection refused")) {
			t.Errorf("%s: note %q", r.Kind, note(r))
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("recorded\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if stats != (Stats{Fail: 3, Info: 1}) {
		t.Errorf("stats %+v", stats)
	}
	history(t, recs)
}

// TestHangingServer: an operation that gets no answer ends at its
// timeout: info for a write, fail for a read.
func TestHangingServer(t *testing.T) {
	_, srv := serve(t, reply{hang: true})
	const timeout = 200 * time.Millisecond
	for _, tc := range []struct {
		op   client.Op
		kind string
	}{{put, "client.info"}, {get, "client.fail"}, {cas, "client.info"}, {del, "client.info"}} {
		tr := newTrace()
		start := time.Now()
		Run(context.Background(), Config{Name: "c1", Servers: map[env.NodeID]string{"s1": srv.URL}, Timeout: timeout, Retries: 3, Recorder: tr},
			&ops{tc.op})
		if took := time.Since(start); took > timeout+2*time.Second {
			t.Errorf("%v took %v with a timeout of %v", tc.op.F, took, timeout)
		}
		recs := tr.records()
		if len(recs) != 2 || recs[1].Kind != tc.kind || !strings.HasPrefix(note(recs[1]), "s1: no answer within the timeout of 200ms") {
			t.Errorf("%v: %v", tc.op.F, recs)
		}
	}
}

// TestRunStopsWithItsContext: Run returns when ctx ends, with the
// operation it interrupted recorded.
func TestRunStopsWithItsContext(t *testing.T) {
	s, srv := serve(t, reply{hang: true})
	ctx, cancel := context.WithCancel(context.Background())
	tr := newTrace()
	done := make(chan Stats)
	go func() {
		done <- Run(ctx, Config{Name: "c1", Servers: map[env.NodeID]string{"s1": srv.URL}, Timeout: time.Minute, Recorder: tr}, &ops{put, put})
	}()
	for len(s.seen()) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case stats := <-done:
		recs := tr.records()
		if stats != (Stats{Info: 1}) || len(recs) != 2 || note(recs[1]) != "s1: the run was stopped before an answer came" {
			t.Errorf("stats %+v, events %v", stats, recs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
}

// TestUntilAndInterval: no operation starts at or after Until, and they
// start no more often than every Interval.
func TestUntilAndInterval(t *testing.T) {
	_, srv := serve(t, reply{status: 200, body: `{"key":"k1","value":"c1-1","index":2}`})
	servers := map[env.NodeID]string{"s1": srv.URL}
	tr := newTrace()
	if stats := Run(context.Background(), Config{Name: "c1", Servers: servers, Until: time.Now(), Recorder: tr}, &client.Mix{ID: "c1", Keys: 2, Write: 1}); stats != (Stats{}) || len(tr.records()) != 0 {
		t.Errorf("Until in the past: %+v", stats)
	}
	start := time.Now()
	stats := Run(context.Background(), Config{Name: "c1", Servers: servers, Interval: 300 * time.Millisecond, Until: start.Add(time.Second), Recorder: tr},
		&ops{put, put, put, put, put, put})
	if stats.OK < 1 || stats.OK > 4 || stats.Fail+stats.Info > 0 {
		t.Errorf("with Interval 300ms and Until 1s: %+v, want at most 4 ok", stats)
	}
	for i, r := range tr.records() {
		if r.Kind == "client.invoke" && time.Duration(r.Time) < start.Sub(tr.start)+time.Duration(i/2)*300*time.Millisecond {
			t.Errorf("operation %d started at %v", i/2, time.Duration(r.Time))
		}
	}
}

// TestAgainstARealNode runs four clients and the final reader against a
// one-instance cluster and checks the history they record.
func TestAgainstARealNode(t *testing.T) {
	ctx, srv := realNode(t, 60*time.Second, nil)
	servers := map[env.NodeID]string{"n1": srv.URL}
	tr := newTrace()
	const clients = 4
	until := time.Now().Add(1500 * time.Millisecond)
	stats := make([]Stats, clients)
	var wg sync.WaitGroup
	for i := range clients {
		name := env.NodeID(fmt.Sprintf("c%d", i+1))
		wg.Go(func() {
			stats[i] = Run(ctx, Config{Name: name, Servers: servers, Timeout: 2 * time.Second, Retries: 3, Interval: 2 * time.Millisecond,
				Until: until, Seed: uint64(i + 1), Process: i + 1, ProcessStride: clients, Recorder: tr},
				&client.Mix{ID: string(name), Keys: 8, Read: 0.4, Write: 0.3, CAS: 0.2, Delete: 0.1})
		})
	}
	wg.Wait()
	var keys []string
	for i := range 8 {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	final := Run(ctx, Config{Name: "final", Servers: servers, Timeout: 2 * time.Second, Retries: 3, Process: 1 << 30, Recorder: tr},
		&client.Reads{Keys: keys})
	for i, st := range append(stats, final) {
		if st.Bad > 0 {
			t.Errorf("client %d: %d answers outside the API's contract", i, st.Bad)
		}
	}
	if final.OK != len(keys) {
		t.Errorf("final reads: %+v", final)
	}

	recs := tr.records()
	h := history(t, recs)
	if r := checker.Linearizable(h, 30*time.Second).Result; r.Verdict != checker.Valid {
		t.Errorf("linearizable: %s: %s", r.Verdict, r.Explanation)
	}
	if r := checker.Durability(h); r.Verdict != checker.Valid {
		t.Errorf("durability: %s: %s", r.Verdict, r.Explanation)
	}
	ok := map[string]int{}
	for _, r := range recs {
		if r.Kind == "client.ok" {
			f, _ := r.Str("f")
			ok[f]++
		}
	}
	for _, f := range []string{"read", "write", "cas", "delete"} {
		if ok[f] == 0 {
			t.Errorf("no %s completed ok: %v", f, ok)
		}
	}
	t.Logf("%d events; ok by operation %v; stats %+v, final %+v", len(recs), ok, stats, final)
}

// realNode forms a one-instance cluster and serves its API, each
// request through wrap (nil: none), until the test ends; ctx ends after
// timeout.
func realNode(t *testing.T, timeout time.Duration, wrap func(http.Handler) http.Handler) (context.Context, *httptest.Server) {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	node, err := live.Open(live.Config{Name: "n1", DataDir: t.TempDir(), PeerAddr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	if err := node.Form(ctx); err != nil {
		t.Fatal(err)
	}
	var h http.Handler = live.NewAPI(node, live.APIOptions{Logger: quiet})
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for ready, why := node.Ready(); !ready; ready, why = node.Ready() {
		if ctx.Err() != nil {
			t.Fatalf("the instance never became ready: %s", why)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ctx, srv
}

// FuzzResponse: whatever a server answers, the client does not panic,
// records exactly one completion per invoke, and claims nothing the
// answer does not say.
func FuzzResponse(f *testing.F) {
	f.Add(uint16(200), []byte(`{"key":"k1","value":"c1-1","index":3}`), uint8(0))
	f.Add(uint16(200), []byte(`{"key":"k1","index":3}`), uint8(0))
	f.Add(uint16(404), []byte(`{"error":"key not found","key":"k1","index":4}`), uint8(0))
	f.Add(uint16(409), []byte(`{"error":"cas: the key is absent","key":"k1","current":null,"index":5}`), uint8(0))
	f.Add(uint16(503), []byte(`{"error":"unavailable"}`), uint8(0))
	f.Add(uint16(504), []byte(`{"error":"unknown"}`), uint8(1))
	f.Add(uint16(400), []byte(`not json`), uint8(0))
	f.Add(uint16(302), []byte(``), uint8(0))
	f.Add(uint16(100), []byte(`{}`), uint8(0))
	f.Add(uint16(204), []byte(`{}`), uint8(0))
	f.Add(uint16(200), []byte(`{"key":"k1","value":"c1-1","index":3}`), uint8(2))
	f.Add(uint16(200), []byte(`{"key":"k1","value":"c1-1","index":3}`), uint8(3))
	// Statuses 202, 429, 200 and 200 (code is 100 + status%500).
	f.Add(uint16(102), []byte(`{"id":"m1","replicaset":"rs1","position":7}`), uint8(0))
	f.Add(uint16(329), []byte(`{"error":"the inbound queue is full"}`), uint8(0))
	f.Add(uint16(100), []byte(`{"replicaset":"rs1","depth":1,"entries":[{"position":1,"id":"m1"}]}`), uint8(0))
	f.Add(uint16(100), []byte(`{"type":"Customer","key":"c1","history":[{"version":1,"object":{}}]}`), uint8(0))
	f.Fuzz(func(t *testing.T, status uint16, body []byte, mode uint8) {
		code := 100 + int(status)%500
		mode %= 4
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			switch mode {
			case 1: // half the body, then the connection drops
				w.Header().Set("Content-Length", fmt.Sprint(len(body)+1))
				w.WriteHeader(code)
				w.Write(body[:len(body)/2])
				panic(http.ErrAbortHandler)
			case 2: // no answer at all: the connection drops
				panic(http.ErrAbortHandler)
			case 3: // a body shorter than it says
				w.Header().Set("Content-Length", fmt.Sprint(len(body)+10))
			}
			w.WriteHeader(code)
			w.Write(body)
		}))
		defer srv.Close()
		// An informational status is followed by the final one, which
		// writing the body makes 200.
		final := code
		if code < 200 && code != http.StatusSwitchingProtocols {
			final = http.StatusOK
		}
		tr := newTrace()
		all := ops{put, get, del, cas, {F: kv.OpCAS, Key: "k1", Value: "c1-3"}, enqueue, readRepair, readHistory}
		n := len(all)
		stats := Run(context.Background(), Config{Name: "c1", Servers: map[env.NodeID]string{"s1": srv.URL}, Timeout: time.Second,
			Retries: 1, Process: 1, ProcessStride: 1, Recorder: tr}, &all)
		recs := tr.records()
		if stats.OK+stats.Fail+stats.Info != n || len(recs) != 2*n {
			t.Fatalf("%d operations: stats %+v, %d events", n, stats, len(recs))
		}
		for i := 0; i < len(recs); i += 2 {
			inv, end := recs[i], recs[i+1]
			if inv.Kind != "client.invoke" || end.Kind == "client.invoke" {
				t.Fatalf("events %d and %d: %s then %s", i, i+1, inv.Kind, end.Kind)
			}
			for _, k := range []string{"process", "seq", "f", "key"} {
				a, _ := inv.Get(k)
				b, _ := end.Get(k)
				if a.Value() != b.Value() {
					t.Fatalf("the completion's %s is %v, the invoke's %v", k, b.Value(), a.Value())
				}
			}
			f, _ := end.Str("f")
			answered := mode == 0
			switch {
			case end.Kind == "client.ok" && !(answered && (final == 200 && f != "enqueue" || f == "enqueue" && final == 202 ||
				(f == "read" || f == "read-object") && final == 404)):
				t.Fatalf("%s ok on %d (mode %d): %s", f, code, mode, note(end))
			case end.Kind == "client.fail" && f == "cas" && !(answered && final == 409):
				t.Fatalf("a cas failed on %d (mode %d): %s", code, mode, note(end))
			case end.Kind == "client.fail" && !reads[f] && f != "cas" && !(answered && final >= 400 && final < 500 || final == 503 && mode != 2):
				t.Fatalf("a %s failed on %d (mode %d): %s", f, code, mode, note(end))
			case end.Kind == "client.info" && reads[f]:
				t.Fatalf("a read was info: %s", note(end))
			}
		}
		history(t, recs)
	})
}

// reads are the history's names of the operations that change nothing.
var reads = map[string]bool{"read": true, "read-object": true, "read-queue": true}
