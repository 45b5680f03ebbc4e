package endpoint_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/endpoint"
)

const (
	dest   = "hook"
	pusher = env.NodeID("p1")
)

var hook = connector.Endpoint(dest)

// answer is a Pushed as the pusher got it, with the virtual time it came.
type answer struct {
	at     time.Duration
	pushed *connector.Pushed
}

// testPusher sends the pushes posted to it and keeps the answers.
type testPusher struct {
	e   env.Env
	got *[]answer
}

type sendPush struct {
	to env.NodeID
	p  *connector.Push
}

func (sendPush) Kind() string { return "test.push" }

func (p *testPusher) Receive(_ env.NodeID, m env.Message) {
	if pd, ok := m.(*connector.Pushed); ok {
		*p.got = append(*p.got, answer{at: p.e.Now().Sub(simnet.Epoch), pushed: pd})
	}
}

func (p *testPusher) Handle(ev env.Event) {
	if s, ok := ev.(sendPush); ok {
		p.e.Send(s.to, s.p)
	}
}

// fixture is a World with one endpoint, hook, and one pusher, p1, on 1 ms
// links.
type fixture struct {
	t   *testing.T
	w   *simnet.World
	got []answer
	id  uint64
	ep  *endpoint.Endpoint // hook's running incarnation
}

