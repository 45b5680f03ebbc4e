package simnet

import (
	"slices"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet/toy"
	"pgregory.net/rapid"
)

// fault is one step of a generated fault schedule.
type fault struct {
	At, For  time.Duration
	Kind     string // cut, partition, kill, pause, offset, drift, strobe
	Node     int    // index of the node it targets
	Peer     int    // the other end of a cut
	Split    int    // partition: the first Split nodes against the rest
	Offset   time.Duration
	Drift    float64
	Duration time.Duration
}

// schedule is a generated world: its shape, its network and its faults.
type schedule struct {
	Seed   uint64
	Nodes  int
	Link   LinkConfig
	Faults []fault
	Until  time.Duration
}

func genLink(t *rapid.T, reorder bool) LinkConfig {
	dist := Dist(rapid.IntRange(0, 2).Draw(t, "dist"))
	lo := time.Duration(rapid.IntRange(0, 5).Draw(t, "minMs")) * time.Millisecond
	hi := lo + time.Duration(rapid.IntRange(0, 20).Draw(t, "spreadMs"))*time.Millisecond
	return LinkConfig{
		Latency:   Latency{Dist: dist, Min: lo, Max: hi},
		Loss:      float64(rapid.IntRange(0, 30).Draw(t, "loss%")) / 100,
		Duplicate: float64(rapid.IntRange(0, 20).Draw(t, "dup%")) / 100,
		Reorder:   reorder,
	}
}

func genSchedule(t *rapid.T, kinds []string, reorder bool) schedule {
	s := schedule{
		Seed:  rapid.Uint64().Draw(t, "seed"),
		Nodes: rapid.IntRange(2, 5).Draw(t, "nodes"),
		Link:  genLink(t, reorder),
		Until: 2 * time.Second,
	}
	steps := rapid.IntRange(0, 6).Draw(t, "steps")
	for range steps {
		f := fault{
			At:   time.Duration(rapid.IntRange(0, 1500).Draw(t, "atMs")) * time.Millisecond,
			For:  time.Duration(rapid.IntRange(1, 500).Draw(t, "forMs")) * time.Millisecond,
			Kind: rapid.SampledFrom(kinds).Draw(t, "kind"),
			Node: rapid.IntRange(0, s.Nodes-1).Draw(t, "node"),
			Peer: rapid.IntRange(0, s.Nodes-1).Draw(t, "peer"),
		}
		f.Split = rapid.IntRange(1, s.Nodes).Draw(t, "split")
		f.Offset = time.Duration(rapid.IntRange(-2000, 2000).Draw(t, "offsetMs")) * time.Millisecond
		f.Drift = float64(rapid.IntRange(-20, 20).Draw(t, "drift%")) / 100
		f.Duration = time.Duration(rapid.IntRange(1, 100).Draw(t, "periodMs")) * time.Millisecond
		s.Faults = append(s.Faults, f)
	}
	return s
}

// apply schedules the faults on w.
func (s schedule) apply(w *World, ids []env.NodeID) {
	for _, f := range s.Faults {
		n, p := ids[f.Node], ids[f.Peer]
		switch f.Kind {
		case "cut":
			w.At(f.At, func() { w.Cut(n, p) })
			w.At(f.At+f.For, func() { w.Uncut(n, p) })
		case "partition":
			w.At(f.At, func() { w.Partition(ids[:f.Split], ids[f.Split:]) })
			w.At(f.At+f.For, w.Heal)
		case "kill":
			w.At(f.At, func() { w.Kill(n) })
			w.At(f.At+f.For, func() { w.Restart(n) })
		case "pause":
			w.At(f.At, func() { w.Pause(n) })
			w.At(f.At+f.For, func() { w.Resume(n) })
		case "offset":
			w.At(f.At, func() { w.SetClockOffset(n, f.Offset) })
		case "drift":
			w.At(f.At, func() { w.SetClockDrift(n, f.Drift) })
		case "strobe":
			w.At(f.At, func() { w.SetClockStrobe(n, f.Offset, f.Duration) })
		}
	}
}

var allFaults = []string{"cut", "partition", "kill", "pause", "offset", "drift", "strobe"}

// runToys runs s on toy nodes and returns the world, still open.
func runToys(t testing.TB, s schedule, keep bool) *World {
	w := openWorld(t, Config{Seed: s.Seed, Network: &s.Link, KeepTrace: keep})
	ids := addToys(t, w, s.Nodes, toy.Config{Ping: true, Fanout: 2})
	s.apply(w, ids)
	run(t, w, s.Until)
	return w
}

// Property 1: the same seed gives the same trace; different seeds give
// different traces.
func TestPropSameSeedSameTrace(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := genSchedule(rt, allFaults, rapid.Bool().Draw(rt, "reorder"))
		w1 := runToys(t, s, false)
		h1 := w1.TraceHash()
		w1.Close()
		w2 := runToys(t, s, false)
		h2 := w2.TraceHash()
		w2.Close()
		if h1 != h2 {
			rt.Fatalf("seed %d: two runs gave trace hashes %x and %x", s.Seed, h1, h2)
		}
		s.Seed++
		w3 := runToys(t, s, false)
		h3 := w3.TraceHash()
		w3.Close()
		if h3 == h1 {
			rt.Fatalf("seeds %d and %d gave the same trace hash %x", s.Seed-1, s.Seed, h1)
		}
	})
}

