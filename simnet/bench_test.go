package simnet

import (
	"runtime"
	"testing"
	"time"

	"github.com/shoaldb/shoal/simnet/toy"
)

// BenchmarkWorld runs the toy workload: 5 nodes ticking every millisecond,
// each tick appending to the node's log, gossiping to two peers and
// pinging one (five delivered events per tick: the timer, two gossips, a
// ping and a pong). It reports delivered events per wall second and heap
// allocations per event; every event is traced and hashed.
func BenchmarkWorld(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  toy.Config
		link LinkConfig
	}{
		{"clean", toy.Config{Tick: time.Millisecond, Fanout: 2, Ping: true, SyncEvery: -1}, DefaultLink},
		{"synced-disk", toy.Config{Tick: time.Millisecond, Fanout: 2, Ping: true, SyncEvery: 1}, DefaultLink},
		{"lossy-uniform", toy.Config{Tick: time.Millisecond, Fanout: 2, Ping: true, SyncEvery: -1},
			LinkConfig{Latency: Latency{Dist: Uniform, Min: time.Millisecond, Max: 5 * time.Millisecond}, Loss: 0.1, Duplicate: 0.05}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := openWorld(b, Config{Seed: 1, Network: &bc.link})
			addToys(b, w, 5, bc.cfg)
			run(b, w, 100*time.Millisecond) // warm up: slots, maps, buffers
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			events0 := w.Delivered()
			b.ResetTimer()
			for range b.N {
				run(b, w, w.Now()+10*time.Millisecond)
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			events := float64(w.Delivered() - events0)
			b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/events, "allocs/event")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
		})
	}
}
