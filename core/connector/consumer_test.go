package connector

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/kv"
	"pgregory.net/rapid"
)

func kafkaIn(maxBatch int) *Inbound {
	return &Inbound{Name: "crm", Type: "kafka", Spec: &KafkaInbound{Brokers: []string{"k:9092"}, Topic: "t", Group: "shoal-crm",
		MaxBatch: maxBatch, Start: "earliest"}}
}

var testConsumerConfig = ConsumerConfig{Tick: 100 * time.Millisecond, Timeout: time.Second, Resend: 400 * time.Millisecond,
	BackoffMin: 200 * time.Millisecond, BackoffMax: 800 * time.Millisecond, Idle: 300 * time.Millisecond}

func newTestConsumer(maxBatch int) *Consumer {
	return NewConsumer(kafkaIn(maxBatch), "n1", testConsumerConfig, rand.New(rand.NewPCG(1, 2)))
}

func rec(p int32, off int64, key string) Record {
	r := Record{Topic: "t", Partition: p, Offset: off, Value: []byte(fmt.Sprintf(`{"p":%d,"o":%d}`, p, off))}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

// mustFetch ticks c until it fetches.
func mustFetch(t *testing.T, c *Consumer) *Fetch {
	t.Helper()
	for range 1000 {
		if out := c.Tick(); out.Fetch != nil {
			return out.Fetch
		}
	}
	t.Fatal("the consumer never fetched")
	return nil
}

func TestRecordMessage(t *testing.T) {
	r := Record{Topic: "orders", Partition: 3, Offset: 42, Key: []byte("cust-7"), Value: []byte(`{"a":1}`),
		Headers: []Header{{"X-Kind", "one"}, {"B", "b"}, {"X-Kind", "two"}, {KeyHeader, "forged"}}}
	m, key, poison := RecordMessage("shop", &r)
	if poison != "" || key != "cust-7" {
		t.Fatalf("key %q, poison %q", key, poison)
	}
	want := kv.Message{ID: "shop/orders/3/42", Connector: "shop", Payload: []byte(`{"a":1}`),
		Headers: []kv.Header{{Name: "B", Value: "b"}, {Name: KeyHeader, Value: "cust-7"}, {Name: "X-Kind", Value: "two"}}}
	if m.ID != want.ID || m.Connector != want.Connector || string(m.Payload) != string(want.Payload) || !slices.Equal(m.Headers, want.Headers) {
		t.Fatalf("got %+v\nwant %+v", m, want)
	}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	// Without a key: routed by the id, no key header; a forged one stays.
	r.Key = nil
	m, key, _ = RecordMessage("shop", &r)
	if key != "shop/orders/3/42" {
		t.Fatalf("keyless record routed by %q", key)
	}
	if v, ok := m.Header(KeyHeader); !ok || v != "forged" {
		t.Fatalf("keyless record's %s: %q %v", KeyHeader, v, ok)
	}
}

func TestRecordID(t *testing.T) {
	if id := RecordID("crm", "t.x", 0, 7); id != "crm/t.x/0/7" {
		t.Fatal(id)
	}
	long := strings.Repeat("t", 249)
	id := RecordID(strings.Repeat("c", 64), long, 2147483647, 1<<62)
	if len(id) > kv.MaxMessageID || !strings.Contains(id, "/~") {
		t.Fatalf("%d bytes: %s", len(id), id)
	}
	if other := RecordID(strings.Repeat("c", 64), long[1:]+"u", 2147483647, 1<<62); other == id {
		t.Fatal("two long topics gave one id")
	}
}

func TestRecordPoison(t *testing.T) {
	many := make([]Header, kv.MaxHeaders+1)
	for i := range many {
		many[i] = Header{Name: fmt.Sprintf("H%03d", i), Value: "v"}
	}
	for _, tc := range []struct {
		name string
		r    Record
		want string
	}{
		{"payload", Record{Topic: "t", Partition: 1, Offset: 9, Key: []byte("k"), Value: make([]byte, kv.MaxPayload+1)}, "payload"},
		{"headers", Record{Topic: "t", Partition: 1, Offset: 9, Headers: many}, "headers"},
		{"header", Record{Topic: "t", Partition: 1, Offset: 9, Headers: []Header{{"H", strings.Repeat("x", kv.MaxHeaderLen)}}}, "header 0"},
		{"key", Record{Topic: "t", Partition: 1, Offset: 9, Key: make([]byte, kv.MaxHeaderLen)}, "header 0"},
		{"empty name", Record{Topic: "t", Partition: 1, Offset: 9, Headers: []Header{{"", "x"}}}, "empty name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, key, poison := RecordMessage("crm", &tc.r)
			if !strings.Contains(poison, tc.want) {
				t.Fatalf("poison %q, want it to mention %q", poison, tc.want)
			}
			if err := m.Check(); err != nil {
				t.Fatalf("the stand-in does not fit the queue: %v", err)
			}
			if m.ID != "crm/t/1/9" || m.Connector != "crm" || len(m.Headers) != 1 || m.Headers[0].Name != PoisonHeader || m.Headers[0].Value != poison {
				t.Fatalf("stand-in %+v", m)
			}
			var p struct {
				Poison    string
				Topic     string
				Partition int32
				Offset    int64
			}
			if err := json.Unmarshal(m.Payload, &p); err != nil || p.Poison != poison || p.Topic != "t" || p.Partition != 1 || p.Offset != 9 {
				t.Fatalf("payload %s (%v)", m.Payload, err)
			}
			wantKey := m.ID
			if len(tc.r.Key) > 0 && len(tc.r.Key) <= kv.MaxHeaderLen {
				wantKey = string(tc.r.Key)
			}
			if key != wantKey {
				t.Fatalf("routed by %q, want %q", key, wantKey)
			}
		})
	}
}

