package harness

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet"
)

// BenchmarkCluster runs a five-instance cluster (one replicaset of five
// voters, and group 0 on the same five) while clients propose 200 entries
// per second of virtual time to the data group, spread over the instances,
// with real, synced storage. Each iteration is one simulated second. It
// reports simulated seconds per wall second, wall microseconds and heap
// allocations per committed entry, and the peak heap in use.
func BenchmarkCluster(b *testing.B) {
	const rate = 200
	w, err := simnet.New(simnet.Config{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	c, err := Start(w, Topology{Instances: 5}, node.Config{})
	if err != nil {
		b.Fatal(err)
	}
	seq := 0
	var load func()
	load = func() {
		seq++
		c.Propose(c.Names[seq%len(c.Names)], "rs1", fmt.Sprint("b", seq), []byte("a 100-byte value, more or less, as a client might write it to a key of the store."), time.Second)
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
