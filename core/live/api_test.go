package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shoaldb/shoal/core/kv"
)

// fakeBackend is a fake: these tests are of the HTTP layer (routing,
// decoding, status codes, error texts, logging, metrics), so the cluster
// behind it is a map and a counter. It also fails on request: err, a
// status to answer with, a key that panics, a Do that waits for its
// context.
type fakeBackend struct {
	mu    sync.Mutex
	data  map[string]string
	index uint64
	// last is the last operation Do received.
	last struct {
		op       kv.Op
		key      string
		value    string
		expected kv.Value
		stale    bool
	}

	err      error     // Do and Cluster fail with it
	status   kv.Status // Do answers with it instead
	panicKey string    // Do panics on this key
	block    bool      // Do waits for its context to end
	ready    bool      // Ready's answer
	why      string    // Ready's reason
	cluster  ClusterStatus
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{data: map[string]string{}, ready: true}
}

func (f *fakeBackend) Do(ctx context.Context, req kv.Request) (kv.Response, error) {
	op, key, value, expected := req.Op, req.Key, req.Value, req.Expected
	if f.block {
		<-ctx.Done()
		return kv.Response{}, ErrUnknownOutcome
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last.op, f.last.key, f.last.value, f.last.expected, f.last.stale = op, key, value, expected, req.Stale
	if key == f.panicKey {
		panic("fake backend: " + key)
	}
	if f.err != nil {
		return kv.Response{}, f.err
	}
	if f.status != 0 {
		return kv.Response{Status: f.status, Leader: "n2"}, nil
	}
	f.index++
	current, found := f.data[key]
	resp := kv.Response{Status: kv.StatusOK, Index: f.index}
	switch op {
	case kv.OpGet:
		resp.Value = kv.Value{S: current, Present: found}
	case kv.OpPut:
		f.data[key] = value
	case kv.OpDelete:
		delete(f.data, key)
	case kv.OpCAS:
		if (kv.Value{S: current, Present: found}) != expected {
			resp.Status, resp.Value = kv.StatusMismatch, kv.Value{S: current, Present: found}
		} else {
			f.data[key] = value
		}
	}
	return resp, nil
}

func (f *fakeBackend) Cluster(ctx context.Context) (ClusterStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cluster, f.err
}

func (f *fakeBackend) Ready() (bool, string) { return f.ready, f.why }

var quiet = slog.New(slog.DiscardHandler)

// exampleCluster is three instances in one replicaset.
var exampleCluster = ClusterStatus{
	Node: "n1",
	Instances: []InstanceStatus{
		{Name: "n1", RaftID: 1, Replicaset: "rs1", Domain: map[string]string{"zone": "a"}, State: "online", Target: "online"},
		{Name: "n2", RaftID: 2, Replicaset: "rs1", Domain: map[string]string{"zone": "b"}, State: "online", Target: "online"},
		{Name: "n3", RaftID: 3, Replicaset: "rs1", State: "offline", Target: "offline", Reason: "not heard from for 10s"},
	},
	Replicasets: []ReplicasetStatus{{Name: "rs1", Group: 1, Members: []string{"n1", "n2", "n3"}, Complete: true, Leader: "n2"}},
	Voters:      []string{"n1", "n2", "n3"},
	Groups: []GroupStatus{
		{Group: 0, Name: "config", Term: 2, Role: "follower", Leader: "n2", Commit: 10, Applied: 10},
		{Group: 1, Name: "rs1", Term: 3, Role: "follower", Leader: "n2", Commit: 42, Applied: 41},
	},
}

type answer struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, srv *httptest.Server, method, path, contentType, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: withoutCode(t, resp.StatusCode, strings.TrimSuffix(string(b), "\n"))}
}

// withoutCode checks that an error body carries the code of its status
// (ErrorCode), right after its message, and returns the body without
// it, so that the tables compare what the message says.
func withoutCode(t *testing.T, status int, body string) string {
	t.Helper()
	if status < 400 || !strings.HasPrefix(body, `{"error":`) {
		// A GraphQL response's errors carry theirs in extensions.
		graphql := strings.HasPrefix(body, `{"data":`) || strings.HasPrefix(body, `{"errors":`)
		if strings.Contains(body, `"code":`) && status < 400 && !graphql {
			t.Errorf("a %d answer carries an error code: %s", status, body)
		}
		return body
	}
	code := `,"code":"` + ErrorCode(status) + `"`
	if !strings.Contains(body, code) {
		t.Errorf("a %d answer's error body lacks %s: %s", status, code, body)
	}
	return strings.Replace(body, code, "", 1)
}