// nothing reports whether out asks for nothing and reports nothing.
func nothing(out Out) bool {
	return out.Fetch == nil && out.Commit == nil && len(out.Enqueues) == 0 && out.Batch == nil && out.Committed == nil && out.Failure == nil
}

// handed is the message ids of out's enqueues, in order.
func handed(out Out) []string {
	var ids []string
	for _, e := range out.Enqueues {
		ids = append(ids, e.Message.ID)
	}
	return ids
}

// only is out's one enqueue; it fails the test when out has another
// number of them.
func only(t *testing.T, out Out) Enqueue {
	t.Helper()
	if len(out.Enqueues) != 1 {
		t.Fatalf("%d enqueues, want one: %+v", len(out.Enqueues), out)
	}
	return out.Enqueues[0]
}

// TestConsumerBatch: fetch, hand every record of different keys to the
// queue at once, in the batch's order, take their answers in any order,
// commit the batch's next offsets with its generation once all are
// acknowledged, fetch again.
func TestConsumerBatch(t *testing.T) {
	c := newTestConsumer(10)
	f := mustFetch(t, c)
	if f.Member != "n1" || f.Max != 10 || f.Connector != "crm" || f.Spec != c.Spec() {
		t.Fatalf("fetch %+v", f)
	}
	out := c.Fetched(&Fetched{ID: f.ID, Connector: "crm", Generation: 4, Records: []Record{rec(0, 5, "a"), rec(0, 6, ""), rec(2, 1, "b")}})
	if b := out.Batch; b == nil || b.Generation != 4 || b.Records != 3 || b.Poison != 0 ||
		!slices.Equal(b.Ranges, []Range{{"t", 0, 5, 6}, {"t", 2, 1, 1}}) {
		t.Fatalf("batch %+v", out.Batch)
	}
	var keys []string
	for _, e := range out.Enqueues {
		keys = append(keys, e.Message.ID+" "+e.Key)
	}
	if want := []string{"crm/t/0/5 a", "crm/t/0/6 crm/t/0/6", "crm/t/2/1 b"}; !slices.Equal(keys, want) {
		t.Fatalf("enqueued %q, want %q", keys, want)
	}
	es := out.Enqueues
	if st := c.Status(); st.Phase != "enqueuing" || st.Acked != 0 || st.InFlight != 3 {
		t.Fatalf("status %+v", st)
	}
	for _, k := range []int{2, 0} {
		if !c.Awaits(es[k].N) {
			t.Fatalf("hand-out %d not awaited", es[k].N)
		}
		if out = c.Enqueued(es[k].N, kv.StatusOK, 0, ""); !nothing(out) {
			t.Fatalf("before the last answer: %+v", out)
		}
		if c.Awaits(es[k].N) {
			t.Fatalf("hand-out %d still awaited once answered", es[k].N)
		}
		if out = c.Tick(); !nothing(out) {
			t.Fatalf("a tick while enqueuing: %+v", out)
		}
	}
	if st := c.Status(); st.Acked != 2 || st.InFlight != 1 {
		t.Fatalf("status %+v", st)
	}
	out = c.Enqueued(es[1].N, kv.StatusOK, 0, "")
	cm := out.Commit
	if cm == nil || cm.Generation != 4 || cm.Member != "n1" || !slices.Equal(cm.Offsets, []Offset{{"t", 0, 7}, {"t", 2, 2}}) {
		t.Fatalf("commit %+v", out)
	}
	out = c.Committed(&Committed{ID: cm.ID, Connector: "crm"})
	if out.Committed == nil || out.Fetch == nil || out.Fetch.ID <= cm.ID {
		t.Fatalf("after the commit: %+v", out)
	}
}

