package outbound

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/kv"
)

// echo renders a message as its value; a value "bad" does not render.
type echo struct{}

func (echo) Type() string { return "echo" }
func (echo) Render(m *connector.Message) (connector.Request, error) {
	if string(m.Value) == "bad" {
		return connector.Request{}, errors.New("bad value")
	}
	return connector.Request{Body: m.Value}, nil
}

func audit(batch, inflight, attempts int) *connector.Outbound {
	d := connector.DefaultDelivery
	d.Batch, d.InFlight, d.MaxAttempts = batch, inflight, attempts
	d.BackoffMin, d.BackoffMax, d.Timeout = 100*time.Millisecond, time.Second, time.Second
	return &connector.Outbound{Name: "audit", Type: "echo", Delivery: d, Spec: echo{}}
}

func entry(seq uint64, key string) kv.OutboxEntry {
	return kv.OutboxEntry{Seq: seq, Origin: seq, Destination: "audit", Key: key, MessageID: fmt.Sprint("m", seq), Value: []byte(fmt.Sprint(seq)), At: int64(seq) * 10}
}

func seqs(p *connector.Push) []uint64 {
	var out []uint64
	for _, it := range p.Items {
		out = append(out, it.Seq)
	}
	return out
}

func answer(p *connector.Push, fail ...uint64) *connector.Pushed {
	a := &connector.Pushed{ID: p.ID, Replicaset: p.Replicaset, Destination: p.Destination}
	for _, it := range p.Items {
		r := connector.Result{Seq: it.Seq}
		if slices.Contains(fail, it.Seq) {
			r.Err = "503 Service Unavailable"
		}
		a.Results = append(a.Results, r)
	}
	return a
}

// TestPlanOrder: one message of a key at a time, oldest first, in batches
// up to the pushes allowed.
func TestPlanOrder(t *testing.T) {
	d := New("rs1", 100*time.Millisecond)
	o := audit(2, 2, 5)
	q := []kv.OutboxEntry{entry(1, "a"), entry(2, "a"), entry(3, "b"), entry(4, "c"), entry(5, "d"), entry(6, "b")}
	ps := d.Plan(o, q)
	if len(ps) != 2 || !slices.Equal(seqs(ps[0]), []uint64{1, 3}) || !slices.Equal(seqs(ps[1]), []uint64{4, 5}) {
		t.Fatalf("first plan: %v", ps)
	}
	if it := ps[0].Items[0]; it.IdempotencyKey != "rs1-1" || it.OrderKey != "a" || string(it.Request.Body) != "1" {
		t.Fatalf("item %+v", it)
	}
	if more := d.Plan(o, q); len(more) != 0 {
		t.Fatalf("planned past the pushes allowed: %v", more)
	}
	// Taken, 1 and 3 free their keys: 2 and 6 go next, settled with 1 and 3.
	if out, ok := d.Answer(o, answer(ps[0]), rand.New(rand.NewPCG(1, 1))); !ok || out != (Outcome{Taken: 2, OldestAt: 10}) {
		t.Fatalf("outcome %+v", out)
	}
	ps = d.Plan(o, q)
	if len(ps) != 1 || !slices.Equal(seqs(ps[0]), []uint64{2, 6}) {
		t.Fatalf("after the answer: %v", ps)
	}
	box, ok := d.Settle("audit", 7)
	if !ok || !slices.Equal(box.Delivered, []uint64{1, 3}) || len(box.Failed) != 0 {
		t.Fatalf("settle %+v", box)
	}
	if _, ok := d.Settle("audit", 7); ok {
		t.Fatal("settled the same positions again at once")
	}
}

