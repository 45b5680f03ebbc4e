package outbound

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/kv"
	"pgregory.net/rapid"
)

// TestPropDelivery drives a dispatcher against a store and an endpoint
// that answer at random (take, refuse, leave out, never answer) and
// checks, at every step, that no two messages of one order key are ever
// outstanding, that a message goes only once every earlier message of
// its key is settled, and that, once the endpoint takes everything, every
// message is settled: delivered, or given up after max_attempts.
func TestPropDelivery(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := audit(rapid.IntRange(1, 4).Draw(t, "batch"), rapid.IntRange(1, 3).Draw(t, "inflight"), rapid.IntRange(1, 4).Draw(t, "attempts"))
		d := New("rs1", 100*time.Millisecond)
		rng := rand.New(rand.NewPCG(1, 2))
		var store []kv.OutboxEntry
		n := rapid.IntRange(1, 30).Draw(t, "messages")
		for i := 1; i <= n; i++ {
			store = append(store, entry(uint64(i), fmt.Sprint("k", rapid.IntRange(0, 3).Draw(t, "key"))))
		}
		delivered, gaveUp := map[uint64]bool{}, map[uint64]bool{}
		var outstanding []*connector.Push
		settle := func() {
			box, ok := d.Settle("audit", 0)
			if !ok {
				return
			}
			for _, s := range box.Delivered {
				delivered[s] = true
			}
			for _, f := range box.Failed {
				if f.Attempts > o.Delivery.MaxAttempts {
					t.Fatalf("message %d tried %d times, at most %d", f.Seq, f.Attempts, o.Delivery.MaxAttempts)
				}
				gaveUp[f.Seq] = true
			}
			// The outbox command applies (or, drawn, is lost and proposed again later).
			if rapid.Bool().Draw(t, "applies") {
				store = slices.DeleteFunc(store, func(e kv.OutboxEntry) bool { return delivered[e.Seq] || gaveUp[e.Seq] })
			}
		}
		check := func() {
			keys := map[string]uint64{}
			for _, p := range outstanding {
				for _, it := range p.Items {
					if other, dup := keys[it.OrderKey]; dup {
						t.Fatalf("messages %d and %d of key %s outstanding at once", other, it.Seq, it.OrderKey)
					}
					keys[it.OrderKey] = it.Seq
					for _, e := range store {
						if e.Key == it.OrderKey && e.Seq < it.Seq && !delivered[e.Seq] && !gaveUp[e.Seq] {
							t.Fatalf("message %d of key %s pushed before %d was settled", it.Seq, it.OrderKey, e.Seq)
						}
					}
				}
			}
		}
		steps := rapid.IntRange(1, 200).Draw(t, "steps")
		for i := 0; i < steps || len(store) > 0; i++ {
			if i > steps+2000 {
				t.Fatalf("%d messages still unsettled after the endpoint recovered: %v", len(store), store)
			}
			outstanding = append(outstanding, d.Plan(o, store)...)
			check()
			calm := i >= steps // after the chaos, the endpoint takes everything
			switch {
			case len(outstanding) > 0 && (calm || rapid.IntRange(0, 3).Draw(t, "act") > 0):
				j := 0
				if !calm {
					j = rapid.IntRange(0, len(outstanding)-1).Draw(t, "push")
				}
				p := outstanding[j]
				outstanding = slices.Delete(outstanding, j, j+1)
				if !calm && rapid.IntRange(0, 9).Draw(t, "lost") == 0 {
					continue // never answered: it expires
				}
				a := &connector.Pushed{ID: p.ID, Replicaset: p.Replicaset, Destination: p.Destination}
				for _, it := range p.Items {
					r := connector.Result{Seq: it.Seq}
					switch {
					case calm:
					case rapid.IntRange(0, 4).Draw(t, "refuse") == 0:
						r.Err = "503"
					case rapid.IntRange(0, 9).Draw(t, "omit") == 0:
						continue
					}
					a.Results = append(a.Results, r)
				}
				d.Answer(o, a, rng)
			default:
				d.Tick()
				d.Expire(o, rng)
				outstanding = slices.DeleteFunc(outstanding, func(p *connector.Push) bool { return d.dests["audit"].pushes[p.ID] == nil })
			}
			settle()
		}
		for i := uint64(1); i <= uint64(n); i++ {
			if !delivered[i] && !gaveUp[i] {
				t.Fatalf("message %d neither delivered nor given up", i)
			}
		}
	})
}
