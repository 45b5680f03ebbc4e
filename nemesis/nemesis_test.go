package nemesis_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/harness"
)

// base is the network of every test world: 1 ms, FIFO, lossless.
var base = simnet.DefaultLink

// run starts a cluster of n instances with two key-value clients, runs
// the steps until end, heals, and returns the trace.
func run(t *testing.T, n int, steps []nemesis.Step, end time.Duration) []env.Record {
	t.Helper()
	w, c := start(t, harness.Topology{Instances: n})
	if _, err := c.AddClients(2, client.Config{Interval: 20 * time.Millisecond, Until: end}, func(i int) client.Workload {
		return &client.Mix{ID: fmt.Sprint("c", i), Keys: 4, Read: 1, Write: 1}
	}); err != nil {
		t.Fatal(err)
	}
	return schedule(t, w, c, steps, nemesis.Config{Network: base, DiskDir: node.WALDir, End: end})
}

// runTopology starts a cluster of the topology, runs the steps until
// end, heals, and returns the trace.
func runTopology(t *testing.T, top harness.Topology, steps []nemesis.Step, end time.Duration) trace {
	t.Helper()
	w, c := start(t, top)
	return schedule(t, w, c, steps, nemesis.Config{Network: base, DiskDir: node.WALDir, End: end})
}

