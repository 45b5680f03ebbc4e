package simnet

import (
	"crypto/rand"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet/toy"
)

func TestOneWorldAtATime(t *testing.T) {
	w, err := New(Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Seed: 2}); !errors.Is(err, ErrWorldOpen) {
		t.Fatalf("second New while one is open: %v, want ErrWorldOpen", err)
	}
	w.Close()
	w2, err := New(Config{Seed: 2})
	if err != nil {
		t.Fatalf("New after Close: %v", err)
	}
	w2.Close()
	if err := w2.Run(time.Second); err == nil {
		t.Fatal("Run on a closed World succeeded")
	}
}

func TestCryptoRandIsSeeded(t *testing.T) {
	draw := func(seed uint64) []byte {
		w := openWorld(t, Config{Seed: seed})
		defer w.Close()
		b := make([]byte, 32)
		rand.Read(b)
		return b
	}
	a, b, c := draw(5), draw(5), draw(6)
	if string(a) != string(b) {
		t.Fatalf("seed 5 gave %x then %x", a, b)
	}
	if string(a) == string(c) {
		t.Fatalf("seeds 5 and 6 gave the same crypto/rand stream %x", a)
	}
	x, y := make([]byte, 32), make([]byte, 32)
	rand.Read(x)
	rand.Read(y)
	if string(x) == string(a) || string(x) == string(y) {
		t.Fatal("crypto/rand was not restored to the OS source after Close")
	}
}

// boom panics when it handles an event.
type boom struct{}

func (boom) Receive(env.NodeID, env.Message) {}
func (boom) Handle(env.Event)                { panic("invariant broken") }

func TestPanicNamesSeedTimeAndNode(t *testing.T) {
	w := openWorld(t, Config{Seed: 99})
	w.AddNode("n1", func(e env.Env) (env.Node, error) {
		e.After(250*time.Millisecond, nudge{})
		return boom{}, nil
	})
	err := w.Run(time.Second)
	var pe *PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("Run returned %v, want a *PanicError", err)
	}
	if pe.Seed != 99 || pe.Time != 250*time.Millisecond || pe.Node != "n1" || pe.Value != "invariant broken" {
		t.Fatalf("PanicError = seed %d time %s node %s value %v", pe.Seed, pe.Time, pe.Node, pe.Value)
	}
	if !strings.Contains(err.Error(), "seed 99") {
		t.Errorf("error does not name the seed: %v", err)
	}
	if err := w.Run(2 * time.Second); !errors.As(err, &pe) {
		t.Fatalf("Run after a panic: %v, want the same error", err)
	}
}

func TestProcessLifecycle(t *testing.T) {
	w := openWorld(t, Config{Seed: 1})
	ids := addToys(t, w, 2, toy.Config{})
	if err := w.AddNode("n1", toy.Start(toy.Config{})); err == nil {
		t.Error("adding n1 twice succeeded")
	}
	for _, bad := range []env.NodeID{"", env.WorldNode} {
		if err := w.AddNode(bad, toy.Start(toy.Config{})); err == nil {
			t.Errorf("AddNode(%q) succeeded", bad)
		}
	}
	steps := []struct {
		name string
		do   func(env.NodeID) bool
		want bool
	}{
		{"restart a running node", w.Restart, false},
		{"resume a running node", w.Resume, false},
		{"pause", w.Pause, true},
		{"pause again", w.Pause, false},
		{"resume", w.Resume, true},
		{"kill", w.Kill, true},
		{"kill again", w.Kill, false},
		{"pause a dead node", w.Pause, false},
		{"restart", w.Restart, true},
	}
	for _, s := range steps {
		if got := s.do(ids[0]); got != s.want {
			t.Errorf("%s: got %v, want %v", s.name, got, s.want)
		}
	}
	if !w.Up(ids[0]) || w.Paused(ids[0]) {
		t.Error("n1 should be up and running")
	}
}

func TestLinkConfigValidation(t *testing.T) {
	for _, c := range []LinkConfig{
		{Latency: Latency{Dist: 9}},
		{Latency: Latency{Min: -1}},
		{Latency: Latency{Dist: Uniform, Min: 5, Max: 1}},
		{Loss: 1.5},
		{Loss: math.NaN()},
		{Duplicate: -0.1},
	} {
		if _, err := New(Config{Network: &c}); err == nil {
			t.Errorf("New accepted %+v", c)
			continue
		}
	}
	w := openWorld(t, Config{})
	addToys(t, w, 2, toy.Config{})
	if err := w.SetLink("n1", "n2", LinkConfig{Loss: 2}); err == nil {
		t.Error("SetLink accepted loss 2")
	}
	if err := w.Partition([]env.NodeID{"n1"}, []env.NodeID{"n1"}); err == nil {
		t.Error("Partition accepted a node twice")
	}
	if err := w.Partition([]env.NodeID{"n9"}); err == nil {
		t.Error("Partition accepted an unknown node")
	}
}

// clockProbe records its wall clock and when its timer fired.
type clockProbe struct {
	e     env.Env
	fired []int64
}

func (p *clockProbe) Receive(env.NodeID, env.Message) {}
func (p *clockProbe) Handle(env.Event)                { p.fired = append(p.fired, int64(p.e.Now().Sub(Epoch))) }

