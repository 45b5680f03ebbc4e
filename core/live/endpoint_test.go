package live

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
)

// guard bounds every wait of these tests, so that a bug fails them
// instead of hanging them; no result depends on it.
const guard = 30 * time.Second

// testEndpoints are endpoints whose answers go to a channel.
type testEndpoints struct {
	*endpoints
	answers chan testAnswer
}

type testAnswer struct {
	from env.NodeID
	p    *connector.Pushed
}

func newTestEndpoints(t *testing.T, timeout time.Duration) *testEndpoints {
	t.Helper()
	te := &testEndpoints{answers: make(chan testAnswer, maxPushes)}
	te.endpoints = newEndpoints(slog.New(slog.DiscardHandler), timeout, func(from env.NodeID, m *connector.Pushed) {
		te.answers <- testAnswer{from, m}
	})
	t.Cleanup(te.close)
	return te
}

// push hands p to the endpoints and returns their answer.
func (te *testEndpoints) push(t *testing.T, p *connector.Push) *connector.Pushed {
	t.Helper()
	te.send(connector.Endpoint(p.Destination), p)
	return te.await(t, p)
}

// await returns the answer to p, which was sent.
func (te *testEndpoints) await(t *testing.T, p *connector.Push) *connector.Pushed {
	t.Helper()
	select {
	case a := <-te.answers:
		if a.from != connector.Endpoint(p.Destination) || a.p.ID != p.ID || a.p.Replicaset != p.Replicaset || a.p.Destination != p.Destination {
			t.Fatalf("answer from %s to push %d of %s/%s, want %s's to push %d of %s", a.from, a.p.ID, a.p.Replicaset, a.p.Destination, connector.Endpoint(p.Destination), p.ID, p.Replicaset)
		}
		if len(a.p.Results) != len(p.Items) {
			t.Fatalf("%d results for %d items", len(a.p.Results), len(p.Items))
		}
		for i, r := range a.p.Results {
			if r.Seq != p.Items[i].Seq {
				t.Fatalf("result %d is for seq %d, want %d", i, r.Seq, p.Items[i].Seq)
			}
		}
		return a.p
	case <-time.After(guard):
		t.Fatalf("no answer to push %d", p.ID)
		return nil
	}
}

// msg is one message of a test's outbound queue.
type msg struct {
	seq   uint64
	key   string
	value string
}

// itemsOf renders msgs with spec, as the engine does.
func itemsOf(t *testing.T, spec connector.OutboundSpec, dest string, msgs ...msg) []connector.Item {
	t.Helper()
	var items []connector.Item
	for _, m := range msgs {
		idem := fmt.Sprintf("rs1-%d", m.seq)
		req, err := spec.Render(&connector.Message{Destination: dest, Seq: m.seq, IdempotencyKey: idem, Key: m.key, Value: []byte(m.value)})
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, connector.Item{Seq: m.seq, IdempotencyKey: idem, OrderKey: m.key, Request: req})
	}
	return items
}

// queue is a test's outbound queue: messages by key, in order.
type queue struct {
	keys []string
	msgs map[string][]msg
}

func newQueue(keys, perKey int) *queue {
	q := &queue{msgs: map[string][]msg{}}
	seq := uint64(0)
	for i := range perKey {
		for k := range keys {
			key := fmt.Sprintf("k%d", k)
			if i == 0 {
				q.keys = append(q.keys, key)
			}
			seq++
			q.msgs[key] = append(q.msgs[key], msg{seq: seq, key: key, value: fmt.Sprintf(`{"key":%q,"n":%d}`, key, i)})
		}
	}
	return q
}

// heads are the oldest message of each key: what the engine may push at
// once.
func (q *queue) heads() []msg {
	var out []msg
	for _, k := range q.keys {
		if len(q.msgs[k]) > 0 {
			out = append(out, q.msgs[k][0])
		}
	}
	return out
}

// taken removes a key's head.
func (q *queue) taken(m msg) { q.msgs[m.key] = q.msgs[m.key][1:] }