// TestConsumerKeyOrder: records of one routing key go one at a time, in
// the batch's order, each once the one before it is acknowledged;
// keyless records wait for nothing; at most InFlight are out; the
// lowest free record goes first.
func TestConsumerKeyOrder(t *testing.T) {
	cfg := testConsumerConfig
	cfg.InFlight = 3
	c := NewConsumer(kafkaIn(10), "n1", cfg, rand.New(rand.NewPCG(1, 2)))
	f := mustFetch(t, c)
	out := c.Fetched(&Fetched{ID: f.ID, Connector: "crm", Generation: 1, Records: []Record{
		rec(0, 0, "a"), rec(0, 1, "a"), rec(0, 2, "b"), rec(0, 3, ""), rec(0, 4, ""), rec(1, 0, "a"), rec(1, 1, "c")}})
	n := map[string]uint64{}
	step := func(out Out, want ...string) {
		t.Helper()
		if got := handed(out); !slices.Equal(got, want) {
			t.Fatalf("handed out %q, want %q", got, want)
		}
		for _, e := range out.Enqueues {
			n[e.Message.ID] = e.N
		}
		if st := c.Status(); st.InFlight > cfg.InFlight {
			t.Fatalf("%d out, the window is %d", st.InFlight, cfg.InFlight)
		}
	}
	ok := func(id string) Out { t.Helper(); return c.Enqueued(n[id], kv.StatusOK, 0, "") }
	step(out, "crm/t/0/0", "crm/t/0/2", "crm/t/0/3") // 0/1 waits for 0/0, and the window is full
	step(ok("crm/t/0/2"), "crm/t/0/4")               // 0/1 still waits
	step(ok("crm/t/0/3"), "crm/t/1/1")               // 1/0 is of key a too: it waits for 0/1
	step(ok("crm/t/0/0"), "crm/t/0/1")
	step(ok("crm/t/0/4"))
	step(ok("crm/t/0/1"), "crm/t/1/0")
	step(ok("crm/t/1/1"))
	out = ok("crm/t/1/0")
	if out.Commit == nil || !slices.Equal(out.Commit.Offsets, []Offset{{"t", 0, 5}, {"t", 1, 2}}) {
		t.Fatalf("commit %+v", out)
	}
}