func TestClocks(t *testing.T) {
	w := openWorld(t, Config{})
	p := &clockProbe{}
	w.AddNode("n1", func(e env.Env) (env.Node, error) { p.e = e; return p, nil })
	w.SetClockOffset("n1", 3*time.Second)
	if got := w.WallClock("n1").Sub(Epoch); got != 3*time.Second {
		t.Fatalf("offset 3s: wall clock reads %s at virtual 0", got)
	}
	// A 10% fast clock: a 110 ms timer fires after 100 ms of virtual time,
	// when the node's wall clock reads 3s + 110ms.
	if err := w.SetClockDrift("n1", 0.1); err != nil {
		t.Fatal(err)
	}
	p.e.After(110*time.Millisecond, nudge{})
	run(t, w, 99*time.Millisecond)
	if len(p.fired) != 0 {
		t.Fatalf("timer fired early, at wall %v", p.fired)
	}
	run(t, w, 100*time.Millisecond)
	if len(p.fired) != 1 || p.fired[0] != int64(3*time.Second+110*time.Millisecond) {
		t.Fatalf("fired at wall %v, want one firing at 3.11s", p.fired)
	}
	// The strobe adds its amplitude for one period, then not for the next.
	w.SetClockOffset("n1", 0)
	w.SetClockDrift("n1", 0)
	w.SetClockStrobe("n1", time.Second, 10*time.Millisecond)
	base := w.WallClock("n1")
	run(t, w, w.Now()+5*time.Millisecond)
	if d := w.WallClock("n1").Sub(base); d != 5*time.Millisecond {
		t.Fatalf("within the first strobe period the wall clock moved %s, want 5ms", d)
	}
	run(t, w, w.Now()+10*time.Millisecond)
	if d := w.WallClock("n1").Sub(base); d != 15*time.Millisecond-time.Second {
		t.Fatalf("in the second strobe period the wall clock moved %s, want 15ms-1s", d)
	}
	if err := w.SetClockDrift("n1", -1); err == nil {
		t.Error("drift -1 accepted")
	}
}

// TestLinkCounters checks the counters against the trace.
func TestLinkCounters(t *testing.T) {
	w := openWorld(t, Config{Seed: 3, KeepTrace: true, Network: &LinkConfig{
		Latency: Latency{Dist: Uniform, Min: time.Millisecond, Max: 4 * time.Millisecond}, Loss: 0.2, Duplicate: 0.2}})
	ids := addToys(t, w, 3, toy.Config{Ping: true})
	w.At(300*time.Millisecond, func() { w.Partition(ids[:1], ids[1:]) })
	w.At(500*time.Millisecond, w.Heal)
	w.At(600*time.Millisecond, func() { w.Kill("n2") })
	run(t, w, time.Second)
	type key struct{ from, to, msg string }
	recv, drop := map[key]uint64{}, map[key]uint64{}
	for _, r := range records(t, w) {
		switch r.Kind {
		case "net.recv":
			recv[key{str(r, "from"), string(r.Node), str(r, "msg")}]++
		case "net.drop":
			drop[key{str(r, "from"), str(r, "to"), str(r, "msg")}]++
		}
	}
	var sawDup, sawDrop bool
	for _, l := range w.Links() {
		for _, k := range l.Kinds {
			kk := key{string(l.From), string(l.To), k.Kind}
			if k.Delivered != recv[kk] || k.Dropped != drop[kk] {
				t.Errorf("%s→%s %s: counters delivered %d dropped %d, trace %d and %d", l.From, l.To, k.Kind, k.Delivered, k.Dropped, recv[kk], drop[kk])
			}
			if k.Sent+k.Duplicated < k.Delivered+k.Dropped {
				t.Errorf("%s→%s %s: %d sent + %d duplicated < %d delivered + %d dropped", l.From, l.To, k.Kind, k.Sent, k.Duplicated, k.Delivered, k.Dropped)
			}
			sawDup = sawDup || k.Duplicated > 0
			sawDrop = sawDrop || k.Dropped > 0
		}
	}
	if !sawDup || !sawDrop {
		t.Errorf("the run duplicated (%v) or dropped (%v) nothing; the test checks too little", sawDup, sawDrop)
	}
}

// Draw stays within each distribution's bounds, and a constant takes no
// draw from the stream (a link's stream is spent only where it must be).
func TestLatencyDraw(t *testing.T) {
	r := NewRand(1, "test")
	for _, lat := range []Latency{
		{Dist: Uniform, Min: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		{Dist: Exponential, Min: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		{Dist: Uniform, Min: 5 * time.Millisecond, Max: 5 * time.Millisecond},
	} {
		for range 10000 {
			if d := lat.Draw(r); d < lat.Min || d > lat.Max {
				t.Fatalf("%s latency in [%s, %s] drew %s", lat.Dist, lat.Min, lat.Max, d)
			}
		}
	}
	a, b := NewRand(2, "x"), NewRand(2, "x")
	if d := (Latency{Min: time.Millisecond}).Draw(a); d != time.Millisecond {
		t.Fatalf("constant 1ms drew %s", d)
	}
	if a.Uint64() != b.Uint64() {
		t.Fatal("a constant latency took a draw from the stream")
	}
}