// drain pushes q's heads, one push at a time, until every message is
// taken, as the engine does; errs gets the failures of each seq. during,
// if set, runs while each push is delivered, with the number of the
// attempt each seq is at.
func (q *queue) drain(t *testing.T, te *testEndpoints, spec connector.OutboundSpec, dest string, during func(p *connector.Push, attempt map[uint64]int)) (errs map[uint64][]string) {
	t.Helper()
	errs = map[uint64][]string{}
	attempt := map[uint64]int{}
	for id := uint64(1); ; id++ {
		heads := q.heads()
		if len(heads) == 0 {
			return errs
		}
		if id > 50 {
			t.Fatalf("messages still not taken after %d pushes: %v", id-1, heads)
		}
		p := &connector.Push{ID: id, Replicaset: "rs1", Destination: dest, Spec: spec, Items: itemsOf(t, spec, dest, heads...)}
		for _, it := range p.Items {
			attempt[it.Seq]++
		}
		te.send(connector.Endpoint(dest), p)
		if during != nil {
			during(p, attempt)
		}
		a := te.await(t, p)
		for i, r := range a.Results {
			if r.Err == "" {
				q.taken(heads[i])
			} else {
				errs[r.Seq] = append(errs[r.Seq], r.Err)
			}
		}
	}
}

// TestWebhookResults pushes messages a server takes, refuses with a 503
// and a long body, and redirects: each item's result says which, and the
// server got each message's method, headers and body.
func TestWebhookResults(t *testing.T) {
	type got struct {
		method, path string
		header       http.Header
		body         string
	}
	var mu sync.Mutex
	received := map[string]got{}
	long := "overloaded " + strings.Repeat("x", 300)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		idem := r.Header.Get("Idempotency-Key")
		mu.Lock()
		received[idem] = got{r.Method, r.URL.Path, r.Header.Clone(), string(body)}
		mu.Unlock()
		switch idem {
		case "rs1-2":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, long)
		case "rs1-3":
			http.Redirect(w, r, "/elsewhere", http.StatusSeeOther)
		case "rs1-4":
			w.WriteHeader(http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	spec := &connector.Webhook{URL: srv.URL + "/hook?token=secret", Method: "PUT", Headers: []connector.Header{{Name: "X-Tenant", Value: "acme"}}}
	te := newTestEndpoints(t, pushTimeout)
	msgs := []msg{{1, "a", `{"n":1}`}, {2, "b", `{"n":2}`}, {3, "c", `{"n":3}`}, {4, "d", `{"n":4}`}, {5, "e", `{"n":5}`}}
	a := te.push(t, &connector.Push{ID: 7, Replicaset: "rs1", Destination: "audit", Spec: spec, Items: itemsOf(t, spec, "audit", msgs...)})

	want := []string{"", "503 Service Unavailable (Retry-After: 7): " + long[:maxErrorBody], "303 See Other", "400 Bad Request", ""}
	for i, r := range a.Results {
		if r.Err != want[i] {
			t.Errorf("seq %d: Err %q, want %q", r.Seq, r.Err, want[i])
		}
	}
	for _, m := range msgs {
		idem := fmt.Sprintf("rs1-%d", m.seq)
		g, ok := received[idem]
		switch {
		case !ok:
			t.Errorf("the server never got %s", idem)
		case g.method != "PUT" || g.path != "/hook" || g.body != m.value:
			t.Errorf("%s: %s %s %q, want PUT /hook %q", idem, g.method, g.path, g.body, m.value)
		case g.header.Get("X-Tenant") != "acme" || g.header.Get("Content-Type") != "application/json":
			t.Errorf("%s: headers %v", idem, g.header)
		}
	}
	if len(received) != len(msgs) {
		t.Errorf("the server got %d requests, want %d (a redirect is not followed)", len(received), len(msgs))
	}

	// A server that is gone: the transport's error, without the URL's
	// token.
	srv.Close()
	a = te.push(t, &connector.Push{ID: 8, Replicaset: "rs1", Destination: "audit", Spec: spec, Items: itemsOf(t, spec, "audit", msgs[0])})
	if why := a.Results[0].Err; !strings.Contains(why, "connection refused") || strings.Contains(why, "secret") {
		t.Errorf("a server that is gone: %q, want connection refused without the URL", why)
	}
}

// TestWebhookRecovers drains a queue through a server that refuses each
// of some messages twice (503) and holds its first answer to others until
// the rest of their push is served, as the engine does: one message of a
// key at a time, again until taken. The server takes every message once,
// and each key's messages in order; the held answers show that the items
// of a push go out in parallel.
func TestWebhookRecovers(t *testing.T) {
	const keys, perKey = 4, 6
	var mu sync.Mutex
	attempts := map[int]int{}
	took := map[int]bool{}
	order := map[string][]string{} // key → values, as taken
	held := make(chan int, keys)
	served := make(chan int, keys)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var seq int
		fmt.Sscanf(r.Header.Get("Idempotency-Key"), "rs1-%d", &seq)
		mu.Lock()
		attempts[seq]++
		n := attempts[seq]
		mu.Unlock()
		switch {
		case refused(seq, n):
			w.Header().Set("Retry-After", "1")
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			served <- seq
			return
		case delayed(seq, n):
			held <- seq
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		default:
			defer func() { served <- seq }()
		}
		var v struct{ Key string }
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("seq %d: body %q: %v", seq, body, err)
		}
		mu.Lock()
		if !took[seq] {
			took[seq] = true
			order[v.Key] = append(order[v.Key], string(body))
		}
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	spec := &connector.Webhook{URL: srv.URL, Method: "POST"}
	te := newTestEndpoints(t, guard)
	q := newQueue(keys, perKey)
	want := map[string][]string{}
	for k, ms := range q.msgs {
		for _, m := range ms {
			want[k] = append(want[k], m.value)
		}
	}
	errs := q.drain(t, te, spec, "audit", func(p *connector.Push, attempt map[uint64]int) {
		var wantHeld, wantServed int
		for _, it := range p.Items {
			if delayed(int(it.Seq), attempt[it.Seq]) {
				wantHeld++
			} else {
				wantServed++
			}
		}
		for wantHeld+wantServed > 0 {
			select {
			case <-held:
				wantHeld--
			case <-served:
				wantServed--
			case <-time.After(guard):
				t.Fatalf("push %d: %d still to be held, %d to be served", p.ID, wantHeld, wantServed)
			}
		}
		// Every other item of the push was served while these waited.
		for _, it := range p.Items {
			if delayed(int(it.Seq), attempt[it.Seq]) {
				select {
				case release <- struct{}{}:
				case <-time.After(guard):
					t.Fatalf("push %d: seq %d is not held", p.ID, it.Seq)
				}
			}
		}
	})

	for k := range want {
		if !slices.Equal(order[k], want[k]) {
			t.Errorf("key %s taken as %v, want %v", k, order[k], want[k])
		}
	}
	for seq := uint64(1); seq <= keys*perKey; seq++ {
		var wantErrs []string
		if seq%3 == 0 {
			wantErrs = []string{"503 Service Unavailable (Retry-After: 1): warming up", "503 Service Unavailable (Retry-After: 1): warming up"}
		}
		if !slices.Equal(errs[seq], wantErrs) {
			t.Errorf("seq %d failed with %q, want %q", seq, errs[seq], wantErrs)
		}
	}
}