// TestConsumerBusy: a busy queue pauses the batch for RetryAfter: the
// record goes again after it, under a new N, and nothing new goes
// meanwhile; answers to the records out are still taken, and the old
// N's answer is dropped.
func TestConsumerBusy(t *testing.T) {
	c := newTestConsumer(10)
	f := mustFetch(t, c)
	out := c.Fetched(&Fetched{ID: f.ID, Connector: "crm", Generation: 1, Records: []Record{rec(0, 0, "k"), rec(0, 1, "k"), rec(0, 2, ""), rec(0, 3, "")}})
	if got := handed(out); !slices.Equal(got, []string{"crm/t/0/0", "crm/t/0/2", "crm/t/0/3"}) {
		t.Fatalf("handed out %q", got)
	}
	first, keyless, last := out.Enqueues[0], out.Enqueues[1], out.Enqueues[2]
	out = c.Enqueued(first.N, kv.StatusBusy, 450*time.Millisecond, "full")
	if out.Failure == nil || out.Failure.What != "enqueue" || out.Failure.Wait != 450*time.Millisecond || len(out.Enqueues) != 0 {
		t.Fatalf("busy: %+v", out)
	}
	if out = c.Enqueued(keyless.N, kv.StatusOK, 0, ""); !nothing(out) {
		t.Fatalf("an answer while paused: %+v", out)
	}
	c.Tick()
	// A second busy answer while paused: the pause ends at the later of
	// the two.
	if out = c.Enqueued(last.N, kv.StatusBusy, 100*time.Millisecond, ""); out.Failure == nil || len(out.Enqueues) != 0 {
		t.Fatalf("busy again: %+v", out)
	}
	for i := 2; i <= 4; i++ {
		if out = c.Tick(); len(out.Enqueues) != 0 {
			t.Fatalf("enqueued again after %d ticks, before the 450ms", i)
		}
	}
	out = c.Tick()
	if got := handed(out); !slices.Equal(got, []string{"crm/t/0/0", "crm/t/0/3"}) || out.Enqueues[0].N == first.N {
		t.Fatalf("after the wait: %+v", out)
	}
	again := out.Enqueues[0]
	if out = c.Enqueued(first.N, kv.StatusOK, 0, ""); !nothing(out) {
		t.Fatalf("a stale answer was taken: %+v", out)
	}
	if e := only(t, c.Enqueued(again.N, kv.StatusOK, 0, "")); e.Offset != 1 {
		t.Fatalf("next: %+v", e)
	}
}

// TestConsumerFailures: fetch errors and timeouts back off, doubling up
// to the cap with jitter, and a late answer is dropped; a success resets
// the backoff.
func TestConsumerFailures(t *testing.T) {
	c := newTestConsumer(10)
	var waits []time.Duration
	for range 5 {
		f := mustFetch(t, c)
		out := c.Fetched(&Fetched{ID: f.ID, Connector: "crm", Err: "broker unreachable"})
		if out.Failure == nil || out.Failure.What != "fetch" || out.Failure.Err != "broker unreachable" {
			t.Fatalf("%+v", out)
		}
		waits = append(waits, out.Failure.Wait)
	}
	caps := []time.Duration{200, 400, 800, 800, 800}
	for i, w := range waits {
		if c := caps[i] * time.Millisecond; w < c/2 || w > c {
			t.Fatalf("wait %d: %s, want within [%s, %s] (%v)", i+1, w, c/2, c, waits)
		}
	}
	f := mustFetch(t, c)
	for range 9 {
		if out := c.Tick(); !nothing(out) && !reflect.DeepEqual(out, Out{Fetch: f}) {
			t.Fatalf("before the timeout: %+v", out)
		}
	}
	out := c.Tick()
	if out.Failure == nil || out.Failure.What != "fetch" || !strings.Contains(out.Failure.Err, "no answer within 1s") {
		t.Fatalf("timeout: %+v", out)
	}
	if late := c.Fetched(&Fetched{ID: f.ID, Connector: "crm", Records: []Record{rec(0, 0, "")}}); !nothing(late) {
		t.Fatalf("a late answer was taken: %+v", late)
	}
	f = mustFetch(t, c)
	c.Fetched(&Fetched{ID: f.ID, Connector: "crm"}) // nothing: success
	if st := c.Status(); st.Failures != 0 || st.Phase != "waiting" {
		t.Fatalf("after an empty fetch: %+v", st)
	}
	// An empty fetch idles 300ms before the next.
	for i := range 2 {
		if out := c.Tick(); out.Fetch != nil {
			t.Fatalf("fetched again after %d ticks", i+1)
		}
	}
	if c.Tick().Fetch == nil {
		t.Fatal("did not fetch after idling")
	}
}