// Property 2: with reordering off, every link delivers in send order,
// through loss, duplication, random latency, pauses and restarts.
func TestPropFIFOLinks(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := genSchedule(rt, allFaults, false)
		w := runToys(t, s, true)
		defer w.Close()
		last := map[[2]env.NodeID]int64{}
		for _, r := range records(t, w) {
			if r.Kind != "net.recv" {
				continue
			}
			k := [2]env.NodeID{env.NodeID(str(r, "from")), r.Node}
			id := num(r, "id")
			if id < last[k] {
				rt.Fatalf("seed %d: link %s→%s delivered message %d after %d", s.Seed, k[0], k[1], id, last[k])
			}
			last[k] = id
		}
	})
}

// Property 3: while a cut holds nothing crosses it, and messages sent
// during the cut are lost rather than delivered after the heal. The
// partitions checker reads exactly that from the trace.
func TestPropCutsHold(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := genSchedule(rt, []string{"cut", "partition", "pause", "kill"}, rapid.Bool().Draw(rt, "reorder"))
		s.Faults = append(s.Faults, fault{Kind: "partition", Split: 1,
			At:  time.Duration(rapid.IntRange(0, 1500).Draw(rt, "cutAtMs")) * time.Millisecond,
			For: time.Duration(rapid.IntRange(1, 400).Draw(rt, "cutForMs")) * time.Millisecond})
		w := runToys(t, s, true)
		defer w.Close()
		res := checker.Partitions(records(t, w))
		if res.Verdict != checker.Valid {
			rt.Fatalf("seed %d: %s: %s", s.Seed, res.Verdict, res.Explanation)
		}
	})
}

// Property 6a: virtual time never decreases in the trace.
func TestPropTimeNeverDecreases(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := genSchedule(rt, allFaults, rapid.Bool().Draw(rt, "reorder"))
		w := runToys(t, s, true)
		defer w.Close()
		var last int64
		for i, r := range records(t, w) {
			if r.Time < last {
				rt.Fatalf("seed %d: trace line %d at %d follows time %d", s.Seed, i+1, r.Time, last)
			}
			last = r.Time
		}
	})
}

// Property 4 (toy level): after a kill, the node recovers exactly the
// count it had last synced.
func TestPropCrashKeepsExactlySynced(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := genSchedule(rt, []string{"kill", "pause", "partition"}, false)
		s.Faults = append(s.Faults, fault{
			Kind: "kill",
			At:   time.Duration(rapid.IntRange(0, 1500).Draw(rt, "killAtMs")) * time.Millisecond,
			For:  time.Duration(rapid.IntRange(0, 300).Draw(rt, "downMs")) * time.Millisecond,
			Node: rapid.IntRange(0, s.Nodes-1).Draw(rt, "killed"),
		})
		w := runToys(t, s, true)
		defer w.Close()
		synced := map[env.NodeID]int64{}
		recovered := 0
		for _, r := range records(t, w) {
			switch r.Kind {
			case "toy.sync":
				synced[r.Node] = num(r, "count")
			case "toy.recover":
				recovered++
				if got, want := num(r, "count"), synced[r.Node]; got != want {
					rt.Fatalf("seed %d: %s recovered count %d at %d, but its last synced count was %d", s.Seed, r.Node, got, r.Time, want)
				}
			}
		}
		if recovered < s.Nodes {
			rt.Fatalf("seed %d: %d nodes but only %d recoveries in the trace", s.Seed, s.Nodes, recovered)
		}
	})
}