// start starts a cluster of the topology in a world of its own, which
// keeps its trace and closes when the test ends.
func start(t *testing.T, top harness.Topology) (*simnet.World, *harness.Cluster) {
	t.Helper()
	w, err := simnet.New(simnet.Config{Seed: 7, KeepTrace: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	c, err := harness.Start(w, top, node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return w, c
}

// schedule schedules the steps on c, runs the world until cfg.End,
// heals, runs a second more, and returns the trace.
func schedule(t *testing.T, w *simnet.World, c nemesis.Cluster, steps []nemesis.Step, cfg nemesis.Config) trace {
	t.Helper()
	nem, err := nemesis.Schedule(w, c, steps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.At(cfg.End, nem.Heal)
	if err := w.Run(cfg.End + time.Second); err != nil {
		t.Fatal(err)
	}
	recs, err := w.Records()
	if err != nil {
		t.Fatal(err)
	}
	return trace(recs)
}

// trace is a run's records with the queries the tests ask.
type trace []env.Record

func (tr trace) kind(kind string) []env.Record {
	var out []env.Record
	for _, r := range tr {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// between returns the events of a kind at times in [from, to].
func (tr trace) between(kind string, from, to int64) []env.Record {
	var out []env.Record
	for _, r := range tr.kind(kind) {
		if r.Time >= from && r.Time <= to {
			out = append(out, r)
		}
	}
	return out
}

// only returns the single nemesis.start and nemesis.stop of a run with
// one occurrence.
func (tr trace) only(t *testing.T) (start, stop env.Record) {
	t.Helper()
	starts, stops := tr.kind("nemesis.start"), tr.kind("nemesis.stop")
	if len(starts) != 1 || len(stops) != 1 {
		t.Fatalf("%d nemesis.start and %d nemesis.stop, want one of each", len(starts), len(stops))
	}
	if eff, _ := starts[0].Bool("effect"); !eff {
		why, _ := starts[0].Str("why")
		t.Fatalf("the fault took no effect: %s", why)
	}
	return starts[0], stops[0]
}

// effective fails the test unless every nemesis.start took effect.
func (tr trace) effective(t *testing.T) {
	t.Helper()
	for _, r := range tr.kind("nemesis.start") {
		if eff, _ := r.Bool("effect"); !eff {
			t.Fatalf("step %d took no effect: %s", num(r, "step"), str(r, "why"))
		}
	}
}

func str(r env.Record, f string) string { s, _ := r.Str(f); return s }
func num(r env.Record, f string) int64  { i, _ := r.Int(f); return i }

// leaderAt is the node that most recently reported itself the group's
// leader at or before t.
func (tr trace) leaderAt(group string, t int64) env.NodeID {
	var l env.NodeID
	var term int64
	for _, r := range tr.kind("raft.state") {
		if r.Time <= t && str(r, "group") == group && str(r, "role") == "leader" && num(r, "term") >= term {
			l, term = r.Node, num(r, "term")
		}
	}
	return l
}

// cuts lists the links cut at time t as "from>to".
func (tr trace) cutsAt(t int64, kind string) []string {
	var out []string
	for _, r := range tr.between(kind, t, t) {
		out = append(out, str(r, "from")+">"+str(r, "to"))
	}
	return out
}

func step(f nemesis.Fault) []nemesis.Step {
	return []nemesis.Step{{At: 3 * time.Second, For: 2 * time.Second, Fault: &f}}
}

func ptr[T any](v T) *T { return &v }

// TestPartitionShapesCutInTheTrace runs each partition shape on a live
// cluster: its links are cut when it starts, messages are dropped at the
// cut while it lasts, and exactly those links are restored when it ends.
func TestPartitionShapesCutInTheTrace(t *testing.T) {
	type tc struct {
		name  string
		n     int
		fault nemesis.Fault
		cuts  int // how many directed links, or 0 to skip
	}
	cases := []tc{
		{"halves", 5, nemesis.Fault{Kind: nemesis.Partition, Shape: nemesis.Halves}, 12},
		{"random-halves", 5, nemesis.Fault{Kind: nemesis.Partition, Shape: nemesis.RandomHalves}, 12},
		{"one", 5, nemesis.Fault{Kind: nemesis.Partition, Shape: nemesis.One}, 8},
		{"minority-third", 5, nemesis.Fault{Kind: nemesis.Partition, Shape: nemesis.MinorityThird}, 8},
		{"majority", 5, nemesis.Fault{Kind: nemesis.Partition, Shape: nemesis.Majority}, 12},
		{"majorities-ring", 5, nemesis.Fault{Kind: nemesis.Partition, Shape: nemesis.MajoritiesRing}, 10},
		{"bridge", 5, nemesis.Fault{Kind: nemesis.Partition, Shape: nemesis.Bridge}, 8},
		{"isolate-leader", 5, nemesis.Fault{Kind: nemesis.Partition, Shape: nemesis.IsolateLeader, Group: nemesis.GroupData}, 8},
		{"isolate-leader-config", 5, nemesis.Fault{Kind: nemesis.Partition, Shape: nemesis.IsolateLeader, Group: nemesis.GroupConfig}, 8},
		{"isolate-voters", 7, nemesis.Fault{Kind: nemesis.Partition, Shape: nemesis.IsolateVoters}, 20},
		{"components", 5, nemesis.Fault{Kind: nemesis.Partition, Components: [][]env.NodeID{{"n1"}, {"n2", "n3"}}}, 16},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := trace(run(t, c.n, step(c.fault), 8*time.Second))
			start, stop := tr.only(t)
			cut := tr.cutsAt(start.Time, "net.cut")
			if len(cut) != c.cuts {
				t.Fatalf("%d links cut (%v), want %d; what %q", len(cut), cut, c.cuts, str(start, "what"))
			}
			if uncut := tr.cutsAt(stop.Time, "net.uncut"); !slices.Equal(uncut, cut) {
				t.Fatalf("restored %v, cut %v", uncut, cut)
			}
			if num(stop, "dropped") == 0 || len(tr.between("net.drop", start.Time, stop.Time)) == 0 {
				t.Fatalf("nothing was dropped while the partition lasted: %v", stop)
			}
			if c.fault.Shape == nemesis.IsolateLeader {
				group := str(start, "group")
				leader := tr.leaderAt(group, start.Time)
				if want := ": " + string(leader) + "|"; !strings.Contains(str(start, "what"), want) {
					t.Fatalf("isolated %q, but %s led %s", str(start, "what"), leader, group)
				}
			}
		})
	}
}

// TestLinkFaults shows each link fault in the trace.
func TestLinkFaults(t *testing.T) {
	t.Run("loss", func(t *testing.T) {
		tr := trace(run(t, 3, step(nemesis.Fault{Kind: nemesis.Link, Loss: ptr(0.5)}), 8*time.Second))
		start, stop := tr.only(t)
		lost := 0
		for _, r := range tr.between("net.drop", start.Time, stop.Time) {
			if str(r, "why") == "loss" {
				lost++
			}
		}
		if lost == 0 || num(stop, "dropped") < int64(lost) || num(stop, "sent") < 2*int64(lost)/2 {
			t.Fatalf("%d lost, stop %v", lost, stop)
		}
		if len(tr.between("net.link", start.Time, start.Time)) != 6 || len(tr.between("net.link", stop.Time, stop.Time)) != 6 {
			t.Fatal("want the six links between three instances set at the start and reset at the stop")
		}
	})
	t.Run("delay", func(t *testing.T) {
		tr := trace(run(t, 3, step(nemesis.Fault{Kind: nemesis.Link, Delay: &simnet.Latency{Dist: simnet.Constant, Min: 50 * time.Millisecond}}), 8*time.Second))
		start, stop := tr.only(t)
		fast, slow := 0, 0
		for _, r := range tr.between("net.recv", start.Time+int64(100*time.Millisecond), stop.Time) {
			if !strings.HasPrefix(str(r, "from"), "n") || !strings.HasPrefix(string(r.Node), "n") || num(r, "sent") < start.Time {
				continue
			}
			if r.Time-num(r, "sent") >= int64(51*time.Millisecond) {
				slow++
			} else {
				fast++
			}
		}
		if slow == 0 || fast != 0 {
			t.Fatalf("%d messages between instances took ≥51ms and %d less", slow, fast)
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		tr := trace(run(t, 3, step(nemesis.Fault{Kind: nemesis.Link, Duplicate: ptr(0.5)}), 8*time.Second))
		_, stop := tr.only(t)
		if num(stop, "duplicated") == 0 {
			t.Fatalf("nothing duplicated: %v", stop)
		}
	})
	t.Run("reorder", func(t *testing.T) {
		f := nemesis.Fault{Kind: nemesis.Link, Reorder: ptr(true), Delay: &simnet.Latency{Dist: simnet.Uniform, Min: 0, Max: 30 * time.Millisecond}}
		tr := trace(run(t, 3, step(f), 8*time.Second))
		start, stop := tr.only(t)
		last := map[string]int64{}
		overtaken := 0
		for _, r := range tr.between("net.recv", start.Time, stop.Time) {
			k := str(r, "from") + ">" + string(r.Node)
			if id := num(r, "id"); id < last[k] {
				overtaken++
			} else {
				last[k] = id
			}
		}
		if overtaken == 0 {
			t.Fatal("no message overtook another")
		}
	})
	t.Run("one-way-cut", func(t *testing.T) {
		f := nemesis.Fault{Kind: nemesis.Link, Loss: ptr(1.0), From: []env.NodeID{"n1"}, To: []env.NodeID{"n2"}, OneWay: true}
		tr := trace(run(t, 3, step(f), 8*time.Second))
		start, stop := tr.only(t)
		if cut := tr.cutsAt(start.Time, "net.cut"); !slices.Equal(cut, []string{"n1>n2"}) {
			t.Fatalf("cut %v, want only n1>n2", cut)
		}
		if uncut := tr.cutsAt(stop.Time, "net.uncut"); !slices.Equal(uncut, []string{"n1>n2"}) {
			t.Fatalf("restored %v", uncut)
		}
		if num(stop, "dropped") == 0 {
			t.Fatal("nothing dropped on n1>n2")
		}
	})
}

// nodesAt lists the nodes of the events of a kind at time t.
func (tr trace) nodesAt(kind string, t int64) []string {
	var out []string
	for _, r := range tr.between(kind, t, t) {
		out = append(out, string(r.Node))
	}
	slices.Sort(out)
	return out
}

// TestProcessFaultsAndTargets shows kill, restart and pause, on each
// target, in the trace.
func TestProcessFaultsAndTargets(t *testing.T) {
	cases := []struct {
		fault nemesis.Fault
		hits  int
	}{
		{nemesis.Fault{Kind: nemesis.Kill, Target: "n2"}, 1},
		{nemesis.Fault{Kind: nemesis.Kill, Target: nemesis.TargetRandom}, 1},
		{nemesis.Fault{Kind: nemesis.Kill, Target: nemesis.TargetLeader, Group: nemesis.GroupData}, 1},
		{nemesis.Fault{Kind: nemesis.Kill, Target: nemesis.TargetFollowers, Group: nemesis.GroupConfig}, 4},
		{nemesis.Fault{Kind: nemesis.Kill, Target: nemesis.TargetFollower, Group: nemesis.GroupData}, 1},
		{nemesis.Fault{Kind: nemesis.Kill, Target: nemesis.TargetMinority}, 2},
		{nemesis.Fault{Kind: nemesis.Kill, Target: nemesis.TargetMajority}, 3},
		{nemesis.Fault{Kind: nemesis.Kill, Target: nemesis.TargetAll}, 5},
		{nemesis.Fault{Kind: nemesis.Restart, Target: nemesis.TargetLeader, Group: nemesis.GroupData}, 1},
		{nemesis.Fault{Kind: nemesis.Pause, Target: nemesis.TargetLeader, Group: nemesis.GroupConfig}, 1},
	}
	for _, c := range cases {
		t.Run(string(c.fault.Kind)+"-"+c.fault.Target, func(t *testing.T) {
			tr := trace(run(t, 5, step(c.fault), 8*time.Second))
			starts := tr.kind("nemesis.start")
			if len(starts) != 1 {
				t.Fatalf("%d starts", len(starts))
			}
			start := starts[0]
			targets := strings.Split(str(start, "targets"), ",")
			slices.Sort(targets)
			if len(targets) != c.hits {
				t.Fatalf("targets %v, want %d", targets, c.hits)
			}
			if c.fault.Target == nemesis.TargetLeader {
				if l := tr.leaderAt(str(start, "group"), start.Time); targets[0] != string(l) {
					t.Fatalf("hit %v, but %s led %s", targets, l, str(start, "group"))
				}
			}
			if (c.fault.Target == nemesis.TargetFollowers || c.fault.Target == nemesis.TargetFollower) &&
				slices.Contains(targets, string(tr.leaderAt(str(start, "group"), start.Time))) {
				t.Fatalf("followers %v include the leader", targets)
			}
			switch c.fault.Kind {
			case nemesis.Kill:
				stop := tr.kind("nemesis.stop")[0]
				if got := tr.nodesAt("node.kill", start.Time); !slices.Equal(got, targets) {
					t.Fatalf("killed %v, targets %v", got, targets)
				}
				if got := tr.nodesAt("node.start", stop.Time); !slices.Equal(got, targets) {
					t.Fatalf("restarted %v at the stop, targets %v", got, targets)
				}
			case nemesis.Restart:
				if len(tr.kind("nemesis.stop")) != 0 {
					t.Fatal("a restart has no stop")
				}
				if k, s := tr.nodesAt("node.kill", start.Time), tr.nodesAt("node.start", start.Time); !slices.Equal(k, targets) || !slices.Equal(s, targets) {
					t.Fatalf("killed %v and started %v, targets %v", k, s, targets)
				}
			case nemesis.Pause:
				stop := tr.kind("nemesis.stop")[0]
				if got := tr.nodesAt("node.pause", start.Time); !slices.Equal(got, targets) {
					t.Fatalf("paused %v", got)
				}
				resumes := tr.between("node.resume", stop.Time, stop.Time)
				if len(resumes) != 1 || num(resumes[0], "held") == 0 {
					t.Fatalf("resumes at the stop: %v; want one that held events", resumes)
				}
			}
		})
	}
}

// TestClockFaults shows each clock fault set at the start and taken back
// at the stop.
func TestClockFaults(t *testing.T) {
	cases := []struct {
		fault       nemesis.Fault
		kind, field string
		on, off     int64
	}{
		{nemesis.Fault{Kind: nemesis.Clock, Target: "n1", Offset: ptr(-2 * time.Second)}, "clock.offset", "offset", int64(-2 * time.Second), 0},
		{nemesis.Fault{Kind: nemesis.Clock, Target: "n1", Strobe: &nemesis.Strobe{Offset: 300 * time.Millisecond, Period: 50 * time.Millisecond}}, "clock.strobe", "amp", int64(300 * time.Millisecond), 0},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			tr := trace(run(t, 3, step(c.fault), 8*time.Second))
			start, stop := tr.only(t)
			on, off := tr.between(c.kind, start.Time, start.Time), tr.between(c.kind, stop.Time, stop.Time)
			if len(on) != 1 || on[0].Node != "n1" || num(on[0], c.field) != c.on {
				t.Fatalf("at the start: %v", on)
			}
			if len(off) != 1 || num(off[0], c.field) != c.off {
				t.Fatalf("at the stop: %v", off)
			}
		})
	}
	t.Run("clock.drift", func(t *testing.T) {
		tr := trace(run(t, 3, step(nemesis.Fault{Kind: nemesis.Clock, Target: "n1", Drift: ptr(0.05)}), 8*time.Second))
		start, stop := tr.only(t)
		on, off := tr.between("clock.drift", start.Time, start.Time), tr.between("clock.drift", stop.Time, stop.Time)
		if len(on) != 1 || len(off) != 1 {
			t.Fatalf("drift events at start %v, at stop %v", on, off)
		}
		if d, _ := on[0].Float("drift"); d != 0.05 {
			t.Fatalf("drift %v", on[0])
		}
	})
}

// TestDiskFaultsCrashTheNode shows a disk fault failing the target's
// Raft log writes, the node crashing, and coming back when the fault
// ends.
func TestDiskFaultsCrashTheNode(t *testing.T) {
	f := nemesis.Fault{Kind: nemesis.Disk, Target: "n2", Errors: []string{nemesis.DiskWrite, nemesis.DiskSync}, Probability: 1}
	tr := trace(run(t, 3, step(f), 8*time.Second))
	start, stop := tr.only(t)
	if got := tr.between("disk.faults", start.Time, start.Time); len(got) != 1 || got[0].Node != "n2" {
		t.Fatalf("disk.faults at the start: %v", got)
	}
	errs := tr.between("disk.error", start.Time, stop.Time)
	crashes := tr.between("node.crash", start.Time, stop.Time)
	if len(errs) == 0 || len(crashes) == 0 || crashes[0].Node != "n2" {
		t.Fatalf("%d disk errors, crashes %v", len(errs), crashes)
	}
	if num(stop, "disk_errors") != int64(len(errs)) {
		t.Fatalf("stop counts %d disk errors, the trace has %d", num(stop, "disk_errors"), len(errs))
	}
	if got := tr.nodesAt("node.start", stop.Time); !slices.Equal(got, []string{"n2"}) {
		t.Fatalf("restarted at the stop: %v", got)
	}
}

// TestEveryAndPick shows a flip-flop step's occurrences and a pick drawing
// each alternative.
func TestEveryAndPick(t *testing.T) {
	steps := []nemesis.Step{{Every: 2 * time.Second, Start: time.Second, For: 500 * time.Millisecond, Pick: []nemesis.Fault{
		{Kind: nemesis.Pause, Target: nemesis.TargetRandom, Weight: 1},
		{Kind: nemesis.Partition, Shape: nemesis.One, Weight: 1},
	}}}
	tr := trace(run(t, 3, steps, 20*time.Second))
	starts, stops := tr.kind("nemesis.start"), tr.kind("nemesis.stop")
	if len(starts) != 10 || len(stops) != 10 {
		t.Fatalf("%d starts and %d stops, want 10 each (1s, 3s, ..., 19s)", len(starts), len(stops))
	}
	kinds := map[string]int{}
	for i, s := range starts {
		if want := int64(time.Second + time.Duration(i)*2*time.Second); s.Time != want || num(s, "n") != int64(i+1) {
			t.Fatalf("occurrence %d started at %s", num(s, "n"), time.Duration(s.Time))
		}
		if d := stops[i].Time - s.Time; d != int64(500*time.Millisecond) {
			t.Fatalf("occurrence %d lasted %s", i+1, time.Duration(d))
		}
		kinds[str(s, "fault")]++
	}
	if kinds["pause"] == 0 || kinds["partition"] == 0 {
		t.Fatalf("picked %v, want both alternatives", kinds)
	}
}

// TestScheduleRejectsNamesTheClusterLacks checks Schedule's own
// validation.
func TestScheduleRejectsNamesTheClusterLacks(t *testing.T) {
	w, err := simnet.New(simnet.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c, err := harness.Start(w, harness.Topology{Instances: 3}, node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []nemesis.Fault{
		{Kind: "partiton"},
		{Kind: nemesis.Partition, Shape: "thirds"},
		{Kind: nemesis.Kill, Target: "n9"},
		{Kind: nemesis.Kill, Target: nemesis.TargetLeader, Group: "rs2"},
		{Kind: nemesis.Link, From: []env.NodeID{"n4"}},
		{Kind: nemesis.Disk, Target: "n1", Errors: []string{"flush"}},
		{Kind: nemesis.Endpoint, Endpoint: "sink", Mode: nemesis.EndpointDown},
		{Kind: nemesis.Endpoint, Endpoint: "sink", Mode: "up"},
		{Kind: nemesis.Endpoint, Endpoint: "sink", Mode: nemesis.EndpointSlow},
		{Kind: nemesis.Endpoint, Endpoint: "sink", Mode: nemesis.EndpointFail, FailRate: 2},
	} {
		if _, err := nemesis.Schedule(w, c, step(f), nemesis.Config{DiskDir: node.WALDir, End: time.Minute}); err == nil {
			t.Errorf("%+v: accepted", f)
		}
	}
}

// runEndpoints starts three instances and simulated endpoints for
// destinations sink and audit, runs the steps until end, heals, and
// returns the trace.
func runEndpoints(t *testing.T, steps []nemesis.Step, end time.Duration) trace {
	t.Helper()
	return runTopology(t, harness.Topology{Instances: 3, Endpoints: []string{"sink", "audit"}}, steps, end)
}

// modes lists the endpoint.mode events of an endpoint as "TIME mode".
func (tr trace) modes(id string) []string {
	var out []string
	for _, r := range tr.kind("endpoint.mode") {
		if string(r.Node) == id {
			out = append(out, fmt.Sprintf("%s %s", time.Duration(r.Time), str(r, "mode")))
		}
	}
	return out
}

// TestEndpointFaults: down cuts the endpoint off from every instance both
// ways and restores exactly those links; fail and slow set its mode and
// set it up again; overlapping modes give way to the latest still in
// force; the final heal ends them all.
func TestEndpointFaults(t *testing.T) {
	t.Run("down", func(t *testing.T) {
		tr := runEndpoints(t, step(nemesis.Fault{Kind: nemesis.Endpoint, Endpoint: "sink", Mode: nemesis.EndpointDown}), 8*time.Second)
		start, stop := tr.only(t)
		want := []string{"ext/sink>n1", "ext/sink>n2", "ext/sink>n3", "n1>ext/sink", "n2>ext/sink", "n3>ext/sink"}
		cut, uncut := tr.cutsAt(start.Time, "net.cut"), tr.cutsAt(stop.Time, "net.uncut")
		slices.Sort(cut)
		slices.Sort(uncut)
		if !slices.Equal(cut, want) || !slices.Equal(uncut, want) {
			t.Fatalf("cut %v and restored %v, want %v both", cut, uncut, want)
		}
		if got := str(start, "targets") + " " + str(start, "endpoint") + " " + str(start, "mode"); got != "ext/sink sink down" {
			t.Fatalf("nemesis.start names %q", got)
		}
		if m := tr.modes("ext/sink"); len(m) != 1 {
			t.Fatalf("down set the endpoint's mode: %v", m)
		}
	})
	t.Run("fail", func(t *testing.T) {
		tr := runEndpoints(t, step(nemesis.Fault{Kind: nemesis.Endpoint, Endpoint: "audit", Mode: nemesis.EndpointFail, FailRate: 0.5}), 8*time.Second)
		start, _ := tr.only(t)
		if got, want := tr.modes("ext/audit"), []string{"0s up", "3s fail", "5s up"}; !slices.Equal(got, want) {
			t.Fatalf("modes %v, want %v", got, want)
		}
		if r := tr.kind("endpoint.mode")[2]; str(r, "destination") != "audit" {
			t.Fatalf("the fail mode went to %s", r.Node)
		}
		if f, _ := tr.kind("endpoint.mode")[2].Get("fail_rate"); fmt.Sprint(f.Value()) != "0.5" {
			t.Fatalf("fail rate %v", f.Value())
		}
		if what := str(start, "what"); what != "audit fails: refuses 0.5 of items" {
			t.Fatalf("what %q", what)
		}
		if len(tr.kind("net.cut")) != 0 {
			t.Fatal("fail cut links")
		}
	})
	t.Run("overlap", func(t *testing.T) {
		slow := nemesis.Fault{Kind: nemesis.Endpoint, Endpoint: "sink", Mode: nemesis.EndpointSlow, Latency: 300 * time.Millisecond}
		fail := nemesis.Fault{Kind: nemesis.Endpoint, Endpoint: "sink", Mode: nemesis.EndpointFail}
		steps := []nemesis.Step{
			{At: time.Second, For: 4 * time.Second, Fault: &slow},
			{At: 2 * time.Second, For: time.Second, Fault: &fail},
			{At: 6 * time.Second, Fault: &fail}, // until the heal
		}
		tr := runEndpoints(t, steps, 8*time.Second)
		want := []string{"0s up", "1s slow", "2s fail", "3s slow", "5s up", "6s fail", "8s up"}
		if got := tr.modes("ext/sink"); !slices.Equal(got, want) {
			t.Fatalf("modes %v, want %v", got, want)
		}
		tr.effective(t)
	})
	t.Run("flapping", func(t *testing.T) {
		steps := []nemesis.Step{{Every: 2 * time.Second, Start: time.Second, For: time.Second,
			Fault: &nemesis.Fault{Kind: nemesis.Endpoint, Endpoint: "sink", Mode: nemesis.EndpointDown}}}
		tr := runEndpoints(t, steps, 9*time.Second)
		if n := len(tr.kind("nemesis.start")); n != 4 {
			t.Fatalf("%d occurrences, want 4", n)
		}
		if cuts, uncuts := len(tr.kind("net.cut")), len(tr.kind("net.uncut")); cuts != 24 || uncuts != 24 {
			t.Fatalf("%d cuts and %d restores, want 24 each", cuts, uncuts)
		}
	})
}

// hidden is a Cluster without endpoints, as a real cluster's is.
type hidden struct{ nemesis.Cluster }

// TestEndpointFaultWithoutEndpoints: a cluster that simulates no
// endpoints takes the fault as unsupported: traced as taking no effect,
// with the reason, never skipped.
func TestEndpointFaultWithoutEndpoints(t *testing.T) {
	w, c := start(t, harness.Topology{Instances: 3})
	steps := step(nemesis.Fault{Kind: nemesis.Endpoint, Endpoint: "sink", Mode: nemesis.EndpointDown})
	if _, err := nemesis.Schedule(w, c, steps, nemesis.Config{End: 8 * time.Second}); err == nil ||
		!strings.Contains(err.Error(), `no endpoint "sink": the cluster simulates none`) {
		t.Fatalf("a simulated cluster without the endpoint: %v", err)
	}
	tr := schedule(t, w, hidden{c}, steps, nemesis.Config{End: 8 * time.Second})
	starts := tr.kind("nemesis.start")
	if len(starts) != 1 {
		t.Fatalf("%d nemesis.start", len(starts))
	}
	if eff, _ := starts[0].Bool("effect"); eff || !strings.HasPrefix(str(starts[0], "why"), "not applied") {
		t.Fatalf("effect %v, why %q", eff, str(starts[0], "why"))
	}
	if len(tr.kind("nemesis.stop")) != 1 || len(tr.kind("net.cut")) != 0 {
		t.Fatal("want one stop and no cut")
	}
}

// runBrokers starts three instances and simulated brokers for kafka
// connectors crm and audit, runs the steps until end, heals, and returns
// the trace.
func runBrokers(t *testing.T, steps []nemesis.Step, end time.Duration) trace {
	t.Helper()
	return runTopology(t, harness.Topology{Instances: 3, Brokers: []string{"crm", "audit"}}, steps, end)
}

// brokerModes lists the kafka.mode events of a broker as "TIME mode",
// with the delay of a slow mode.
func (tr trace) brokerModes(id string) []string {
	var out []string
	for _, r := range tr.kind("kafka.mode") {
		if string(r.Node) != id {
			continue
		}
		m := fmt.Sprintf("%s %s", time.Duration(r.Time), str(r, "mode"))
		if d := num(r, "delay"); d != 0 {
			m += " " + time.Duration(d).String()
		}
		out = append(out, m)
	}
	return out
}

// TestBrokerFaults: down and slow set the broker's mode and set it up
// again; overlapping modes give way to the latest still in force; the
// final heal ends them all; rebalance starts a new generation at each
// occurrence and has no stop.
func TestBrokerFaults(t *testing.T) {
	t.Run("down", func(t *testing.T) {
		tr := runBrokers(t, step(nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerDown}), 8*time.Second)
		start, _ := tr.only(t)
		if got, want := tr.brokerModes("ext/in/crm"), []string{"0s up", "3s down", "5s up"}; !slices.Equal(got, want) {
			t.Fatalf("modes %v, want %v", got, want)
		}
		if got := tr.brokerModes("ext/in/audit"); !slices.Equal(got, []string{"0s up"}) {
			t.Fatalf("audit's modes %v: the fault hit the wrong broker", got)
		}
		if got := str(start, "targets") + " " + str(start, "broker") + " " + str(start, "mode"); got != "ext/in/crm crm down" {
			t.Fatalf("nemesis.start names %q", got)
		}
		if what := str(start, "what"); what != "crm down: ignores every request" {
			t.Fatalf("what %q", what)
		}
		if len(tr.kind("net.cut")) != 0 {
			t.Fatal("down cut links")
		}
	})
	t.Run("overlap", func(t *testing.T) {
		slow := nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerSlow, Latency: 300 * time.Millisecond}
		down := nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerDown}
		slower := nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerSlow, Latency: time.Second}
		steps := []nemesis.Step{
			{At: time.Second, For: 4 * time.Second, Fault: &slow},
			{At: 2 * time.Second, For: time.Second, Fault: &down},
			{At: 6 * time.Second, Fault: &slower}, // until the heal
		}
		tr := runBrokers(t, steps, 8*time.Second)
		want := []string{"0s up", "1s slow 300ms", "2s down", "3s slow 300ms", "5s up", "6s slow 1s", "8s up"}
		if got := tr.brokerModes("ext/in/crm"); !slices.Equal(got, want) {
			t.Fatalf("modes %v, want %v", got, want)
		}
		tr.effective(t)
		if starts, stops := len(tr.kind("nemesis.start")), len(tr.kind("nemesis.stop")); starts != 3 || stops != 3 {
			t.Fatalf("%d starts and %d stops, want 3 each", starts, stops)
		}
	})
	t.Run("rebalance", func(t *testing.T) {
		steps := []nemesis.Step{{Every: 2 * time.Second, Start: time.Second,
			Fault: &nemesis.Fault{Kind: nemesis.Broker, Broker: "audit", Mode: nemesis.BrokerRebalance}}}
		tr := runBrokers(t, steps, 8*time.Second)
		var got []string
		for _, r := range tr.kind("kafka.rebalance") {
			got = append(got, fmt.Sprintf("%s %s %s %d", time.Duration(r.Time), r.Node, str(r, "why"), num(r, "generation")))
		}
		want := []string{"1s ext/in/audit forced 1", "3s ext/in/audit forced 2", "5s ext/in/audit forced 3", "7s ext/in/audit forced 4"}
		if !slices.Equal(got, want) {
			t.Fatalf("rebalances %v, want %v", got, want)
		}
		starts := tr.kind("nemesis.start")
		if len(starts) != 4 || len(tr.kind("nemesis.stop")) != 0 {
			t.Fatalf("%d starts and %d stops, want 4 and none", len(starts), len(tr.kind("nemesis.stop")))
		}
		if eff, _ := starts[0].Bool("effect"); !eff || str(starts[0], "mode") != "rebalance" || str(starts[0], "broker") != "audit" {
			t.Fatalf("nemesis.start %v", starts[0])
		}
		if got := tr.brokerModes("ext/in/audit"); !slices.Equal(got, []string{"0s up"}) {
			t.Fatalf("a rebalance set modes %v", got)
		}
	})
}

// TestBrokerFaultValidation: Schedule names the modes, the brokers the
// cluster simulates, and refuses a duration on a rebalance.
func TestBrokerFaultValidation(t *testing.T) {
	// check checks steps against a cluster with brokers, or its Cluster
	// alone (hide), in a world of its own.
	check := func(brokers []string, hide bool, steps []nemesis.Step) error {
		t.Helper()
		w, err := simnet.New(simnet.Config{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		c, err := harness.Start(w, harness.Topology{Instances: 3, Brokers: brokers}, node.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if hide {
			return nemesis.Check(hidden{c}, steps, nemesis.Config{End: time.Minute})
		}
		return nemesis.Check(c, steps, nemesis.Config{End: time.Minute})
	}
	two := []string{"crm", "audit"}
	cases := []struct {
		brokers []string
		hide    bool
		steps   []nemesis.Step
		want    string
	}{
		{two, false, step(nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: "up"}),
			`nemesis: step 1: unknown broker mode "up" (want down, slow, rebalance)`},
		{two, false, step(nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerSlow}),
			"nemesis: step 1: broker fault in mode slow needs a latency above 0, got 0s"},
		{two, false, step(nemesis.Fault{Kind: nemesis.Broker, Broker: "shop", Mode: nemesis.BrokerDown}),
			`nemesis: step 1: no broker "shop" (the cluster simulates crm, audit)`},
		{nil, false, step(nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerDown}),
			`nemesis: step 1: no broker "crm": the cluster simulates none (its pipeline declares no kafka connector)`},
		{two, false, step(nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerRebalance}),
			"nemesis: step 1: a broker rebalance has no duration, but For is 2s"},
		// A cluster that simulates no brokers checks only the mode: the
		// fault is traced as not applied when it fires.
		{two, true, step(nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: "flaky"}),
			`nemesis: step 1: unknown broker mode "flaky" (want down, slow, rebalance)`},
	}
	for _, c := range cases {
		if err := check(c.brokers, c.hide, c.steps); err == nil || err.Error() != c.want {
			t.Errorf("%+v: got %v, want %s", *c.steps[0].Fault, err, c.want)
		}
	}
	ok := []nemesis.Step{
		{At: time.Second, Fault: &nemesis.Fault{Kind: nemesis.Broker, Broker: "audit", Mode: nemesis.BrokerRebalance}},
		{Every: time.Second, For: 500 * time.Millisecond, Pick: []nemesis.Fault{
			{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerSlow, Latency: time.Second},
			{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerDown},
		}},
	}
	if err := check(two, false, ok); err != nil {
		t.Fatal(err)
	}
	if err := check(nil, true, ok); err != nil {
		t.Fatalf("a cluster without brokers: %v", err)
	}
}