// TestConsumerResend: an unanswered fetch or commit is sent again, the
// same request, every Resend until Timeout; any copy's answer does.
func TestConsumerResend(t *testing.T) {
	cfg := testConsumerConfig
	cfg.Resend = 300 * time.Millisecond // ticks 3, 6, 9; the timeout at 10
	c := NewConsumer(kafkaIn(10), "n1", cfg, rand.New(rand.NewPCG(1, 2)))
	f := mustFetch(t, c)
	var again []int
	for i := 1; i <= 9; i++ {
		if out := c.Tick(); out.Fetch != nil {
			if out.Fetch != f {
				t.Fatalf("tick %d: resent %+v, not the fetch %+v", i, out.Fetch, f)
			}
			again = append(again, i)
		}
	}
	if !slices.Equal(again, []int{3, 6, 9}) {
		t.Fatalf("resent after ticks %v, want 3, 6, 9", again)
	}
	out := c.Fetched(&Fetched{ID: f.ID, Connector: "crm", Generation: 1, Records: []Record{rec(0, 0, "")}})
	if dup := c.Fetched(&Fetched{ID: f.ID, Connector: "crm", Generation: 1, Records: []Record{rec(0, 0, "")}}); !nothing(dup) {
		t.Fatalf("a second copy's answer was taken: %+v", dup)
	}
	cm := c.Enqueued(only(t, out).N, kv.StatusOK, 0, "").Commit
	for range 2 {
		c.Tick()
	}
	if out = c.Tick(); out.Commit != cm {
		t.Fatalf("commit not resent: %+v", out)
	}
	if out = c.Committed(&Committed{ID: cm.ID, Connector: "crm"}); out.Committed == nil || out.Fetch == nil {
		t.Fatalf("answer to the resent commit: %+v", out)
	}
}

// TestConsumerCommitFailures: a refused commit drops the batch and
// fetches again at once; an unanswered one times out and backs off.
func TestConsumerCommitFailures(t *testing.T) {
	c := newTestConsumer(10)
	batch := func() *Commit {
		f := mustFetch(t, c)
		out := c.Fetched(&Fetched{ID: f.ID, Connector: "crm", Generation: 2, Records: []Record{rec(1, 3, "")}})
		out = c.Enqueued(only(t, out).N, kv.StatusOK, 0, "")
		return out.Commit
	}
	cm := batch()
	out := c.Committed(&Committed{ID: cm.ID, Connector: "crm", Err: "generation 2 is stale: the group is at 3"})
	if out.Fetch == nil || out.Failure == nil || out.Failure.What != "commit" || out.Committed != nil {
		t.Fatalf("refused: %+v", out)
	}
	c.Fetched(&Fetched{ID: out.Fetch.ID, Connector: "crm"})
	cm = batch()
	for range 9 {
		c.Tick()
	}
	if out = c.Tick(); out.Failure == nil || out.Failure.What != "commit" || out.Failure.Wait == 0 {
		t.Fatalf("timeout: %+v", out)
	}
	if late := c.Committed(&Committed{ID: cm.ID, Connector: "crm"}); !nothing(late) {
		t.Fatalf("late answer taken: %+v", late)
	}
}

// TestConsumerRefusedBecomesPoison: a record the queue refuses goes
// again as its poison stand-in, before the next of its key; a stand-in
// refused ends the batch, and the enqueues still out are no longer
// awaited.
func TestConsumerRefusedBecomesPoison(t *testing.T) {
	c := newTestConsumer(10)
	f := mustFetch(t, c)
	out := c.Fetched(&Fetched{ID: f.ID, Connector: "crm", Generation: 1, Records: []Record{rec(0, 0, "k"), rec(0, 1, "k"), rec(0, 2, "")}})
	if got := handed(out); !slices.Equal(got, []string{"crm/t/0/0", "crm/t/0/2"}) {
		t.Fatalf("handed out %q", got)
	}
	e, other := out.Enqueues[0], out.Enqueues[1]
	p := only(t, c.Enqueued(e.N, kv.StatusInvalid, 0, "something the queue dislikes"))
	if p.Message.ID != e.Message.ID || p.Key != "k" || !strings.Contains(p.Poison, "something the queue dislikes") {
		t.Fatalf("%+v", p)
	}
	if v, _ := p.Message.Header(PoisonHeader); v != p.Poison {
		t.Fatalf("stand-in headers %+v", p.Message.Headers)
	}
	out = c.Enqueued(p.N, kv.StatusInvalid, 0, "no")
	if out.Failure == nil || out.Failure.Wait == 0 || len(out.Enqueues) != 0 || c.Status().Phase != "waiting" {
		t.Fatalf("%+v", out)
	}
	if c.Awaits(other.N) {
		t.Fatal("an enqueue of the dropped batch is still awaited")
	}
	if out = c.Enqueued(other.N, kv.StatusOK, 0, ""); !nothing(out) {
		t.Fatalf("an answer for the dropped batch was taken: %+v", out)
	}
}