// refused and delayed are what TestWebhookRecovers's server does to
// attempt n of message seq.
func refused(seq, n int) bool { return seq%3 == 0 && n <= 2 }
func delayed(seq, n int) bool { return seq%3 == 1 && n == 1 }

// holdingServer answers no request: each waits until its client gives
// up, then reports its Idempotency-Key on gone. arrived gets it first.
func holdingServer(t *testing.T) (srv *httptest.Server, arrived, gone chan string) {
	arrived, gone = make(chan string, 64), make(chan string, 64)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a client gone once it has read the body.
		_, _ = io.ReadAll(r.Body)
		idem := r.Header.Get("Idempotency-Key")
		arrived <- idem
		<-r.Context().Done()
		gone <- idem
	}))
	t.Cleanup(srv.Close)
	return srv, arrived, gone
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatalf("no %s", what)
		var zero T
		return zero
	}
}

// TestWebhookDeadline: a server that never answers fails each item of
// the push when the push's time is up.
func TestWebhookDeadline(t *testing.T) {
	srv, _, _ := holdingServer(t)
	spec := &connector.Webhook{URL: srv.URL, Method: "POST"}
	te := newTestEndpoints(t, 100*time.Millisecond)
	a := te.push(t, &connector.Push{ID: 1, Replicaset: "rs1", Destination: "slow", Spec: spec,
		Items: itemsOf(t, spec, "slow", msg{1, "a", "{}"}, msg{2, "b", "{}"})})
	for _, r := range a.Results {
		if r.Err != "context deadline exceeded" {
			t.Errorf("seq %d: Err %q, want the deadline's", r.Seq, r.Err)
		}
	}
}

