package simnet

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet/toy"
)

// nudge is an event the harness posts; toy nodes ignore it.
type nudge struct{}

func (nudge) Kind() string { return "test.nudge" }

func sha256Of(b []byte) [32]byte { return sha256.Sum256(b) }

var update = flag.Bool("update", false, "rewrite golden files")

// goldenWorld is a short run that produces every kind of event the world
// itself records. Its trace pins the trace format: simnet/README.md
// documents each kind with lines from this file.
func goldenWorld(t testing.TB) *World {
	w := openWorld(t, Config{Seed: 7, KeepTrace: true,
		Network: &LinkConfig{Latency: Latency{Dist: Uniform, Min: time.Millisecond, Max: 3 * time.Millisecond}}})
	ids := addToys(t, w, 3, toy.Config{Tick: 20 * time.Millisecond, SyncEvery: 2, Ping: true})
	w.At(30*time.Millisecond, func() { w.Cut("n1", "n2") })
	w.At(50*time.Millisecond, func() { w.Uncut("n1", "n2") })
	w.At(60*time.Millisecond, func() { w.Partition(ids[:1], ids[1:]) })
	w.At(80*time.Millisecond, w.Heal)
	w.At(85*time.Millisecond, func() {
		w.SetLink("n2", "n3", LinkConfig{Latency: Latency{Dist: Exponential, Min: time.Millisecond, Max: 9 * time.Millisecond}, Loss: 0.5, Duplicate: 0.5})
	})
	w.At(90*time.Millisecond, func() { w.Kill("n3") })
	w.At(110*time.Millisecond, func() { w.Restart("n3") })
	w.At(100*time.Millisecond, func() { w.Pause("n2") })
	w.At(135*time.Millisecond, func() { w.Resume("n2") })
	w.At(140*time.Millisecond, func() { w.SetClockOffset("n1", -2*time.Second) })
	w.At(141*time.Millisecond, func() { w.SetClockDrift("n1", 0.05) })
	w.At(142*time.Millisecond, func() { w.SetClockStrobe("n2", 300*time.Millisecond, 50*time.Millisecond) })
	w.At(95*time.Millisecond, func() { w.Post("n3", nudge{}) })
	w.At(145*time.Millisecond, func() { w.Post("n1", nudge{}) })
	w.At(150*time.Millisecond, func() { w.SetAllLinks(DefaultLink) })
	w.At(160*time.Millisecond, func() {
		w.AddNode("n4", func(env.Env) (env.Node, error) { return nil, errors.New("disk full") })
	})
	run(t, w, 170*time.Millisecond)
	return w
}

func TestGoldenTrace(t *testing.T) {
	w := goldenWorld(t)
	var got bytes.Buffer
	if _, err := w.WriteTrace(&got); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "trace.golden.jsonl")
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./simnet -run TestGoldenTrace -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("the trace differs from %s; if the change is intended, rerun with -update and describe it in simnet/README.md.\ngot:\n%s", path, got.Bytes())
	}
	// Every kind the README documents appears.
	kinds := map[string]bool{}
	for _, r := range records(t, w) {
		kinds[r.Kind] = true
	}
	for _, k := range []string{"world.start", "node.start", "node.kill", "node.pause", "node.resume",
		"net.recv", "net.hold", "net.drop", "net.cut", "net.uncut", "net.partition", "net.heal", "net.link", "net.links",
		"timer.fire", "post.handle", "post.drop", "node.fail", "clock.offset", "clock.drift", "clock.strobe", "toy.recover", "toy.sync"} {
		if !kinds[k] {
			t.Errorf("golden trace has no %s event", k)
		}
	}
	if h := w.TraceHash(); h != sha256Of(want) {
		t.Errorf("TraceHash %x is not the SHA-256 of the trace bytes", h)
	}
}
