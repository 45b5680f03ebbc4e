package harness

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
)

// op is one client operation read back from the trace.
type op struct {
	process          int64
	f, key, value    string
	absent           bool
	outcome          string // ok, fail, info
	invoked, endedAt int64
	note             string
}

// history pairs the clients' invoke and completion events, in invoke
// order.
func history(t testing.TB, recs []env.Record) []*op {
	t.Helper()
	var ops []*op
	open := map[string]*op{}
	for _, r := range recs {
		if len(r.Kind) < 7 || r.Kind[:7] != "client." {
			continue
		}
		seq, _ := r.Int("seq")
		id := fmt.Sprintf("%s/%d", r.Node, seq)
		switch r.Kind {
		case "client.invoke":
			o := &op{invoked: r.Time}
			o.process, _ = r.Int("process")
			o.f, _ = r.Str("f")
			o.key, _ = r.Str("key")
			o.value, _ = r.Str("value")
			open[id] = o
			ops = append(ops, o)
		case "client.ok", "client.fail", "client.info":
			o := open[id]
			if o == nil {
				t.Fatalf("%s completes %s, which was never invoked", r.Kind, id)
			}
			delete(open, id)
			o.outcome, o.endedAt = r.Kind[7:], r.Time
			o.note, _ = r.Str("note")
			if o.f == "read" {
				o.value, _ = r.Str("value")
				if b, ok := r.Get("absent"); ok {
					o.absent = b.Value() == true
				}
			}
		}
	}
	return ops
}

// finalValues returns the value each key held in the final reads.
func finalValues(t testing.TB, ops []*op) map[string]*op {
	final := map[string]*op{}
	for _, o := range ops {
		if o.process == FinalReadProcess {
			if o.outcome != "ok" {
				t.Fatalf("the final read of %s did not succeed: %s %s", o.key, o.outcome, o.note)
			}
			final[o.key] = o
		}
	}
	return final
}

// requireNoLostWrite checks a history of one sequential writer: each key's
// final value is its last acknowledged write, or a later write whose
// outcome is unknown; never an older one, never a failed one.
func requireNoLostWrite(t testing.TB, ops []*op, keys []string) {
	t.Helper()
	final := finalValues(t, ops)
	for _, k := range keys {
		var allowed []string
		lastOK := ""
		for _, o := range ops {
			if o.key != k || o.f != "write" {
				continue
			}
			switch o.outcome {
			case "ok":
				allowed, lastOK = []string{o.value}, o.value
			case "info":
				allowed = append(allowed, o.value)
			}
		}
		f, ok := final[k]
		if !ok {
			t.Fatalf("no final read of %s", k)
		}
		if lastOK == "" && len(allowed) == 0 {
			continue
		}
		found := false
		for _, a := range allowed {
			found = found || (!f.absent && f.value == a)
		}
		if !found {
			t.Errorf("%s finally reads %q (absent %v), but the last acknowledged write was %q and only %v may follow it", k, f.value, f.absent, lastOK, allowed)
		}
	}
}

func keyNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("k%d", i)
	}
	return out
}

// TestKilledMinorityLosesNoAcknowledgedWrite kills two of five instances
// twice while one client writes and reads; every acknowledged write
// survives into the final reads.
func TestKilledMinorityLosesNoAcknowledgedWrite(t *testing.T) {
	w, c := start(t, 11, Topology{Instances: 5}, node.Config{CompactEvery: 100})
	keys := keyNames(8)
	if _, err := c.AddClients(1, client.Config{Delay: 2 * time.Second, Interval: 20 * time.Millisecond, Target: "leader"},
		func(int) client.Workload { return &client.Mix{ID: "w", Keys: len(keys), Read: 1, Write: 3, Ops: 600} }); err != nil {
		t.Fatal(err)
	}
	w.At(4*time.Second, func() { w.Kill("n4"); w.Kill("n5") })
	w.At(6*time.Second, func() { w.Restart("n4"); w.Restart("n5") })
	w.At(8*time.Second, func() {
		l, _ := c.Leader("rs1")
		w.Kill(l)
		for _, n := range c.Names {
			if n != l && w.Kill(n) {
				break
			}
		}
	})
	w.At(10*time.Second, func() {
		for _, n := range c.Names {
			w.Restart(n)
		}
	})
	runUntil(t, w, 20*time.Second)
	if err := c.FinalRead(keys); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 30*time.Second)
	recs := records(t, w)
	requireSafe(t, recs)
	ops := history(t, recs)
	requireNoLostWrite(t, ops, keys)
	acked := 0
	for _, o := range ops {
		if o.f == "write" && o.outcome == "ok" {
			acked++
		}
	}
	if acked < 200 {
		t.Fatalf("only %d writes acknowledged; the test checks too little", acked)
	}
	requireConverged(t, c, "rs1")
}

