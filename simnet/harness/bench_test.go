package harness

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
)

// BenchmarkCluster runs a five-instance cluster (one replicaset of five
// voters, and group 0 on the same five) while clients propose 200 entries
// per second of virtual time to the data group, spread over the instances,
// with real, synced storage. Each iteration is one simulated second. It
// reports simulated seconds per wall second, wall microseconds and heap
// allocations per committed entry, and the peak heap in use.
func BenchmarkCluster(b *testing.B) {
	const rate = 200
	w, c := startWorld(b, simnet.Config{Seed: 1}, Topology{Instances: 5}, node.Config{})
	seq := 0
	var load func()
	load = func() {
		seq++
		data := Put(fmt.Sprint("b", seq%10), uint64(seq/10+1), fmt.Sprint("k", seq%100), "a 100-byte value, more or less, as a client might write it to a key of the store.")
		c.Propose(c.Names[seq%len(c.Names)], "rs1", fmt.Sprint("b", seq), data, time.Second)
		w.After(time.Second/rate, load)
	}
	w.At(3*time.Second, load)
	runUntil(b, w, 5*time.Second)
	leader := func() env.NodeID {
		l, ok := c.Leader("rs1")
		if !ok {
			b.Fatal("no leader")
		}
		return l
	}
	applied := func() uint64 { st, _ := c.Status(leader(), "rs1"); return st.Applied }

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	first := applied()
	var peak uint64
	b.ResetTimer()
	for range b.N {
		runUntil(b, w, w.Now()+time.Second)
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	entries := float64(applied() - first)
	if entries < float64(b.N*rate)*0.95 {
		b.Fatalf("only %.0f of %d proposals committed", entries, b.N*rate)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sim-s/s")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/entries, "µs/entry")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/entries, "allocs/entry")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkKV runs a five-instance cluster under 200 client operations per
// second of virtual time (ten clients, half reads, half writes, over 100
// keys). Each iteration is one simulated second. It reports simulated
// seconds per wall second and wall microseconds per completed operation.
func BenchmarkKV(b *testing.B) {
	w, c := startWorld(b, simnet.Config{Seed: 1}, Topology{Instances: 5}, node.Config{})
	var st client.Stats
	if _, err := c.AddClients(10, client.Config{Delay: 3 * time.Second, Interval: 50 * time.Millisecond, Target: "leader", Stats: &st},
		func(i int) client.Workload { return &client.Mix{ID: fmt.Sprint("c", i), Keys: 100, Read: 1, Write: 1} }); err != nil {
		b.Fatal(err)
	}
	runUntil(b, w, 5*time.Second)
	before := st
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	for range b.N {
		runUntil(b, w, w.Now()+time.Second)
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	ops := float64(st.OK + st.Fail + st.Info - before.OK - before.Fail - before.Info)
	if ok := st.OK - before.OK; float64(ok) < 0.95*float64(b.N*200) {
		b.Fatalf("only %d of %d operations succeeded", ok, b.N*200)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sim-s/s")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/ops, "µs/op")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/ops, "allocs/op")
}

// BenchmarkIngest runs a three-instance cluster with the example model and
// pipeline while twenty connector clients hand in 1000 messages per second
// of virtual time (crm customers, each stored as a Customer). Each
// iteration is one simulated second. It reports simulated seconds and
// settled messages per wall second, and wall microseconds per message
// from the queue to the stored object.
func BenchmarkIngest(b *testing.B) {
	topo, m := examplePipeline(b)
	topo.Instances = 3
	w, c := startWorld(b, simnet.Config{Seed: 1}, topo, node.Config{})
	var st client.Stats
	n := 0
	if _, err := c.AddClients(20, client.Config{Delay: 3 * time.Second, Interval: 20 * time.Millisecond, Target: "leader", Stats: &st},
		func(i int) client.Workload { return &messages{m: m, prefix: fmt.Sprint("c", i), t: b, n: &n} }); err != nil {
		b.Fatal(err)
	}
	runUntil(b, w, 5*time.Second)
	settled := func() uint64 {
		l, ok := c.Leader("rs1")
		if !ok {
			b.Fatal("no leader")
		}
		q, err := c.Node(l).Queue("rs1", "")
		if err != nil {
			b.Fatal(err)
		}
		return q.Settled
	}
	first := settled()
	b.ResetTimer()
	for range b.N {
		runUntil(b, w, w.Now()+time.Second)
	}
	b.StopTimer()
	got := float64(settled() - first)
	if got < 0.95*float64(b.N*1000) {
		b.Fatalf("only %.0f of %d messages settled", got, b.N*1000)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sim-s/s")
	b.ReportMetric(got/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/got, "µs/msg")
}

// messages is a workload of crm messages with ids of their own.
type messages struct {
	m      *model.Model
	prefix string
	t      testing.TB
	n      *int
}

func (w *messages) Next(*rand.Rand) (client.Op, bool) {
	*w.n++
	return crmCustomer(w.t, w.m, fmt.Sprint(w.prefix, "-", *w.n), false), true
}