// fakeGroup is a consumer group with one member, for the property: a
// topic, the committed offsets, the generation; and the queue's
// acknowledged ids.
type fakeGroup struct {
	t          *rapid.T
	logs       [][]Record
	committed  []int64
	generation int64
	acked      map[string]bool
}

func (g *fakeGroup) produce(p int, keys int) {
	off := int64(len(g.logs[p]))
	key := "" // keyless: routed by its id
	if k := rapid.IntRange(0, keys).Draw(g.t, "key"); k < keys {
		key = fmt.Sprint("k", k)
	}
	g.logs[p] = append(g.logs[p], rec(int32(p), off, key))
}

func (g *fakeGroup) fetch(f *Fetch) *Fetched {
	a := &Fetched{ID: f.ID, Connector: f.Connector, Generation: g.generation}
	for p, log := range g.logs {
		for _, r := range log[g.committed[p]:] {
			if len(a.Records) < f.Max {
				a.Records = append(a.Records, r)
			}
		}
	}
	return a
}

// ack records that the queue took e, checking first that it took every
// earlier record of e's partition and key: records of one key take
// effect in offset order.
func (g *fakeGroup) ack(e *Enqueue) {
	if g.acked[e.Message.ID] {
		return
	}
	r := g.logs[e.Partition][e.Offset]
	if len(r.Key) > 0 {
		for _, before := range g.logs[e.Partition][:e.Offset] {
			if id := RecordID("crm", "t", before.Partition, before.Offset); string(before.Key) == string(r.Key) && !g.acked[id] {
				g.t.Fatalf("%s (key %s) taken before %s of the same key", e.Message.ID, r.Key, id)
			}
		}
	}
	g.acked[e.Message.ID] = true
}

// commit applies a commit the group accepts, checking first that it
// covers only records the queue acknowledged.
func (g *fakeGroup) commit(cm *Commit) *Committed {
	if cm.Generation != g.generation {
		return &Committed{ID: cm.ID, Connector: cm.Connector, Err: "stale generation"}
	}
	for _, o := range cm.Offsets {
		if o.Next > int64(len(g.logs[o.Partition])) {
			g.t.Fatalf("commit %+v past the log's end %d", o, len(g.logs[o.Partition]))
		}
		for off := int64(0); off < o.Next; off++ {
			if id := RecordID("crm", "t", o.Partition, off); !g.acked[id] {
				g.t.Fatalf("commit %+v covers %s, which the queue never acknowledged", o, id)
			}
		}
	}
	for _, o := range cm.Offsets {
		g.committed[o.Partition] = o.Next
	}
	return &Committed{ID: cm.ID, Connector: cm.Connector}
}

func (g *fakeGroup) done() bool {
	for p, log := range g.logs {
		if g.committed[p] != int64(len(log)) {
			return false
		}
	}
	return true
}

