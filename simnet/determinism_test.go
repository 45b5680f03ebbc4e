package simnet

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/shoaldb/shoal/simnet/toy"
)

const childEnv = "SIMNET_DETERMINISM_CHILD"

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

// TestDeterminismChild is the run the determinism test starts in separate
// processes; on its own it does nothing.
func TestDeterminismChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("runs only as a child of TestDeterminismAcrossProcesses")
	}
	w := determinismWorld(t)
	h := w.TraceHash()
	fmt.Printf("trace-hash: %s events: %d\n", hex.EncodeToString(h[:]), w.TraceEvents())
}

var hashLine = regexp.MustCompile(`trace-hash: ([0-9a-f]{64}) events: (\d+)`)

// TestDeterminismAcrossProcesses runs the same seeded world in two fresh
// processes, one with GOMAXPROCS=1 and one with 2, and in this one, and
// requires the same trace hash from all three.
func TestDeterminismAcrossProcesses(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("child process")
	}
	w := determinismWorld(t)
	h := w.TraceHash()
	want := hex.EncodeToString(h[:])
	w.Close()
	for _, procs := range []string{"1", "2"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDeterminismChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"=1", "GOMAXPROCS="+procs)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child with GOMAXPROCS=%s: %v\n%s", procs, err, out)
		}
		m := hashLine.FindSubmatch(out)
		if m == nil {
			t.Fatalf("child with GOMAXPROCS=%s printed no trace hash:\n%s", procs, out)
		}
		if got := string(m[1]); got != want {
			t.Errorf("GOMAXPROCS=%s: trace hash %s, this process %s (seed 42)", procs, got, want)
		}
	}
}