// TestKeysSpreadOverReplicasets: in a six-instance cluster with two
// replicasets, each serves its own buckets, and a client that knows none
// of that reaches every key through redirects.
func TestKeysSpreadOverReplicasets(t *testing.T) {
	w, c := start(t, 12, Topology{Instances: 6, ReplicationFactor: 3}, node.Config{})
	keys := keyNames(20)
	if _, err := c.AddClients(2, client.Config{Delay: 2 * time.Second, Interval: 30 * time.Millisecond},
		func(i int) client.Workload {
			return &client.Mix{ID: fmt.Sprint("c", i), Keys: len(keys), Read: 1, Write: 2, CAS: 1, Delete: 0.2, Ops: 200}
		}); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 12*time.Second)
	if err := c.FinalRead(keys); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 20*time.Second)
	recs := records(t, w)
	requireSafe(t, recs)
	servedBy := map[string]int{}
	redirects := 0
	for _, r := range recs {
		if r.Kind != "kv.response" {
			continue
		}
		switch st, _ := r.Str("status"); st {
		case "ok", "mismatch":
			inst, _ := c.Bootstrap().Instance(r.Node)
			servedBy[inst.Replicaset]++
		case "redirect":
			redirects++
		}
	}
	if servedBy["rs1"] < 50 || servedBy["rs2"] < 50 || redirects == 0 {
		t.Fatalf("answers by replicaset %v, %d redirects: keys should spread over both", servedBy, redirects)
	}
	ops := history(t, recs)
	if n := len(finalValues(t, ops)); n != len(keys) {
		t.Fatalf("%d of %d keys read finally", n, len(keys))
	}
	for _, o := range ops {
		if o.outcome == "" {
			t.Errorf("%s of %s by process %d never completed", o.f, o.key, o.process)
		}
	}
	requireConverged(t, c, "rs1")
	requireConverged(t, c, "rs2")
}

// retriedWrite builds the situation a lost acknowledgement creates: client
// a writes x=1, the write commits, but the answer never reaches it and the
// leader is cut off; meanwhile client b writes x=2. a retries with the
// same sequence number, and the retry reaches the new leader. It returns
// the world and the final value of x.
func retriedWrite(t *testing.T, cfg node.Config) (*simnet.World, *op) {
	w, c := start(t, 13, Topology{Instances: 3}, cfg)
	runUntil(t, w, 3*time.Second)
	leader := waitLeader(t, w, c, "rs1", 2*time.Second)

	a := &client.Mix{ID: "a", Keys: 1, Write: 1, Ops: 1}
	if _, err := c.AddClients(1, client.Config{Target: string(leader), Timeout: 10 * time.Second, Retries: 20},
		func(int) client.Workload { return a }); err != nil {
		t.Fatal(err)
	}
	w.Cut(leader, "c1")                             // a's answers from the leader are lost
	runUntil(t, w, w.Now()+50*time.Millisecond)     // x=a-1 is committed and applied
	mustPartition(t, w, []env.NodeID{leader, "c1"}) // the old leader is cut off, and a with it
	runUntil(t, w, w.Now()+3*time.Second)           // a new leader is elected, a's retries go to it
	b := &client.Mix{ID: "b", Keys: 1, Write: 1, Ops: 1}
	if _, err := c.AddClients(1, client.Config{Target: "random", Timeout: 5 * time.Second},
		func(int) client.Workload { return b }); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, w.Now()+4*time.Second)
	w.Heal()
	runUntil(t, w, w.Now()+3*time.Second)
	if err := c.FinalRead([]string{"k0"}); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, w.Now()+5*time.Second)
	ops := history(t, records(t, w))
	return w, finalValues(t, ops)["k0"]
}

// TestRetriedWriteAppliesOnce: the retry of a = 1, which reached a new
// leader after b = 2, changes nothing: the dedup table, replicated with
// the data, remembers that a's write was applied.
func TestRetriedWriteAppliesOnce(t *testing.T) {
	w, final := retriedWrite(t, node.Config{})
	recs := records(t, w)
	requireSafe(t, recs)
	received := 0
	for _, r := range recs {
		if cl, _ := r.Str("client"); r.Kind == "kv.request" && cl == "c1" {
			received++
		}
	}
	if received < 2 {
		t.Fatalf("instances received client a's write %d times; the test needs a retry to arrive", received)
	}
	if final.absent || final.value != "b-1" {
		t.Fatalf("x finally reads %q (absent %v), want b's later write b-1: a's retried write applied twice", final.value, final.absent)
	}
}

// TestUnknownOutcomesAreInfo runs clients through partitions and kills and
// checks every failed operation against the trace: a write recorded as
// failed never took effect (no read, final or not, ever saw its value).
func TestUnknownOutcomesAreInfo(t *testing.T) {
	w, c := start(t, 14, Topology{Instances: 5}, node.Config{})
	keys := keyNames(6)
	if _, err := c.AddClients(4, client.Config{Delay: 2 * time.Second, Interval: 40 * time.Millisecond, Timeout: 500 * time.Millisecond, Retries: 2},
		func(i int) client.Workload {
			return &client.Mix{ID: fmt.Sprint("c", i), Keys: len(keys), Read: 1, Write: 1, CAS: 1, Ops: 250}
		}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		at := time.Duration(3+i*2) * time.Second
		w.At(at, func() { w.Partition(c.Names[:2], c.Names[2:]) })
		w.At(at+time.Second, w.Heal)
		w.At(at+500*time.Millisecond, func() { w.Kill(c.Names[i]) })
		w.At(at+1500*time.Millisecond, func() { w.Restart(c.Names[i]) })
	}
	runUntil(t, w, 16*time.Second)
	if err := c.FinalRead(keys); err != nil {
		t.Fatal(err)
	}
	runUntil(t, w, 26*time.Second)
	recs := records(t, w)
	requireSafe(t, recs)
	ops := history(t, recs)
	seen := map[string]bool{}
	for _, o := range ops {
		if o.f == "read" && o.outcome == "ok" && !o.absent {
			seen[o.value] = true
		}
	}
	counts := map[string]int{}
	for _, o := range ops {
		counts[o.outcome]++
		if o.outcome == "fail" && o.f != "read" && seen[o.value] {
			t.Errorf("%s of %s = %q by process %d was recorded as failed (%s), but a read saw its value", o.f, o.key, o.value, o.process, o.note)
		}
	}
	if counts["info"] == 0 || counts["fail"] == 0 || counts["ok"] < 300 {
		t.Fatalf("outcomes %v: the faults should produce all three", counts)
	}
}