// TestWebhookBoundsRequests pushes more messages than a webhook sends at
// once to a server that holds them, releasing one at a time: at most
// webhookParallel are outstanding, and all are delivered.
func TestWebhookBoundsRequests(t *testing.T) {
	const n = 3 * webhookParallel
	var mu sync.Mutex
	var inFlight, most int
	arrived := make(chan struct{}, n)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		defer func() {
			mu.Lock()
			inFlight--
			mu.Unlock()
		}()
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	spec := &connector.Webhook{URL: srv.URL, Method: "POST"}
	te := newTestEndpoints(t, guard)
	var msgs []msg
	for i := range n {
		msgs = append(msgs, msg{uint64(i + 1), fmt.Sprint("k", i), "{}"})
	}
	p := &connector.Push{ID: 1, Replicaset: "rs1", Destination: "hook", Spec: spec, Items: itemsOf(t, spec, "hook", msgs...)}
	te.send(connector.Endpoint("hook"), p)
	for range webhookParallel {
		receive(t, arrived, "request")
	}
	for i := range n {
		release <- struct{}{}
		if i+webhookParallel < n {
			receive(t, arrived, "request")
		}
	}
	for _, r := range te.await(t, p).Results {
		if r.Err != "" {
			t.Errorf("seq %d: %s", r.Seq, r.Err)
		}
	}
	if most != webhookParallel {
		t.Errorf("%d requests at once, want %d", most, webhookParallel)
	}
}

// TestEndpointsCloseCancels: closing the endpoints cancels the requests
// in flight and returns once their goroutines have.
func TestEndpointsCloseCancels(t *testing.T) {
	noLeaks(t)
	srv, arrived, gone := holdingServer(t)
	spec := &connector.Webhook{URL: srv.URL, Method: "POST"}
	te := newTestEndpoints(t, time.Hour)
	te.send(connector.Endpoint("hook"), &connector.Push{ID: 1, Replicaset: "rs1", Destination: "hook", Spec: spec,
		Items: itemsOf(t, spec, "hook", msg{1, "a", "{}"})})
	receive(t, arrived, "request")
	closed := make(chan struct{})
	go func() {
		te.close()
		close(closed)
	}()
	receive(t, closed, "return from close")
	if got := receive(t, gone, "cancellation"); got != "rs1-1" {
		t.Errorf("cancelled %q", got)
	}
	// Pushes after close are dropped.
	te.send(connector.Endpoint("hook"), &connector.Push{ID: 2, Replicaset: "rs1", Destination: "hook", Spec: spec})
	te.wg.Wait()
}