func TestAPI(t *testing.T) {
	long := strings.Repeat("k", MaxKeyLen)
	tests := []struct {
		name         string
		setup        func(f *fakeBackend)
		timeout      time.Duration
		method, path string
		contentType  string
		body         string
		status       int
		want         string // the exact body
		header       map[string]string
		// sent, when set, checks what the backend received.
		sent func(t *testing.T, f *fakeBackend)
	}{
		// PUT
		{name: "put", method: "PUT", path: "/v1/kv/a", body: `{"value": "1"}`,
			status: 200, want: `{"key":"a","value":"1","index":1}`, header: map[string]string{"Content-Type": "application/json"}},
		{name: "put with a JSON content type and charset", method: "PUT", path: "/v1/kv/a", contentType: "application/json; charset=utf-8", body: `{"value": ""}`,
			status: 200, want: `{"key":"a","value":"","index":1}`},
		{name: "put an escaped slash", method: "PUT", path: "/v1/kv/a%2Fb", body: `{"value":"x"}`,
			status: 200, want: `{"key":"a/b","value":"x","index":1}`,
			sent: func(t *testing.T, f *fakeBackend) { wantSent(t, f, kv.OpPut, "a/b", "x", kv.None) }},
		{name: "put the key /", method: "PUT", path: "/v1/kv/%2F", body: `{"value":"x"}`,
			status: 200, want: `{"key":"/","value":"x","index":1}`,
			sent: func(t *testing.T, f *fakeBackend) { wantSent(t, f, kv.OpPut, "/", "x", kv.None) }},
		{name: "cas the key / in lower case", method: "POST", path: "/v1/kv/%2f/cas", body: `{"expected":null,"value":"x"}`,
			status: 200, want: `{"key":"/","value":"x","index":1}`,
			sent: func(t *testing.T, f *fakeBackend) { wantSent(t, f, kv.OpCAS, "/", "x", kv.None) }},
		{name: "cas the key / with an escaped cas", method: "POST", path: "/v1/kv/%2F/c%61s", body: `{"expected":null,"value":"x"}`,
			status: 200, want: `{"key":"/","value":"x","index":1}`},
		{name: "a method not allowed on the key /", method: "PUT", path: "/v1/kv/%2F/cas",
			status: 405, want: `{"error":"PUT /v1/kv/%2F/cas: method not allowed (allowed: POST)"}`},
		{name: "put a key of any bytes", method: "PUT", path: "/v1/kv/%FF%00%20", body: `{"value":"x"}`,
			status: 200, want: `{"key":"\ufffd\u0000 ","value":"x","index":1}`,
			sent: func(t *testing.T, f *fakeBackend) { wantSent(t, f, kv.OpPut, "\xff\x00 ", "x", kv.None) }},
		{name: "put a key of dots", method: "PUT", path: "/v1/kv/%2E%2E", body: `{"value":"x"}`,
			status: 200, want: `{"key":"..","value":"x","index":1}`},
		{name: "put the longest key", method: "PUT", path: "/v1/kv/" + long, body: `{"value":"x"}`,
			status: 200, want: `{"key":"` + long + `","value":"x","index":1}`},
		{name: "put a key too long", method: "PUT", path: "/v1/kv/" + long + "k", body: `{"value":"x"}`,
			status: 400, want: `{"error":"key: must be 1 to 1024 bytes, got 1025"}`},
		{name: "put an empty key", method: "PUT", path: "/v1/kv/", body: `{"value":"x"}`,
			status: 400, want: `{"error":"key: must be 1 to 1024 bytes, got 0"}`},
		{name: "put a path with dot segments", method: "PUT", path: "/v1/kv/a/../b", body: `{"value":"x"}`,
			status: 400, want: `{"error":"path \"/v1/kv/a/../b\": has an empty, \".\" or \"..\" segment; a key holding \"/\" must send it as %2F, a key \".\" or \"..\" its dots as %2E"}`},
		{name: "put without value", method: "PUT", path: "/v1/kv/a", body: `{}`,
			status: 400, want: `{"error":"request body: \"value\" is required"}`},
		{name: "put an unknown field", method: "PUT", path: "/v1/kv/a", body: `{"valeu": "1"}`,
			status: 400, want: `{"error":"request body: line 1, column 2: unknown field \"valeu\" (want \"value\")"}`},
		{name: "put an unknown field on line 2", method: "PUT", path: "/v1/kv/a", body: "{\"value\": \"1\",\n  \"x\": 1}",
			status: 400, want: `{"error":"request body: line 2, column 3: unknown field \"x\" (want \"value\")"}`},
		{name: "put a duplicate field", method: "PUT", path: "/v1/kv/a", body: `{"value": "1", "value": "2"}`,
			status: 400, want: `{"error":"request body: line 1, column 16: duplicate field \"value\""}`},
		{name: "put a null value", method: "PUT", path: "/v1/kv/a", body: `{"value": null}`,
			status: 400, want: `{"error":"request body: line 1, column 11: \"value\" must be a string, got null"}`},
		{name: "put a number", method: "PUT", path: "/v1/kv/a", body: `{"value": 12}`,
			status: 400, want: `{"error":"request body: line 1, column 11: \"value\" must be a string, got a number"}`},
		{name: "put an object", method: "PUT", path: "/v1/kv/a", body: `{"value":{"a":1}}`,
			status: 400, want: `{"error":"request body: line 1, column 10: \"value\" must be a string, got an object"}`},
		{name: "put an array body", method: "PUT", path: "/v1/kv/a", body: ` ["1"]`,
			status: 400, want: `{"error":"request body: line 1, column 2: want a JSON object, got an array"}`},
		{name: "put a string body", method: "PUT", path: "/v1/kv/a", body: `"1"`,
			status: 400, want: `{"error":"request body: line 1, column 1: want a JSON object, got a string"}`},
		{name: "put an empty body", method: "PUT", path: "/v1/kv/a",
			status: 400, want: `{"error":"request body: empty: want a JSON object such as {\"value\": \"...\"}"}`},
		{name: "put trailing data", method: "PUT", path: "/v1/kv/a", body: `{"value": "1"} {}`,
			status: 400, want: `{"error":"request body: line 1, column 16: unexpected data after the JSON object"}`},
		{name: "put bad JSON", method: "PUT", path: "/v1/kv/a", body: `{"value": x}`,
			status: 400, want: `{"error":"request body: line 1, column 11: invalid character 'x' looking for beginning of value"}`},
		{name: "put truncated JSON", method: "PUT", path: "/v1/kv/a", body: `{"value": "1"`,
			status: 400, want: `{"error":"request body: line 1, column 14: unexpected end of the JSON object"}`},
		{name: "put invalid UTF-8", method: "PUT", path: "/v1/kv/a", body: "{\"value\": \"é\xff\"}",
			status: 400, want: `{"error":"request body: line 1, column 13: invalid UTF-8"}`},
		{name: "put a body too large", method: "PUT", path: "/v1/kv/a", body: `{"value": "` + strings.Repeat("x", DefaultMaxBody) + `"}`,
			status: 413, want: `{"error":"request body exceeds 1048576 bytes"}`},
		{name: "put as curl -d sends it", method: "PUT", path: "/v1/kv/a", contentType: "application/x-www-form-urlencoded", body: `{"value": "1"}`,
			status: 200, want: `{"key":"a","value":"1","index":1}`},
		{name: "put xml", method: "PUT", path: "/v1/kv/a", contentType: "application/xml", body: `{"value": "1"}`,
			status: 415, want: `{"error":"Content-Type \"application/xml\": want application/json"}`},
		{name: "put a bad content type", method: "PUT", path: "/v1/kv/a", contentType: ";;", body: `{"value": "1"}`,
			status: 415, want: `{"error":"Content-Type \";;\": want application/json"}`},
		{name: "put unavailable", setup: func(f *fakeBackend) { f.err = errors.Join(ErrUnavailable, errors.New("no leader is known")) },
			method: "PUT", path: "/v1/kv/a", body: `{"value": "1"}`,
			status: 503, want: `{"error":"unavailable, nothing was done\nno leader is known"}`, header: map[string]string{"Retry-After": "1"}},
		{name: "put unknown outcome", setup: func(f *fakeBackend) { f.err = ErrUnknownOutcome },
			method: "PUT", path: "/v1/kv/a", body: `{"value": "1"}`,
			status: 504, want: `{"error":"the outcome is unknown: the request may or may not have taken effect"}`},
		{name: "put past the timeout", setup: func(f *fakeBackend) { f.block = true }, timeout: 20 * time.Millisecond,
			method: "PUT", path: "/v1/kv/a", body: `{"value": "1"}`,
			status: 504, want: `{"error":"the outcome is unknown: the request may or may not have taken effect"}`},
		{name: "put and the backend fails", setup: func(f *fakeBackend) { f.err = errors.New("disk on fire") },
			method: "PUT", path: "/v1/kv/a", body: `{"value": "1"}`,
			status: 500, want: `{"error":"internal error: disk on fire"}`},
		{name: "put and the backend redirects", setup: func(f *fakeBackend) { f.status = kv.StatusRedirect },
			method: "PUT", path: "/v1/kv/a", body: `{"value": "1"}`,
			status: 503, want: `{"error":"unavailable, nothing was done (this node could not forward the request: leader \"n2\", hint \"\")"}`},
		{name: "put and the backend panics", setup: func(f *fakeBackend) { f.panicKey = "boom" },
			method: "PUT", path: "/v1/kv/boom", body: `{"value": "1"}`,
			status: 500, want: `{"error":"internal error: the request handler failed (logged)"}`},

		// GET
		{name: "get", setup: func(f *fakeBackend) { f.data["a"] = "1" }, method: "GET", path: "/v1/kv/a",
			status: 200, want: `{"key":"a","value":"1","index":1}`,
			sent: func(t *testing.T, f *fakeBackend) { wantSent(t, f, kv.OpGet, "a", "", kv.None) }},
		{name: "get says it is linearizable", setup: func(f *fakeBackend) { f.data["a"] = "1" }, method: "GET", path: "/v1/kv/a?consistency=linearizable",
			status: 200, want: `{"key":"a","value":"1","index":1}`, header: map[string]string{ConsistencyHeader: "linearizable"},
			sent: func(t *testing.T, f *fakeBackend) { wantStale(t, f, false) }},
		{name: "get stale", setup: func(f *fakeBackend) { f.data["a"] = "1" }, method: "GET", path: "/v1/kv/a?consistency=stale",
			status: 200, want: `{"key":"a","value":"1","index":1}`, header: map[string]string{ConsistencyHeader: "stale"},
			sent: func(t *testing.T, f *fakeBackend) { wantStale(t, f, true) }},
		{name: "get stale of a missing key", method: "GET", path: "/v1/kv/a?consistency=stale",
			status: 404, want: `{"error":"key not found","key":"a","index":1}`, header: map[string]string{ConsistencyHeader: "stale"}},
		{name: "get an unknown consistency", method: "GET", path: "/v1/kv/a?consistency=eventual",
			status: 400, want: `{"error":"consistency \"eventual\": want linearizable or stale"}`},
		{name: "get two consistencies", method: "GET", path: "/v1/kv/a?consistency=stale&consistency=stale",
			status: 400, want: `{"error":"consistency: given 2 times, want once"}`},
		{name: "get an empty value", setup: func(f *fakeBackend) { f.data["a"] = "" }, method: "GET", path: "/v1/kv/a",
			status: 200, want: `{"key":"a","value":"","index":1}`},
		{name: "get a missing key", method: "GET", path: "/v1/kv/a",
			status: 404, want: `{"error":"key not found","key":"a","index":1}`},
		{name: "get unavailable", setup: func(f *fakeBackend) { f.err = ErrUnavailable }, method: "GET", path: "/v1/kv/a",
			status: 503, want: `{"error":"unavailable, nothing was done"}`},
		{name: "get a key too long", method: "GET", path: "/v1/kv/" + long + "k",
			status: 400, want: `{"error":"key: must be 1 to 1024 bytes, got 1025"}`},
		{name: "get with a slash", method: "GET", path: "/v1/kv/a/b",
			status: 404, want: `{"error":"path \"/v1/kv/a/b\": no such endpoint (a key holding \"/\" must send it as %2F)"}`},

		// DELETE
		{name: "delete", setup: func(f *fakeBackend) { f.data["a"] = "1" }, method: "DELETE", path: "/v1/kv/a",
			status: 200, want: `{"key":"a","index":1}`,
			sent: func(t *testing.T, f *fakeBackend) { wantSent(t, f, kv.OpDelete, "a", "", kv.None) }},
		{name: "delete unknown outcome", setup: func(f *fakeBackend) { f.err = ErrUnknownOutcome }, method: "DELETE", path: "/v1/kv/a",
			status: 504, want: `{"error":"the outcome is unknown: the request may or may not have taken effect"}`},

		// cas
		{name: "cas", setup: func(f *fakeBackend) { f.data["a"] = "1" }, method: "POST", path: "/v1/kv/a/cas", body: `{"expected": "1", "value": "2"}`,
			status: 200, want: `{"key":"a","value":"2","index":1}`,
			sent: func(t *testing.T, f *fakeBackend) { wantSent(t, f, kv.OpCAS, "a", "2", kv.Some("1")) }},
		{name: "cas expecting absent", method: "POST", path: "/v1/kv/a/cas", body: `{"expected": null, "value": "2"}`,
			status: 200, want: `{"key":"a","value":"2","index":1}`,
			sent: func(t *testing.T, f *fakeBackend) { wantSent(t, f, kv.OpCAS, "a", "2", kv.None) }},
		{name: "cas expecting the empty string", setup: func(f *fakeBackend) { f.data["a"] = "" }, method: "POST", path: "/v1/kv/a/cas", body: `{"expected": "", "value": "2"}`,
			status: 200, want: `{"key":"a","value":"2","index":1}`,
			sent: func(t *testing.T, f *fakeBackend) { wantSent(t, f, kv.OpCAS, "a", "2", kv.Some("")) }},
		{name: "cas mismatch", setup: func(f *fakeBackend) { f.data["a"] = "3" }, method: "POST", path: "/v1/kv/a/cas", body: `{"expected": "1", "value": "2"}`,
			status: 409, want: `{"error":"cas: the key holds another value","key":"a","current":"3","index":1}`},
		{name: "cas mismatch on an absent key", method: "POST", path: "/v1/kv/a/cas", body: `{"expected": "1", "value": "2"}`,
			status: 409, want: `{"error":"cas: the key is absent","key":"a","current":null,"index":1}`},
		{name: "cas without expected", method: "POST", path: "/v1/kv/a/cas", body: `{"value": "2"}`,
			status: 400, want: `{"error":"request body: \"expected\" is required (null if the key must be absent)"}`},
		{name: "cas without value", method: "POST", path: "/v1/kv/a/cas", body: `{"expected": null}`,
			status: 400, want: `{"error":"request body: \"value\" is required"}`},
		{name: "cas with a numeric expected", method: "POST", path: "/v1/kv/a/cas", body: `{"expected": 1, "value": "2"}`,
			status: 400, want: `{"error":"request body: line 1, column 14: \"expected\" must be a string or null, got a number"}`},
		{name: "cas with an unknown field", method: "POST", path: "/v1/kv/a/cas", body: `{"expect": null, "value": "2"}`,
			status: 400, want: `{"error":"request body: line 1, column 2: unknown field \"expect\" (want \"expected\" and \"value\")"}`},
		{name: "cas with an escaped key", method: "POST", path: "/v1/kv/a%2Fcas/cas", body: `{"expected": null, "value": "2"}`,
			status: 200, want: `{"key":"a/cas","value":"2","index":1}`},
		{name: "cas unknown outcome", setup: func(f *fakeBackend) { f.err = ErrUnknownOutcome }, method: "POST", path: "/v1/kv/a/cas", body: `{"expected": null, "value": "2"}`,
			status: 504, want: `{"error":"the outcome is unknown: the request may or may not have taken effect"}`},

		// routing
		{name: "a method not allowed on a key", method: "PATCH", path: "/v1/kv/a",
			status: 405, want: `{"error":"PATCH /v1/kv/a: method not allowed (allowed: DELETE, GET, HEAD, PUT)"}`, header: map[string]string{"Allow": "DELETE, GET, HEAD, PUT"}},
		{name: "a method not allowed on cas", method: "GET", path: "/v1/kv/a/cas",
			status: 405, want: `{"error":"GET /v1/kv/a/cas: method not allowed (allowed: POST)"}`, header: map[string]string{"Allow": "POST"}},
		{name: "a method not allowed on the cluster", method: "DELETE", path: "/v1/cluster",
			status: 405, want: `{"error":"DELETE /v1/cluster: method not allowed (allowed: GET, HEAD)"}`},
		{name: "no such endpoint", method: "GET", path: "/v2/kv/a",
			status: 404, want: `{"error":"path \"/v2/kv/a\": no such endpoint"}`},
		{name: "the root", method: "GET", path: "/",
			status: 404, want: `{"error":"path \"/\": no such endpoint"}`},

		// cluster and probes
		{name: "cluster", setup: func(f *fakeBackend) { f.cluster = exampleCluster }, method: "GET", path: "/v1/cluster",
			status: 200, want: `{"node":"n1","instances":[` +
				`{"name":"n1","raft_id":1,"replicaset":"rs1","domain":{"zone":"a"},"state":"online","target":"online"},` +
				`{"name":"n2","raft_id":2,"replicaset":"rs1","domain":{"zone":"b"},"state":"online","target":"online"},` +
				`{"name":"n3","raft_id":3,"replicaset":"rs1","state":"offline","target":"offline","reason":"not heard from for 10s"}],` +
				`"replicasets":[{"name":"rs1","group":1,"members":["n1","n2","n3"],"complete":true,"leader":"n2"}],` +
				`"voters":["n1","n2","n3"],` +
				`"groups":[{"group":0,"name":"config","term":2,"role":"follower","leader":"n2","commit":10,"applied":10},` +
				`{"group":1,"name":"rs1","term":3,"role":"follower","leader":"n2","commit":42,"applied":41}]}`},
		{name: "cluster unavailable", setup: func(f *fakeBackend) { f.err = ErrUnavailable }, method: "GET", path: "/v1/cluster",
			status: 503, want: `{"error":"unavailable, nothing was done"}`},
		{name: "cluster unavailable in time", setup: func(f *fakeBackend) {
			f.err = fmt.Errorf("%w: the instance is busy: %w", ErrUnavailable, context.DeadlineExceeded)
		}, method: "GET", path: "/v1/cluster",
			status: 503, want: `{"error":"unavailable, nothing was done: the instance is busy: context deadline exceeded"}`},
		{name: "get past the timeout, as the context says", setup: func(f *fakeBackend) { f.err = context.DeadlineExceeded }, method: "GET", path: "/v1/kv/a",
			status: 504, want: `{"error":"the outcome is unknown: the request may or may not have taken effect (context deadline exceeded)"}`},
		{name: "cluster fails", setup: func(f *fakeBackend) { f.err = errors.New("no configuration") }, method: "GET", path: "/v1/cluster",
			status: 500, want: `{"error":"internal error: no configuration"}`},
		{name: "healthz", setup: func(f *fakeBackend) { f.ready = false }, method: "GET", path: "/healthz",
			status: 200, want: `{"status":"ok"}`},
		{name: "ready", method: "GET", path: "/readyz",
			status: 200, want: `{"status":"ready"}`},
		{name: "not ready", setup: func(f *fakeBackend) { f.ready, f.why = false, "no leader of group 0 is known" }, method: "GET", path: "/readyz",
			status: 503, want: `{"error":"not ready: no leader of group 0 is known"}`, header: map[string]string{"Retry-After": "1"}},
		{name: "not ready without a reason", setup: func(f *fakeBackend) { f.ready = false }, method: "GET", path: "/readyz",
			status: 503, want: `{"error":"not ready: the node gave no reason"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeBackend()
			if tc.setup != nil {
				tc.setup(f)
			}
			srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet, Timeout: tc.timeout}))
			defer srv.Close()
			got := call(t, srv, tc.method, tc.path, tc.contentType, tc.body)
			if got.status != tc.status || got.body != tc.want {
				t.Errorf("%s %s: got %d %s\nwant %d %s", tc.method, tc.path, got.status, got.body, tc.status, tc.want)
			}
			for k, v := range tc.header {
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

func wantStale(t *testing.T, f *fakeBackend, stale bool) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last.op != kv.OpGet || f.last.stale != stale {
		t.Errorf("the backend got a %s, stale %t; want a get, stale %t", f.last.op, f.last.stale, stale)
	}
}

func wantSent(t *testing.T, f *fakeBackend, op kv.Op, key, value string, expected kv.Value) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.last
	if l.op != op || l.key != key || l.value != value || l.expected != expected {
		t.Errorf("the backend got %s %q %q %v, want %s %q %q %v", l.op, l.key, l.value, l.expected, op, key, value, expected)
	}
}

// TestAPISequence runs writes and reads against one backend: each answer
// carries the index the backend served it at.
func TestAPISequence(t *testing.T) {
	srv := httptest.NewServer(NewAPI(newFakeBackend(), APIOptions{Logger: quiet}))
	defer srv.Close()
	steps := []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/v1/kv/x", "", 404, `{"error":"key not found","key":"x","index":1}`},
		{"POST", "/v1/kv/x/cas", `{"expected":null,"value":"1"}`, 200, `{"key":"x","value":"1","index":2}`},
		{"POST", "/v1/kv/x/cas", `{"expected":null,"value":"2"}`, 409, `{"error":"cas: the key holds another value","key":"x","current":"1","index":3}`},
		{"PUT", "/v1/kv/x", `{"value":"3"}`, 200, `{"key":"x","value":"3","index":4}`},
		{"GET", "/v1/kv/x", "", 200, `{"key":"x","value":"3","index":5}`},
		{"DELETE", "/v1/kv/x", "", 200, `{"key":"x","index":6}`},
		{"GET", "/v1/kv/x", "", 404, `{"error":"key not found","key":"x","index":7}`},
	}
	for _, s := range steps {
		got := call(t, srv, s.method, s.path, "application/json", s.body)
		if got.status != s.status || got.body != s.want {
			t.Fatalf("%s %s %s: got %d %s, want %d %s", s.method, s.path, s.body, got.status, got.body, s.status, s.want)
		}
	}
}

func TestAPIMaxBodyOption(t *testing.T) {
	srv := httptest.NewServer(NewAPI(newFakeBackend(), APIOptions{Logger: quiet, MaxBody: 16}))
	defer srv.Close()
	if got := call(t, srv, "PUT", "/v1/kv/a", "", `{"value":"1234"}`); got.status != 200 {
		t.Errorf("a 16-byte body: %d %s", got.status, got.body)
	}
	got := call(t, srv, "PUT", "/v1/kv/a", "", `{"value":"12345"}`)
	if want := `{"error":"request body exceeds 16 bytes"}`; got.status != 413 || got.body != want {
		t.Errorf("a 17-byte body: %d %s, want 413 %s", got.status, got.body, want)
	}
}

// TestAPIAccessLog checks one access-log record and that a panic is
// logged with its stack.
func TestAPIAccessLog(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFakeBackend()
	f.panicKey = "boom"
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: log}))
	defer srv.Close()
	call(t, srv, "PUT", "/v1/kv/a%2Fb", "", `{"value":"1"}`)
	call(t, srv, "GET", "/v1/kv/boom", "", "")
	call(t, srv, "GET", "/healthz", "", "")

	var records []map[string]any
	for line := range strings.Lines(buf.String()) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		records = append(records, r)
	}
	if len(records) != 4 {
		t.Fatalf("got %d log records, want 4 (3 requests, 1 panic):\n%s", len(records), buf.String())
	}
	put := records[0]
	for k, want := range map[string]any{"level": "INFO", "msg": "http request", "method": "PUT", "path": "/v1/kv/a%2Fb",
		"route": "PUT /v1/kv/{key}", "status": 200.0, "bytes": float64(len(`{"key":"a/b","value":"1","index":1}`) + 1)} {
		if put[k] != want {
			t.Errorf("access log %s: got %v, want %v", k, put[k], want)
		}
	}
	if d, ok := put["duration"].(float64); !ok || d <= 0 {
		t.Errorf("access log duration: %v", put["duration"])
	}
	if p := records[1]; p["level"] != "ERROR" || p["msg"] != "http: handler panicked" || p["panic"] != "fake backend: boom" || !strings.Contains(p["stack"].(string), "fakeBackend") {
		t.Errorf("panic record: %v", p)
	}
	if r := records[2]; r["status"] != 500.0 {
		t.Errorf("the panicking request was logged with %v", r["status"])
	}
	if r := records[3]; r["level"] != "DEBUG" || r["path"] != "/healthz" {
		t.Errorf("a probe is logged at %v", r["level"])
	}
}

// syncBuffer is a bytes.Buffer that handlers may write concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAPIMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(NewAPI(newFakeBackend(), APIOptions{Logger: quiet, Registry: reg}))
	defer srv.Close()
	call(t, srv, "PUT", "/v1/kv/a", "", `{"value":"1"}`)
	call(t, srv, "PUT", "/v1/kv/a", "", `{}`)
	call(t, srv, "GET", "/nowhere", "", "")
	// A second API on the same registry shares the metrics rather than
	// panic on a duplicate registration.
	NewAPI(newFakeBackend(), APIOptions{Logger: quiet, Registry: reg})

	got := call(t, srv, "GET", "/metrics", "", "")
	if got.status != 200 {
		t.Fatalf("/metrics: %d %s", got.status, got.body)
	}
	for _, want := range []string{
		`shoal_http_requests_total{code="200",route="PUT /v1/kv/{key}"} 1`,
		`shoal_http_requests_total{code="400",route="PUT /v1/kv/{key}"} 1`,
		`shoal_http_requests_total{code="404",route="unmatched"} 1`,
		`shoal_http_request_duration_seconds_count{route="PUT /v1/kv/{key}"} 2`,
	} {
		if !strings.Contains(got.body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, got.body)
		}
	}
}

func TestKeyPath(t *testing.T) {
	for key, want := range map[string]string{
		"a":    "/v1/kv/a",
		"a/b":  "/v1/kv/a%2Fb",
		".":    "/v1/kv/%2E",
		"..":   "/v1/kv/%2E%2E",
		"...":  "/v1/kv/...",
		"a b?": "/v1/kv/a%20b%3F",
		"\xff": "/v1/kv/%FF",
	} {
		if got := KeyPath(key); got != want {
			t.Errorf("KeyPath(%q) = %q, want %q", key, got, want)
		}
	}
}

// serveDirect runs one request through the handler without a network, for
// the fuzz targets: a fuzzer wants many inputs a second.
func serveDirect(h http.Handler, method string, u *url.URL, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/", bytes.NewReader(body))
	req.URL, req.RequestURI = u, u.RequestURI()
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkAnswer fails unless the answer is 2xx or 4xx with a JSON object
// body, and an error message in every 4xx.
func checkAnswer(t *testing.T, what string, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if rec.Code < 200 || rec.Code >= 500 || (rec.Code >= 300 && rec.Code < 400) {
		t.Fatalf("%s: status %d: %s", what, rec.Code, rec.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: status %d, body %q is no JSON object: %v", what, rec.Code, rec.Body, err)
	}
	if msg, _ := body["error"].(string); rec.Code >= 400 && msg == "" {
		t.Fatalf("%s: status %d without an error message: %s", what, rec.Code, rec.Body)
	}
	return body
}

func FuzzKVBody(f *testing.F) {
	for _, s := range []string{
		`{"value": "1"}`, `{"expected": null, "value": "2"}`, `{"expected": "1", "value": "2"}`,
		`{"valeu": "1"}`, `{"value": null}`, `{"value": 1}`, `{}`, `[]`, ``, `{"value": "1"} x`,
		"{\"value\": \"\\u00e9\\ud800\"}", "{\n\"value\"\t:\r\"a\"}", `{"value": "1", "value": "1"}`, "\xff",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	h := NewAPI(newFakeBackend(), APIOptions{Logger: quiet, MaxBody: 4096})
	putURL, casURL := &url.URL{Path: "/v1/kv/k"}, &url.URL{Path: "/v1/kv/k/cas"}
	f.Fuzz(func(t *testing.T, body []byte, cas bool) {
		method, u := "PUT", putURL
		if cas {
			method, u = "POST", casURL
		}
		rec := serveDirect(h, method, u, "application/json", body)
		got := checkAnswer(t, method+" "+string(body), rec)
		if rec.Code != 200 && rec.Code != 409 {
			return
		}
		// What the API accepted, encoding/json reads as the same object.
		var std struct {
			Expected *string `json:"expected"`
			Value    string  `json:"value"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&std); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
		if rec.Code == 200 && got["value"] != std.Value {
			t.Fatalf("accepted %q as value %q, encoding/json reads %q", body, got["value"], std.Value)
		}
	})
}