// TestRetryBackoff: a refused message waits its backoff, blocks its key
// meanwhile, and after max_attempts is given up with the last reason.
func TestRetryBackoff(t *testing.T) {
	d := New("rs1", 100*time.Millisecond)
	o := audit(10, 1, 3)
	rng := rand.New(rand.NewPCG(1, 2))
	q := []kv.OutboxEntry{entry(1, "a"), entry(2, "a"), entry(3, "b")}
	for attempt := 1; attempt <= 3; attempt++ {
		ps := d.Plan(o, q)
		if len(ps) != 1 || ps[0].Items[0].Seq != 1 {
			t.Fatalf("attempt %d: %v", attempt, ps)
		}
		d.Answer(o, answer(ps[0], 1), rng)
		if attempt == 3 {
			break
		}
		// 1 waits; 2 (same key) waits behind it, 3 went in the first push.
		waited := 0
		for len(d.Plan(o, q)) == 0 {
			d.Tick()
			if waited++; waited > 100 {
				t.Fatalf("attempt %d: never retried", attempt)
			}
		}
		d.dests["audit"].pushes = map[uint64]*push{} // forget the retry's push; the loop plans it again
		d.dests["audit"].sending = map[uint64]bool{}
		d.dests["audit"].retry[1].due = 0
	}
	box, ok := d.Settle("audit", 9)
	if !ok || len(box.Failed) != 1 || box.Failed[0].Seq != 1 || box.Failed[0].Attempts != 3 || box.Failed[0].Reason != "503 Service Unavailable" {
		t.Fatalf("settle %+v", box)
	}
	// Given up, 1 no longer blocks its key.
	ps := d.Plan(o, q)
	if len(ps) != 1 || ps[0].Items[0].Seq != 2 {
		t.Fatalf("after giving up: %v", ps)
	}
}

func TestBackoff(t *testing.T) {
	p := connector.Delivery{BackoffMin: 200 * time.Millisecond, BackoffMax: 10 * time.Second}
	rng := rand.New(rand.NewPCG(3, 4))
	for attempts, full := range map[int]time.Duration{1: 200 * time.Millisecond, 2: 400 * time.Millisecond, 4: 1600 * time.Millisecond, 9: 10 * time.Second, 40: 10 * time.Second} {
		for range 100 {
			if b := Backoff(p, attempts, rng); b < full/2 || b > full {
				t.Fatalf("attempt %d: backoff %s, want %s..%s", attempts, b, full/2, full)
			}
		}
	}
}

// TestExpire: a push unanswered within the timeout fails its messages,
// and its late answer is dropped.
func TestExpire(t *testing.T) {
	d := New("rs1", 100*time.Millisecond)
	o := audit(10, 1, 5)
	rng := rand.New(rand.NewPCG(5, 6))
	q := []kv.OutboxEntry{entry(1, "a")}
	ps := d.Plan(o, q)
	for range 9 {
		d.Tick()
		if d.Expire(o, rng) != 0 {
			t.Fatal("expired before the timeout")
		}
	}
	d.Tick()
	if d.Expire(o, rng) != 1 {
		t.Fatal("not expired at the timeout")
	}
	if _, ok := d.Answer(o, answer(ps[0]), rng); ok {
		t.Fatal("a late answer was taken")
	}
	if r := d.dests["audit"].retry[1]; r == nil || r.attempts != 1 || r.reason != "no answer within 1s" {
		t.Fatalf("retry %+v", r)
	}
}

// TestUnrenderable: a message its destination cannot render goes to the
// repair queue without an attempt at the endpoint.
func TestUnrenderable(t *testing.T) {
	d := New("rs1", 100*time.Millisecond)
	o := audit(10, 1, 5)
	bad := entry(1, "a")
	bad.Value = []byte("bad")
	ps := d.Plan(o, []kv.OutboxEntry{bad, entry(2, "b")})
	if len(ps) != 1 || !slices.Equal(seqs(ps[0]), []uint64{2}) {
		t.Fatalf("plan %v", ps)
	}
	box, _ := d.Settle("audit", 1)
	if len(box.Failed) != 1 || box.Failed[0].Reason != "rendering: bad value" {
		t.Fatalf("settle %+v", box)
	}
}

// TestForget: positions the store no longer holds are forgotten; a
// settling that did not apply is proposed again.
func TestForget(t *testing.T) {
	d := New("rs1", 100*time.Millisecond)
	o := audit(10, 1, 5)
	q := []kv.OutboxEntry{entry(1, "a"), entry(2, "b")}
	d.Answer(o, answer(d.Plan(o, q)[0]), rand.New(rand.NewPCG(1, 1)))
	if box, _ := d.Settle("audit", 1); len(box.Delivered) != 2 {
		t.Fatalf("settle %+v", box)
	}
	for range resettle {
		d.Tick()
	}
	if box, ok := d.Settle("audit", 1); !ok || len(box.Delivered) != 2 {
		t.Fatalf("not proposed again: %+v", box)
	}
	d.Plan(o, nil) // the settling applied: nothing is left
	if len(d.dests["audit"].taken) != 0 {
		t.Fatal("settled positions still remembered")
	}
}