// Property 5: a paused node handles nothing until it resumes; then the
// events that waited run in the order they came due, and none is lost.
func TestPropPauseHolds(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64().Draw(rt, "seed")
		latency := time.Duration(rapid.IntRange(0, 10).Draw(rt, "latencyMs")) * time.Millisecond
		pauseAt := time.Duration(rapid.IntRange(0, 50).Draw(rt, "pauseAtMs")) * time.Millisecond
		pauseFor := time.Duration(rapid.IntRange(1, 100).Draw(rt, "pauseForMs")) * time.Millisecond
		link := LinkConfig{Latency: Latency{Dist: Constant, Min: latency}}
		w := openWorld(t, Config{Seed: seed, Network: &link})
		defer w.Close()
		ids := names(3)
		probes := map[env.NodeID]*probe{}
		for _, id := range ids {
			p := &probe{peers: others(ids, id), timers: rapid.IntRange(1, 20).Draw(rt, "timers"), latency: latency}
			probes[id] = p
			if err := w.AddNode(id, p.start); err != nil {
				rt.Fatal(err)
			}
		}
		w.At(pauseAt, func() { w.Pause("n1") })
		w.At(pauseAt+pauseFor, func() { w.Resume("n1") })
		end := 500 * time.Millisecond
		run(t, w, end)

		p := probes["n1"]
		resumed := int64(pauseAt + pauseFor)
		var atResume []handled
		for _, h := range p.log {
			if h.at > int64(pauseAt) && h.at < resumed {
				rt.Fatalf("seed %d: n1 handled a %s at %d while paused (%d..%d)", seed, h.what, h.at, pauseAt, resumed)
			}
			if h.at == resumed {
				atResume = append(atResume, h)
			}
		}
		for i := 1; i < len(atResume); i++ {
			if atResume[i].due < atResume[i-1].due {
				rt.Fatalf("seed %d: on resume n1 handled a %s due at %d after a %s due at %d",
					seed, atResume[i].what, atResume[i].due, atResume[i-1].what, atResume[i-1].due)
			}
		}
		var fired []int64
		for _, h := range p.log {
			if h.what == "timer" {
				fired = append(fired, h.due)
			}
		}
		var want []int64
		for _, due := range p.set {
			if due <= int64(end) {
				want = append(want, due)
			}
		}
		slices.Sort(fired)
		slices.Sort(want)
		if !slices.Equal(fired, want) {
			rt.Fatalf("seed %d: n1 set timers due at %v but handled %v", seed, want, fired)
		}
	})
}

// probe is a test node that sets timers and sends messages whose due times
// it knows (links have constant latency), and logs what it handled, when,
// and when each item came due.
type probe struct {
	e       env.Env
	peers   []env.NodeID
	timers  int
	latency time.Duration
	set     []int64 // due times of the timers set
	log     []handled
}

type handled struct {
	what    string
	at, due int64
}

type probeTimer struct{ due int64 }

func (probeTimer) Kind() string { return "probe.timer" }

type probeMsg struct{ due int64 }

func (*probeMsg) Kind() string { return "probe.msg" }

func (p *probe) start(e env.Env) (env.Node, error) {
	p.e = e
	for i := range p.timers {
		p.after(time.Duration(i*7%40+1) * time.Millisecond)
	}
	return p, nil
}

func (p *probe) after(d time.Duration) {
	due := virtual(p.e) + int64(d)
	p.set = append(p.set, due)
	p.e.After(d, probeTimer{due: due})
}

// virtual recovers the virtual time from a node's wall clock, which the
// probe test never skews.
func virtual(e env.Env) int64 { return int64(e.Now().Sub(Epoch)) }

func (p *probe) Receive(from env.NodeID, m env.Message) {
	if pm, ok := m.(*probeMsg); ok {
		p.log = append(p.log, handled{what: "message", at: virtual(p.e), due: pm.due})
	}
}

func (p *probe) Handle(ev env.Event) {
	pt := ev.(probeTimer)
	now := virtual(p.e)
	p.log = append(p.log, handled{what: "timer", at: now, due: pt.due})
	for _, to := range p.peers {
		p.e.Send(to, &probeMsg{due: now + int64(p.latency)})
	}
	if now < int64(300*time.Millisecond) {
		p.after(13 * time.Millisecond)
	}
}

// Property 6b: clock faults change a node's Now() but never the order of
// events or when timers fire.
func TestPropClockSkewLeavesOrder(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := genSchedule(rt, []string{"cut", "kill", "pause"}, rapid.Bool().Draw(rt, "reorder"))
		plain := runToys(t, s, true)
		base := records(t, plain)
		plain.Close()

		skewed := s
		skewed.Faults = slices.Clone(s.Faults)
		steps := rapid.IntRange(1, 4).Draw(rt, "skews")
		for range steps {
			kind := rapid.SampledFrom([]string{"offset", "strobe"}).Draw(rt, "skew")
			skewed.Faults = append(skewed.Faults, fault{
				At:       time.Duration(rapid.IntRange(0, 1500).Draw(rt, "atMs")) * time.Millisecond,
				Kind:     kind,
				Node:     rapid.IntRange(0, s.Nodes-1).Draw(rt, "node"),
				Offset:   time.Duration(rapid.IntRange(-5000, 5000).Draw(rt, "offsetMs")) * time.Millisecond,
				Duration: time.Duration(rapid.IntRange(1, 100).Draw(rt, "periodMs")) * time.Millisecond,
			})
		}
		w := runToys(t, skewed, true)
		got := records(t, w)
		w.Close()
		strip := func(rs []env.Record) []string {
			var out []string
			for _, r := range rs {
				if len(r.Kind) > 6 && r.Kind[:6] == "clock." {
					continue
				}
				out = append(out, string(env.AppendRecord(nil, &r)))
			}
			return out
		}
		a, b := strip(base), strip(got)
		if !slices.Equal(a, b) {
			for i := range min(len(a), len(b)) {
				if a[i] != b[i] {
					rt.Fatalf("seed %d: clock skew changed event %d:\n without: %s with:    %s", s.Seed, i, a[i], b[i])
				}
			}
			rt.Fatalf("seed %d: clock skew changed the number of events: %d vs %d", s.Seed, len(a), len(b))
		}
	})
}