// TestNodeRoutesPushesToEndpoints: an instance's engine reaches an
// endpoint through its adapters, not its peers; closing the instance
// stops them.
func TestNodeRoutesPushesToEndpoints(t *testing.T) {
	noLeaks(t)
	srv, arrived, gone := holdingServer(t)
	n, err := Open(Config{Name: "n1", DataDir: filepath.Join(t.TempDir(), "n1"), PeerAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	spec := &connector.Webhook{URL: srv.URL, Method: "POST"}
	p := &connector.Push{ID: 1, Replicaset: "rs1", Destination: "hook", Spec: spec, Items: itemsOf(t, spec, "hook", msg{1, "a", "{}"})}
	n.post(func() { envOf{n}.Send(connector.Endpoint("hook"), p) })
	if got := receive(t, arrived, "request"); got != "rs1-1" {
		t.Errorf("the server got %q", got)
	}
	n.Close()
	receive(t, gone, "cancellation")
}

// memoSpec is the spec of the memo outbound type, which only the tests
// have; memoSender records what it does in its log.
type memoSpec struct{ name string }

func (*memoSpec) Type() string { return "memo" }
func (*memoSpec) Render(m *connector.Message) (connector.Request, error) {
	return connector.Request{Body: m.Value}, nil
}

type memoLog struct {
	mu     sync.Mutex
	events []string
}

func (l *memoLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
}

func (l *memoLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

var memos memoLog

type memoSender struct{ spec *memoSpec }

func (s memoSender) Send(ctx context.Context, items []connector.Item) []connector.Result {
	var out []connector.Result
	for _, it := range items {
		switch string(it.Request.Body) {
		case "panic":
			panic("memo cannot")
		case "silent":
			continue
		}
		memos.add("send %s %d", s.spec.name, it.Seq)
		out = append(out, connector.Result{Seq: it.Seq})
	}
	slices.Reverse(out)
	return out
}

func (s memoSender) Close() error {
	memos.add("close %s", s.spec.name)
	return nil
}

func init() {
	RegisterSender("memo", func(spec connector.OutboundSpec) (Sender, error) {
		s := spec.(*memoSpec)
		if s.name == "broken" {
			return nil, fmt.Errorf("memo %s will not open", s.name)
		}
		memos.add("open %s", s.name)
		return memoSender{s}, nil
	})
}

// TestSenders: a registered type's sender is opened once per spec and
// closed when a new spec replaces it or the endpoints close; its results
// are put in item order; a missing result, a panic, a type without a
// sender and a sender that will not open fail the items.
func TestSenders(t *testing.T) {
	te := newTestEndpoints(t, guard)
	v1, v2 := &memoSpec{"v1"}, &memoSpec{"v2"}
	push := func(id uint64, spec connector.OutboundSpec, values ...string) []connector.Result {
		var msgs []msg
		for i, v := range values {
			msgs = append(msgs, msg{id*10 + uint64(i), fmt.Sprint("k", i), v})
		}
		items := itemsOf(t, &memoSpec{}, "memo", msgs...)
		return te.push(t, &connector.Push{ID: id, Replicaset: "rs1", Destination: "memo", Spec: spec, Items: items}).Results
	}
	check := func(step string, got []connector.Result, want ...string) {
		t.Helper()
		for i, r := range got {
			if i >= len(want) || !strings.Contains(r.Err, want[i]) || (want[i] == "") != (r.Err == "") {
				t.Errorf("%s: result %d is %q, want %q", step, i, r.Err, want)
			}
		}
	}
	check("v1", push(1, v1, "a", "b"), "", "")
	check("v1 again", push(2, v1, "c", "silent"), "", "no result")
	if got, want := memos.take(), []string{"open v1", "send v1 10", "send v1 11", "send v1 20"}; !slices.Equal(got, want) {
		t.Errorf("v1: %q, want %q", got, want)
	}
	check("v2", push(3, v2, "d"), "")
	if got, want := memos.take(), []string{"open v2", "close v1", "send v2 30"}; !slices.Equal(got, want) {
		t.Errorf("v2: %q, want %q", got, want)
	}
	check("panic", push(4, v2, "panic", "e"), "panicked: memo cannot", "panicked: memo cannot")
	check("broken", push(5, &memoSpec{"broken"}, "f"), "will not open")
	check("nil spec", push(6, nil, "g"), "lacks the destination's type")
	check("no sender", push(7, &otherSpec{}, "h"), `no sender for the outbound type "other"`)
	memos.take()
	te.close()
	if got, want := memos.take(), []string{"close v2"}; !slices.Equal(got, want) {
		t.Errorf("close: %q, want %q", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("a second webhook sender was registered")
		}
	}()
	RegisterSender("webhook", openWebhook)
}

type otherSpec struct{}

func (*otherSpec) Type() string { return "other" }
func (*otherSpec) Render(m *connector.Message) (connector.Request, error) {
	return connector.Request{Body: m.Value}, nil
}

// kafkaCluster is an in-process Kafka of one broker with the topic
// "orders" of three partitions.
func kafkaCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// readTopic reads every record of topic, by partition.
func readTopic(t *testing.T, brokers []string, topic string, partitions int) [][]kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	out := make([][]kafka.Message, partitions)
	for p := range partitions {
		conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p)
		if err != nil {
			t.Fatal(err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		for range last {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("partition %d: %v", p, err)
			}
			out[p] = append(out[p], m)
		}
		r.Close()
	}
	return out
}

// TestKafkaProduces drains a queue into a topic, one message of a key
// at a time: every record is there once, with its key, value and
// headers, a key's records in one partition and in order.
func TestKafkaProduces(t *testing.T) {
	c := kafkaCluster(t)
	brokers := c.ListenAddrs()
	spec := &connector.KafkaOutbound{Brokers: brokers, Topic: "orders", Headers: []connector.Header{{Name: "X-Source", Value: "shoal"}}}
	te := newTestEndpoints(t, guard)
	const keys, perKey = 6, 5
	q := newQueue(keys, perKey)
	want := map[string][]msg{}
	for k, ms := range q.msgs {
		want[k] = ms
	}
	if errs := q.drain(t, te, spec, "orders", nil); len(errs) != 0 {
		t.Fatalf("failures: %v", errs)
	}

	got := map[string][]msg{}
	partition := map[string]int{}
	for p, records := range readTopic(t, brokers, "orders", 3) {
		for _, r := range records {
			key := string(r.Key)
			if q, ok := partition[key]; ok && q != p {
				t.Errorf("key %s in partitions %d and %d", key, q, p)
			}
			partition[key] = p
			var idem, source string
			for _, h := range r.Headers {
				switch h.Key {
				case "Idempotency-Key":
					idem = string(h.Value)
				case "X-Source":
					source = string(h.Value)
				}
			}
			var seq uint64
			fmt.Sscanf(idem, "rs1-%d", &seq)
			if source != "shoal" || len(r.Headers) != 2 {
				t.Errorf("record %s: headers %v", idem, r.Headers)
			}
			got[key] = append(got[key], msg{seq, key, string(r.Value)})
		}
	}
	for k := range want {
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("key %s: records %v, want %v", k, got[k], want[k])
		}
	}
	if len(got) != keys {
		t.Errorf("%d keys in the topic, want %d", len(got), keys)
	}
}

// TestKafkaRecordErrors: a broker that refuses the records of one
// partition fails those items, and only those.
func TestKafkaRecordErrors(t *testing.T) {
	c := kafkaCluster(t)
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.ProduceRequest)
		resp := r.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				if rp.Partition == 1 {
					sp.ErrorCode = int16(kafka.InvalidRecord)
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	spec := &connector.KafkaOutbound{Brokers: c.ListenAddrs(), Topic: "orders"}
	te := newTestEndpoints(t, guard)
	var msgs []msg
	var refused []bool
	for i := range 12 {
		key := fmt.Sprint("k", i)
		msgs = append(msgs, msg{uint64(i + 1), key, "{}"})
		refused = append(refused, (&kafka.Hash{}).Balance(kafka.Message{Key: []byte(key)}, 0, 1, 2) == 1)
	}
	if !slices.Contains(refused, true) || !slices.Contains(refused, false) {
		t.Fatalf("the keys do not cover partition 1 and the others: %v", refused)
	}
	a := te.push(t, &connector.Push{ID: 1, Replicaset: "rs1", Destination: "orders", Spec: spec, Items: itemsOf(t, spec, "orders", msgs...)})
	for i, r := range a.Results {
		if refused[i] != strings.Contains(r.Err, kafka.InvalidRecord.Title()) || refused[i] != (r.Err != "") {
			t.Errorf("seq %d (partition 1: %v): Err %q", r.Seq, refused[i], r.Err)
		}
	}
}

// TestKafkaBrokerGone: once the broker is gone, a push fails each of its
// items, within the push's time.
func TestKafkaBrokerGone(t *testing.T) {
	c := kafkaCluster(t)
	spec := &connector.KafkaOutbound{Brokers: c.ListenAddrs(), Topic: "orders"}
	te := newTestEndpoints(t, 5*time.Second)
	push := func(id uint64) *connector.Pushed {
		return te.push(t, &connector.Push{ID: id, Replicaset: "rs1", Destination: "orders", Spec: spec,
			Items: itemsOf(t, spec, "orders", msg{id*10 + 1, "a", "{}"}, msg{id*10 + 2, "b", "{}"})})
	}
	for _, r := range push(1).Results {
		if r.Err != "" {
			t.Fatalf("seq %d with the broker up: %s", r.Seq, r.Err)
		}
	}
	c.Close()
	for _, r := range push(2).Results {
		if r.Err == "" {
			t.Errorf("seq %d taken by a broker that is gone", r.Seq)
		}
	}
}

// TestKafkaBrokerSilent: a broker that never answers a produce request
// fails each item when the push's time is up, and closing the sender does
// not wait for kafka-go's own retries.
func TestKafkaBrokerSilent(t *testing.T) {
	c := kafkaCluster(t)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true
	})
	spec := &connector.KafkaOutbound{Brokers: c.ListenAddrs(), Topic: "orders"}
	te := newTestEndpoints(t, 200*time.Millisecond)
	a := te.push(t, &connector.Push{ID: 1, Replicaset: "rs1", Destination: "orders", Spec: spec,
		Items: itemsOf(t, spec, "orders", msg{1, "a", "{}"}, msg{2, "b", "{}"})})
	for _, r := range a.Results {
		if r.Err != "context deadline exceeded" {
			t.Errorf("seq %d: Err %q, want the deadline's", r.Seq, r.Err)
		}
	}
	start := time.Now()
	te.close()
	t.Logf("closed in %v", time.Since(start))
}