// TestPropConsumer: under random answers (ok, busy, refused, errors,
// lost, late, reordered and repeated answers, rebalances) a commit never
// covers a record whose enqueue was not acknowledged; records of one key
// are acknowledged in offset order, and the consumer never awaits more
// than its window of enqueues; and once the faults stop, every record is
// enqueued and committed.
func TestPropConsumer(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		parts := rapid.IntRange(1, 3).Draw(rt, "partitions")
		keys := rapid.IntRange(1, 4).Draw(rt, "keys")
		g := &fakeGroup{t: rt, logs: make([][]Record, parts), committed: make([]int64, parts), acked: map[string]bool{}}
		for p := range parts {
			for range rapid.IntRange(0, 8).Draw(rt, "records") {
				g.produce(p, keys)
			}
		}
		cfg := testConsumerConfig
		cfg.InFlight = rapid.IntRange(1, 5).Draw(rt, "in flight")
		c := NewConsumer(kafkaIn(rapid.IntRange(1, 8).Draw(rt, "max batch")), "n1", cfg,
			rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 0)))
		// pending answers, delivered later, out of order, or never.
		var pending []func() Out
		take := func(out Out, calm bool) {
			fate := func(label string, n int) int {
				if calm {
					return 0
				}
				return rapid.IntRange(0, n).Draw(rt, label)
			}
			if st := c.Status(); st.InFlight > cfg.InFlight {
				rt.Fatalf("%d enqueues out, the window is %d", st.InFlight, cfg.InFlight)
			}
			if f := out.Fetch; f != nil {
				switch fate("fetch fate", 3) {
				case 0: // answered
					a := g.fetch(f)
					pending = append(pending, func() Out { return c.Fetched(a) })
				case 1: // refused
					pending = append(pending, func() Out { return c.Fetched(&Fetched{ID: f.ID, Connector: f.Connector, Err: "unavailable"}) })
				case 2: // lost
				case 3: // answered, then a rebalance
					a := g.fetch(f)
					g.generation++
					pending = append(pending, func() Out { return c.Fetched(a) })
				}
			}
			if cm := out.Commit; cm != nil {
				switch fate("commit fate", 3) {
				case 0:
					a := g.commit(cm)
					pending = append(pending, func() Out { return c.Committed(a) })
				case 1: // the request lost
				case 2: // applied, the answer lost
					g.commit(cm)
				case 3: // refused: a rebalance came first
					g.generation++
					a := g.commit(cm)
					pending = append(pending, func() Out { return c.Committed(a) })
				}
			}
			for _, e := range out.Enqueues {
				// The instance sends an enqueue until it has an answer
				// (or the consumer no longer awaits it): only its
				// lateness is random.
				switch fate("enqueue fate", 3) {
				case 0, 1:
					pending = append(pending, func() Out {
						g.ack(&e)
						return c.Enqueued(e.N, kv.StatusOK, 0, "")
					})
				case 2:
					pending = append(pending, func() Out { return c.Enqueued(e.N, kv.StatusBusy, 150*time.Millisecond, "full") })
				case 3:
					pending = append(pending, func() Out { return c.Enqueued(e.N, kv.StatusInvalid, 0, "refused") })
				}
			}
		}
		steps := rapid.IntRange(0, 300).Draw(rt, "steps")
		for range steps {
			switch rapid.IntRange(0, 9).Draw(rt, "step") {
			case 0, 1, 2:
				take(c.Tick(), false)
			case 3:
				g.produce(rapid.IntRange(0, parts-1).Draw(rt, "partition"), keys)
			case 4:
				g.generation++
			default:
				if len(pending) == 0 {
					continue
				}
				i := rapid.IntRange(0, len(pending)-1).Draw(rt, "answer")
				deliver := pending[i]
				if !rapid.Bool().Draw(rt, "repeat") {
					pending = slices.Delete(pending, i, i+1)
				}
				take(deliver(), false)
			}
		}
		// Calm: every answer comes, in order, and is good.
		for i := 0; !g.done() || c.Status().Phase != "waiting" && c.Status().Phase != "fetching"; i++ {
			if i > 20000 {
				rt.Fatalf("not done after the faults stopped: committed %v, status %+v", g.committed, c.Status())
			}
			if len(pending) > 0 {
				deliver := pending[0]
				pending = pending[1:]
				take(deliver(), true)
				continue
			}
			take(c.Tick(), true)
		}
		for p, log := range g.logs {
			for _, r := range log {
				if id := RecordID("crm", "t", int32(p), r.Offset); !g.acked[id] {
					rt.Fatalf("%s was never enqueued", id)
				}
			}
		}
	})
}
