package simnet

import (
	"testing"
	"time"

	"github.com/shoaldb/shoal/scenarios/replaytest"
	"github.com/shoaldb/shoal/simnet/toy"
)

// determinismWorld is a busy run with every kind of fault, toy nodes
// writing logs and nodes writing to pebble, so that scheduling inside the
// process (pebble's goroutines, the garbage collector) has every chance to
// leak into the trace.
func determinismWorld(t testing.TB) *World {
	w := openWorld(t, Config{Seed: 42, Network: &LinkConfig{
		Latency: Latency{Dist: Exponential, Min: time.Millisecond, Max: 20 * time.Millisecond}, Loss: 0.05, Duplicate: 0.05, Reorder: true}})
	ids := addToys(t, w, 4, toy.Config{Tick: 5 * time.Millisecond, Fanout: 2, Ping: true, SyncEvery: 3})
	for _, id := range []string{"p1", "p2"} {
		if err := w.AddNode(nodeID(id), startPebbleWriter); err != nil {
			t.Fatal(err)
		}
	}
	w.At(200*time.Millisecond, func() { w.Partition(ids[:2], ids[2:]) })
	w.At(400*time.Millisecond, w.Heal)
	w.At(300*time.Millisecond, func() { w.Kill("n2"); w.Kill("p1") })
	w.At(500*time.Millisecond, func() { w.Restart("n2"); w.Restart("p1") })
	w.At(600*time.Millisecond, func() { w.Pause("n3") })
	w.At(700*time.Millisecond, func() { w.Resume("n3") })
	w.At(650*time.Millisecond, func() { w.SetClockDrift("n4", 0.1) })
	w.At(800*time.Millisecond, func() { w.Kill("p2") })
	w.At(850*time.Millisecond, func() { w.Restart("p2") })
	w.At(1500*time.Millisecond, func() { w.Partition(ids[:1], ids[1:]) })
	w.At(1600*time.Millisecond, func() { w.Kill("p1"); w.Kill("p2"); w.Kill("n1") })
	w.At(1900*time.Millisecond, func() { w.Restart("p1"); w.Restart("p2"); w.Restart("n1") })
	w.At(2200*time.Millisecond, w.Heal)
	run(t, w, 3*time.Second)
	return w
}

// TestDeterminismAcrossProcesses runs the same seeded world in this
// process and in two fresh ones, with GOMAXPROCS 1 and 2, and requires the
// same trace hash from all three.
func TestDeterminismAcrossProcesses(t *testing.T) {
	replaytest.Check(t, func(t testing.TB) [32]byte {
		w := determinismWorld(t)
		defer w.Close()
		return w.TraceHash()
	})
}