func newFixture(t *testing.T, seed uint64, cfg endpoint.Config) *fixture {
	t.Helper()
	w, err := simnet.New(simnet.Config{Seed: seed, KeepTrace: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	f := &fixture{t: t, w: w}
	start := endpoint.Start(cfg)
	if err := w.AddNode(hook, func(e env.Env) (env.Node, error) {
		n, err := start(e)
		if err == nil {
			f.ep = n.(*endpoint.Endpoint)
		}
		return n, err
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddNode(pusher, func(e env.Env) (env.Node, error) { return &testPusher{e: e, got: &f.got}, nil }); err != nil {
		t.Fatal(err)
	}
	return f
}

// push has p1 push items with the given idempotency keys now; each key's
// order key is its first letter, its body "body-KEY".
func (f *fixture) push(keys ...string) *connector.Push {
	f.id++
	p := &connector.Push{ID: f.id, Replicaset: "rs1", Destination: dest}
	for i, k := range keys {
		p.Items = append(p.Items, connector.Item{Seq: f.id*100 + uint64(i), IdempotencyKey: k, OrderKey: k[:1],
			Request: connector.Request{Body: []byte("body-" + k)}})
	}
	f.w.Post(pusher, sendPush{to: hook, p: p})
	return p
}

func (f *fixture) run(d time.Duration) {
	f.t.Helper()
	if err := f.w.RunFor(d); err != nil {
		f.t.Fatal(err)
	}
}

// events lists the endpoint's trace events of the given kind.
func (f *fixture) events(kind string) []env.Record {
	f.t.Helper()
	recs, err := f.w.Records()
	if err != nil {
		f.t.Fatal(err)
	}
	var out []env.Record
	for _, r := range recs {
		if r.Kind == kind && r.Node == hook {
			out = append(out, r)
		}
	}
	return out
}

func str(r env.Record, key string) string { s, _ := r.Str(key); return s }
func num(r env.Record, key string) int64  { n, _ := r.Int(key); return n }

// errs lists an answer's errors in item order.
func errs(a answer) []string {
	var out []string
	for _, r := range a.pushed.Results {
		out = append(out, r.Err)
	}
	return out
}

func TestUpTakesAndAnswersAtOnce(t *testing.T) {
	f := newFixture(t, 1, endpoint.Config{})
	p := f.push("a1", "b1")
	f.run(10 * time.Millisecond)
	if len(f.got) != 1 {
		t.Fatalf("got %d answers, want 1", len(f.got))
	}
	a := f.got[0]
	if a.at != 2*time.Millisecond {
		t.Errorf("answer came at %s, want 2ms (two 1ms hops)", a.at)
	}
	if a.pushed.ID != p.ID || a.pushed.Replicaset != "rs1" || a.pushed.Destination != dest {
		t.Errorf("answer %+v does not carry the push's ID, replicaset and destination", a.pushed)
	}
	for i, r := range a.pushed.Results {
		if r.Seq != p.Items[i].Seq || r.Err != "" {
			t.Errorf("result %d = %+v, want seq %d taken", i, r, p.Items[i].Seq)
		}
	}
	recv := f.events("endpoint.receive")
	if len(recv) != 2 {
		t.Fatalf("%d endpoint.receive events, want 2", len(recv))
	}
	sum := sha256.Sum256([]byte("body-a1"))
	r := recv[0]
	want := map[string]string{"destination": dest, "key": "a1", "order": "a", "replicaset": "rs1",
		"body": hex.EncodeToString(sum[:8]), "from": string(pusher)}
	for k, v := range want {
		if got := str(r, k); got != v {
			t.Errorf("endpoint.receive %s = %q, want %q", k, got, v)
		}
	}
	if seq, _ := r.Uint("seq"); seq != p.Items[0].Seq {
		t.Errorf("endpoint.receive seq = %d, want %d", seq, p.Items[0].Seq)
	}
	if num(r, "dup") != 0 || num(r, "push") != int64(p.ID) {
		t.Errorf("endpoint.receive dup %d push %d, want 0 and %d", num(r, "dup"), num(r, "push"), p.ID)
	}
	if m := f.events("endpoint.mode"); len(m) != 1 || str(m[0], "mode") != endpoint.Up {
		t.Errorf("endpoint.mode at start: %v, want one, up", m)
	}
}

func TestFailRefusesEveryItem(t *testing.T) {
	f := newFixture(t, 1, endpoint.Config{Initial: endpoint.SetMode{Mode: endpoint.Fail}})
	f.push("a1", "b1")
	f.run(10 * time.Millisecond)
	if len(f.got) != 1 || strings.Join(errs(f.got[0]), ",") != endpoint.DefaultReason+","+endpoint.DefaultReason {
		t.Fatalf("answers %v, want one refusing both items with %q", f.got, endpoint.DefaultReason)
	}
	ref := f.events("endpoint.refuse")
	if len(ref) != 2 || str(ref[0], "key") != "a1" || str(ref[0], "reason") != endpoint.DefaultReason {
		t.Fatalf("endpoint.refuse events %v, want a1 and b1 refused", ref)
	}
	if n := len(f.events("endpoint.receive")); n != 0 {
		t.Fatalf("%d items taken in fail mode", n)
	}

	// A refused item was not taken: once up, it is no duplicate.
	f.w.Post(hook, endpoint.SetMode{Mode: endpoint.Up})
	f.push("a1")
	f.run(10 * time.Millisecond)
	if len(f.got) != 2 || errs(f.got[1])[0] != "" {
		t.Fatalf("after up: answers %v, want the second taken", f.got)
	}
	if recv := f.events("endpoint.receive"); len(recv) != 1 || num(recv[0], "dup") != 0 {
		t.Fatalf("after up: endpoint.receive %v, want a1 once, dup 0", recv)
	}
}

func TestFailRateRefusesSome(t *testing.T) {
	f := newFixture(t, 1, endpoint.Config{})
	f.w.Post(hook, &endpoint.SetMode{Mode: endpoint.Fail, FailRate: 0.5, Reason: "kafka: NOT_ENOUGH_REPLICAS"})
	var keys []string
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	f.push(keys...)
	f.run(10 * time.Millisecond)
	refused := 0
	for _, e := range errs(f.got[0]) {
		switch e {
		case "":
		case "kafka: NOT_ENOUGH_REPLICAS":
			refused++
		default:
			t.Fatalf("unexpected error %q", e)
		}
	}
	if refused < 60 || refused > 140 {
		t.Errorf("%d of 200 refused at rate 0.5", refused)
	}
	if got := len(f.events("endpoint.refuse")); got != refused {
		t.Errorf("%d endpoint.refuse events, %d refusals", got, refused)
	}
	if got := len(f.events("endpoint.receive")); got != 200-refused {
		t.Errorf("%d endpoint.receive events, %d taken", got, 200-refused)
	}
	m := f.events("endpoint.mode")
	if len(m) != 2 || str(m[1], "mode") != endpoint.Fail || str(m[1], "reason") != "kafka: NOT_ENOUGH_REPLICAS" {
		t.Errorf("endpoint.mode events %v", m)
	}
	if rate, _ := m[1].Float("fail_rate"); rate != 0.5 {
		t.Errorf("fail_rate %v, want 0.5", rate)
	}
}

func TestSlowTakesAtOnceAndAnswersLate(t *testing.T) {
	f := newFixture(t, 1, endpoint.Config{})
	f.w.Post(hook, endpoint.SetMode{Mode: endpoint.Slow, Delay: 50 * time.Millisecond})
	f.push("a1")
	f.run(10 * time.Millisecond)
	if len(f.got) != 0 {
		t.Fatalf("slow endpoint answered within 10ms: %v", f.got)
	}
	if recv := f.events("endpoint.receive"); len(recv) != 1 || recv[0].Time != int64(time.Millisecond) {
		t.Fatalf("endpoint.receive %v, want a1 taken on arrival at 1ms", recv)
	}
	f.run(100 * time.Millisecond)
	if len(f.got) != 1 || f.got[0].at != 52*time.Millisecond || errs(f.got[0])[0] != "" {
		t.Fatalf("answers %v, want a1 taken, answered at 52ms", f.got)
	}
	if m := f.events("endpoint.mode"); num(m[1], "delay") != int64(50*time.Millisecond) {
		t.Errorf("endpoint.mode %v, want delay 50ms", m[1])
	}
}

func TestDuplicatesAreMarked(t *testing.T) {
	f := newFixture(t, 1, endpoint.Config{MaxKeys: 2})
	f.push("a1", "b1")
	f.push("a1")       // a duplicate
	f.push("c1", "d1") // a1 and b1 are forgotten
	f.push("a1", "d1")
	f.run(10 * time.Millisecond)
	var got []string
	for _, r := range f.events("endpoint.receive") {
		got = append(got, fmt.Sprintf("%s:%d", str(r, "key"), num(r, "dup")))
	}
	want := "a1:0 b1:0 a1:1 c1:0 d1:0 a1:0 d1:1"
	if strings.Join(got, " ") != want {
		t.Fatalf("receives %q, want %q", strings.Join(got, " "), want)
	}
	for _, a := range f.got {
		for _, e := range errs(a) {
			if e != "" {
				t.Fatalf("a duplicate was refused: %v", errs(a))
			}
		}
	}
}

func TestWrongDestinationIsRefused(t *testing.T) {
	f := newFixture(t, 1, endpoint.Config{})
	f.w.Post(pusher, sendPush{to: hook, p: &connector.Push{ID: 9, Destination: "other",
		Items: []connector.Item{{Seq: 1, IdempotencyKey: "x"}}}})
	f.run(10 * time.Millisecond)
	if len(f.got) != 1 || !strings.Contains(errs(f.got[0])[0], `"other"`) {
		t.Fatalf("answers %v, want the item refused for its destination", f.got)
	}
}

func TestKillAndRestart(t *testing.T) {
	f := newFixture(t, 1, endpoint.Config{Initial: endpoint.SetMode{Mode: endpoint.Slow, Delay: 20 * time.Millisecond}})
	f.push("a1")
	f.run(10 * time.Millisecond)
	// Killed after taking a1, before answering: a1 was delivered, the
	// pusher never hears of it.
	f.w.Kill(hook)
	f.push("b1")
	f.run(50 * time.Millisecond)
	if len(f.got) != 0 {
		t.Fatalf("a dead endpoint answered: %v", f.got)
	}
	if recv := f.events("endpoint.receive"); len(recv) != 1 || str(recv[0], "key") != "a1" {
		t.Fatalf("endpoint.receive %v, want a1 only", recv)
	}

	// The restart starts in Config.Initial and has forgotten a1.
	f.w.Restart(hook)
	f.push("a1")
	f.run(50 * time.Millisecond)
	if len(f.got) != 1 || f.got[0].at != 82*time.Millisecond {
		t.Fatalf("answers %v, want one at 82ms", f.got)
	}
	recv := f.events("endpoint.receive")
	if len(recv) != 2 || str(recv[1], "key") != "a1" || num(recv[1], "dup") != 0 {
		t.Fatalf("endpoint.receive %v, want a1 again with dup 0 (memory lost)", recv)
	}
	if m := f.events("endpoint.mode"); len(m) != 2 || str(m[1], "mode") != endpoint.Slow {
		t.Fatalf("endpoint.mode %v, want slow at both starts", m)
	}
}

func TestInvalidModes(t *testing.T) {
	for _, m := range []endpoint.SetMode{
		{Mode: "down"},
		{Mode: endpoint.Fail, FailRate: 1.5},
		{Mode: endpoint.Fail, FailRate: -0.1},
		{Mode: endpoint.Slow},
		{Mode: endpoint.Slow, Delay: -time.Second},
	} {
		if err := m.Validate(); err == nil {
			t.Errorf("%+v: Validate accepted it", m)
		}
	}
	f := newFixture(t, 1, endpoint.Config{})
	f.w.Post(hook, endpoint.SetMode{Mode: "down"})
	var pe *simnet.PanicError
	if err := f.w.RunFor(time.Millisecond); !errors.As(err, &pe) || pe.Node != hook {
		t.Fatalf("posting an invalid mode: %v, want a panic in %s", err, hook)
	}
}

// script drives one endpoint through every mode, a kill and a restart,
// with a lossy, duplicating, reordering network, and returns the trace's
// hash.
func script(t *testing.T, seed uint64) [32]byte {
	f := newFixture(t, seed, endpoint.Config{})
	if err := f.w.SetAllLinks(simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Exponential, Min: time.Millisecond, Max: 20 * time.Millisecond},
		Loss: 0.1, Duplicate: 0.2, Reorder: true}); err != nil {
		t.Fatal(err)
	}
	modes := []endpoint.SetMode{{}, {Mode: endpoint.Fail, FailRate: 0.3}, {Mode: endpoint.Slow, Delay: 15 * time.Millisecond}, {Mode: endpoint.Up}}
	for i := range 40 {
		at := time.Duration(i) * 10 * time.Millisecond
		f.w.At(at, func() {
			if i%10 == 0 {
				f.w.Post(hook, modes[i/10])
			}
			if i == 25 {
				f.w.Kill(hook)
			}
			if i == 28 {
				f.w.Restart(hook)
			}
			f.push(fmt.Sprintf("k%d", i), fmt.Sprintf("k%d", i/2))
		})
	}
	f.run(time.Second)
	if len(f.events("endpoint.receive")) == 0 || len(f.events("endpoint.refuse")) == 0 {
		t.Fatal("the script neither took nor refused")
	}
	h := f.w.TraceHash()
	f.w.Close()
	return h
}

func TestSameSeedSameTrace(t *testing.T) {
	a, b := script(t, 7), script(t, 7)
	if a != b {
		t.Fatalf("seed 7 gave two traces: %x and %x", a, b)
	}
	if c := script(t, 8); c == a {
		t.Fatalf("seeds 7 and 8 gave the same trace %x", a)
	}
}