// TestBrokerFaultWithoutBrokers: a cluster that simulates no brokers
// takes the fault as unsupported: traced as taking no effect, with the
// reason, never skipped.
func TestBrokerFaultWithoutBrokers(t *testing.T) {
	w, c := start(t, harness.Topology{Instances: 3, Brokers: []string{"crm"}})
	steps := []nemesis.Step{
		{At: 3 * time.Second, For: 2 * time.Second, Fault: &nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerDown}},
		{At: 4 * time.Second, Fault: &nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerRebalance}},
	}
	tr := schedule(t, w, hidden{c}, steps, nemesis.Config{End: 8 * time.Second})
	starts := tr.kind("nemesis.start")
	if len(starts) != 2 {
		t.Fatalf("%d nemesis.start", len(starts))
	}
	for _, s := range starts {
		if eff, _ := s.Bool("effect"); eff || !strings.HasPrefix(str(s, "why"), "not applied") {
			t.Fatalf("effect %v, why %q", eff, str(s, "why"))
		}
	}
	if len(tr.kind("nemesis.stop")) != 1 || len(tr.kind("kafka.rebalance")) != 0 {
		t.Fatal("want one stop (down's) and no rebalance")
	}
	if got := tr.brokerModes("ext/in/crm"); !slices.Equal(got, []string{"0s up"}) {
		t.Fatalf("modes %v", got)
	}
}