func FuzzKVPath(f *testing.F) {
	for _, s := range []string{"a", "a/b", "/", "//", "/a", "a/", ".", "..", "%", "%2F", "a b", "\x00", "\xff", "cas", "a/cas", "", "?x=1", "#x", strings.Repeat("k", 1025)} {
		f.Add(s)
	}
	fb := newFakeBackend()
	h := NewAPI(fb, APIOptions{Logger: quiet})
	f.Fuzz(func(t *testing.T, s string) {
		// s as a key: it reaches the backend intact, or is refused for
		// its length alone.
		u, err := url.ParseRequestURI(KeyPath(s))
		if err != nil {
			t.Fatalf("KeyPath(%q) = %q: %v", s, KeyPath(s), err)
		}
		rec := serveDirect(h, "PUT", u, "", []byte(`{"value":"v"}`))
		checkAnswer(t, "PUT "+KeyPath(s), rec)
		switch {
		case len(s) == 0 || len(s) > MaxKeyLen:
			if rec.Code != 400 {
				t.Fatalf("PUT a key of %d bytes: %d %s", len(s), rec.Code, rec.Body)
			}
		case rec.Code != 200:
			t.Fatalf("PUT %q as %s: %d %s", s, KeyPath(s), rec.Code, rec.Body)
		default:
			fb.mu.Lock()
			sent := fb.last.key
			fb.mu.Unlock()
			if sent != s {
				t.Fatalf("PUT %q as %s: the backend got key %q", s, KeyPath(s), sent)
			}
		}
		// s as raw path: whatever it is, an answer in JSON, never 5xx.
		for _, p := range []string{"/v1/kv/" + s, "/" + s, "/v1/kv/" + s + "/cas"} {
			u, err := url.ParseRequestURI(p)
			if err != nil {
				continue // the server refuses it before the handler
			}
			for _, method := range []string{"GET", "PUT", "POST", "DELETE"} {
				checkAnswer(t, method+" "+p, serveDirect(h, method, u, "", []byte(`{"expected":null,"value":"v"}`)))
			}
		}
	})
}
