package liverun

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/library"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

func parse(t *testing.T, src string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAdapt(t *testing.T) {
	li, err := library.Load("leader-isolation")
	if err != nil {
		t.Fatal(err)
	}
	s, unapplied, err := Adapt(li, 3)
	if err != nil {
		t.Fatal(err)
	}
	if s.Cluster.Instances != 3 || s.Cluster.ReplicationFactor != 3 {
		t.Errorf("--nodes 3 gave %+v, want one replicaset of 3", s.Cluster)
	}
	if li.Cluster.Instances != 5 {
		t.Errorf("adapt changed the scenario it was given: %+v", li.Cluster)
	}
	if slices.Contains(s.Checks, scenario.CheckPartitions) || !slices.Contains(s.Checks, scenario.CheckLinearizable) {
		t.Errorf("checks %v: want linearizable kept and partitions left out", s.Checks)
	}
	if len(unapplied) != 2 || !strings.HasPrefix(unapplied[0], "check partitions") || !strings.HasPrefix(unapplied[1], "partitions and link faults") {
		t.Errorf("unapplied %q: want the partitions check and what the proxy lets through named", unapplied)
	}

	mixed := parse(t, `name: mixed
cluster: {instances: 6, replication_factor: 3}
workload:
  - {kind: kv, clients: 2}
  - {kind: config, clients: 1}
nemesis:
  - {at: 1s, fault: clock, target: n1, offset: 2s, for: 1s}
  - {at: 2s, fault: disk, target: n2, errors: [sync], probability: 1, for: 1s}
  - {at: 3s, fault: kill, target: n3, for: 1s}
checks: [linearizable, faults]
`)
	s, unapplied, err = Adapt(mixed, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Cluster.Instances != 6 || s.Cluster.ReplicationFactor != 3 {
		t.Errorf("no --nodes changed the cluster: %+v", s.Cluster)
	}
	if len(s.Workloads) != 1 || s.Workloads[0].Kind != scenario.KV {
		t.Errorf("workloads %+v: want the kv one only", s.Workloads)
	}
	want := []string{"workload 2 (config)", "nemesis step 1 (clock)", "nemesis step 2 (disk)", "kill and restart"}
	if len(unapplied) != len(want) {
		t.Fatalf("unapplied %q, want %d entries", unapplied, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(unapplied[i], w) {
			t.Errorf("unapplied[%d] = %q, want it to begin %q", i, unapplied[i], w)
		}
	}

	if _, _, err := Adapt(mixed, 4); err == nil || !strings.Contains(err.Error(), "replicasets of 3") {
		t.Errorf("4 instances in replicasets of 3: got %v", err)
	}
	// Names the smaller cluster lacks are refused before anything starts.
	rk, err := library.Load("rolling-kill")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Adapt(rk, 3); err == nil || !strings.Contains(err.Error(), `no instance "n4"`) {
		t.Errorf("rolling-kill on 3 instances: got %v, want n4 named", err)
	}
	targeted := parse(t, "name: targeted\ncluster: {instances: 5}\nworkload: {kind: kv, target: n5}\n")
	if _, _, err := Adapt(targeted, 3); err == nil || !strings.Contains(err.Error(), "targets n5") {
		t.Errorf("a workload aimed at n5 on 3 instances: got %v", err)
	}
	// A kafka workload and broker faults need the simulated broker.
	kr, err := library.Load("kafka-rebalance-partition")
	if err != nil {
		t.Fatal(err)
	}
	s, unapplied, err = Adapt(kr, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Workloads) != 0 || !slices.ContainsFunc(unapplied, func(u string) bool {
		return strings.HasPrefix(u, "workload 1 (kafka): not run")
	}) {
		t.Errorf("kafka-rebalance-partition: workloads %+v, unapplied %q: want the kafka workload left out and named", s.Workloads, unapplied)
	}
	if _, _, err := Adapt(mixed, MaxNodes+1); err == nil {
		t.Errorf("%d instances: no error", MaxNodes+1)
	}
}

// TestMerge checks that the harness's records and the instances' trace
// files come out as one trace in time order, counted from the origin.
func TestMerge(t *testing.T) {
	dir := t.TempDir()
	origin := time.Unix(1000, 0)
	o := origin.UnixNano()
	n1 := filepath.Join(dir, "n1.jsonl")
	n2 := filepath.Join(dir, "n2.jsonl")
	var b []byte
	b = env.AppendLine(b, o-50, "n1", "raft.state", []env.Field{env.Str("group", "rs1"), env.Int("term", 1)})
	b = env.AppendLine(b, o+20, "n1", "raft.apply", []env.Field{env.Str("group", "rs1"), env.Int("index", 3)})
	if err := os.WriteFile(n1, b, 0o644); err != nil {
		t.Fatal(err)
	}
	b = env.AppendLine(nil, o+10, "n2", "raft.ack", []env.Field{env.Str("group", "rs1"), env.Int("index", 3)})
	if err := os.WriteFile(n2, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := &recorder{origin: origin}
	r.recs = append(r.recs, env.Record{Time: o - 100, Node: env.WorldNode, Kind: "world.start"},
		env.Record{Time: o + 15, Node: "c1", Kind: "client.invoke", Fields: []env.Field{env.Int("process", 0)}})
	trace, err := r.merge([]string{n1, n2, filepath.Join(dir, "missing.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := env.ReadTrace(bytes.NewReader(trace))
	if err != nil {
		t.Fatalf("the merged trace does not read back: %v\n%s", err, trace)
	}
	var got []string
	for _, rec := range recs {
		got = append(got, string(rec.Node)+" "+rec.Kind+" "+time.Duration(rec.Time).String())
	}
	want := []string{"world world.start 0s", "n1 raft.state 0s", "n2 raft.ack 10ns", "c1 client.invoke 15ns", "n1 raft.apply 20ns"}
	if !slices.Equal(got, want) {
		t.Errorf("merged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A line that does not parse is an error that names it.
	if err := os.WriteFile(n2, append(b, "{\"time\":\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.merge([]string{n1, n2}); err == nil || !strings.Contains(err.Error(), n2+":2:") {
		t.Errorf("a damaged line: got %v, want an error naming %s:2", err, n2)
	}
}

// TestWorldRunsCallbacksInTimeOrder checks the scheduler the nemesis
// runs on: callbacks in (time, scheduling) order, one at a time.
func TestWorldRunsCallbacksInTimeOrder(t *testing.T) {
	w := newWorld(time.Now(), 1, &recorder{}, nil, nil)
	var (
		mu  sync.Mutex
		got []string
	)
	done := make(chan struct{})
	add := func(s string) func() {
		return func() {
			mu.Lock()
			got = append(got, s)
			mu.Unlock()
		}
	}
	w.At(30*time.Millisecond, add("c"))
	w.At(10*time.Millisecond, add("a"))
	w.At(10*time.Millisecond, add("b"))
	w.At(40*time.Millisecond, func() {
		w.After(5*time.Millisecond, func() { add("e")(); close(done) })
		add("d")()
	})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the callbacks did not run within 10s")
	}
	w.Close()
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("ran %v, want a b c d e", got)
	}
}

// TestUnsupportedFaultsAreTraced checks that a clock or disk fault on
// real processes is traced as taking no effect, with the reason, and that
// its stop undoes nothing.
func TestUnsupportedFaultsAreTraced(t *testing.T) {
	rec := &recorder{}
	w := newWorld(time.Now(), 1, rec, nil, nil)
	defer w.Close()
	off := time.Second
	steps := []nemesis.Step{
		{At: 0, For: time.Millisecond, Fault: &nemesis.Fault{Kind: nemesis.Clock, Target: "n1", Offset: &off}},
		{At: time.Millisecond, For: time.Millisecond, Fault: &nemesis.Fault{Kind: nemesis.Disk, Target: "n1", Errors: []string{nemesis.DiskSync}, Probability: 1}},
	}
	stopped := make(chan struct{})
	if _, err := nemesis.Schedule(w, fixedCluster{}, steps, nemesis.Config{DiskDir: "wal", End: time.Second}); err != nil {
		t.Fatal(err)
	}
	w.At(50*time.Millisecond, func() { close(stopped) })
	<-stopped
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var starts, stops int
	for _, r := range rec.recs {
		switch r.Kind {
		case "nemesis.start":
			starts++
			effect, _ := r.Bool("effect")
			why, _ := r.Str("why")
			if effect || !strings.Contains(why, "cannot") {
				t.Errorf("%s: effect %t, why %q; want no effect and the reason", r.Kind, effect, why)
			}
		case "nemesis.stop":
			stops++
		}
	}
	if starts != 2 || stops != 2 {
		t.Errorf("%d starts and %d stops traced, want 2 of each", starts, stops)
	}
}

// fixedCluster is one instance, n1, in rs1.
type fixedCluster struct{}

func (fixedCluster) Instances() []env.NodeID          { return []env.NodeID{"n1"} }
func (fixedCluster) Replicasets() []string            { return []string{"rs1"} }
func (fixedCluster) Members(string) []env.NodeID      { return []env.NodeID{"n1"} }
func (fixedCluster) Voters() []env.NodeID             { return []env.NodeID{"n1"} }
func (fixedCluster) Leader(string) (env.NodeID, bool) { return "n1", true }
