package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/harness"
)

const raftScenario = "raft-leader-isolation"

const raftDescription = "A shoal cluster (group 0 and its replicasets' Raft groups) serves key-value clients and operator actions " +
	"while the leader of rs1 is cut off from everyone, a follower is killed and restarted, and group 0's leader is paused; " +
	"at the end a client reads every key. Every group must stay safe, and every group must make progress again once the faults are over."

// raftRun is the shape of the Raft demo.
type raftRun struct {
	Seed      uint64
	Instances int
	RF        int
	Duration  time.Duration
}

func runSimRaft(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal sim raft", flag.ContinueOnError)
	fs.SetOutput(stderr)
	r := raftRun{}
	fs.Uint64Var(&r.Seed, "seed", 1, "the run's seed")
	fs.IntVar(&r.Instances, "instances", 5, "number of instances (1 to 15)")
	fs.IntVar(&r.RF, "rf", 0, "replication factor: instances per replicaset (default: all of them)")
	fs.DurationVar(&r.Duration, "duration", 20*time.Second, "simulated duration")
	out := fs.String("out", "", "run directory to create (default runs/raft-leader-isolation-seed-N)")
	if done, code, err := parseFlags(fs, args); done {
		return code, err
	}
	if r.RF == 0 {
		r.RF = r.Instances
	}
	switch {
	case r.Instances < 1 || r.Instances > 15:
		return exitUsage, usagef("--instances %d: want 1 to 15", r.Instances)
	case r.RF < 1 || r.Instances%r.RF != 0:
		return exitUsage, usagef("--rf %d: the %d instances must be a multiple of it", r.RF, r.Instances)
	case r.Duration < 10*time.Second || r.Duration > time.Hour:
		return exitUsage, usagef("--duration %s: want 10s to 1h", r.Duration)
	}
	dir, err := runDir(*out, raftScenario, r.Seed)
	if err != nil {
		return exitUsage, err
	}
	var healed time.Duration
	return simRun{
		Scenario:    raftScenario,
		Description: raftDescription,
		Seed:        r.Seed,
		Duration:    r.Duration,
		Command:     fmt.Sprintf("shoal sim raft --seed %d --instances %d --rf %d --duration %s", r.Seed, r.Instances, r.RF, r.Duration),
		What:        fmt.Sprintf("%d instances, %d per replicaset", r.Instances, r.RF),
		Network:     uniformNetwork,
		Build: func(w *simnet.World) ([]string, error) {
			c, err := harness.Start(w, harness.Topology{Instances: r.Instances, ReplicationFactor: r.RF}, node.Config{})
			if err != nil {
				return nil, err
			}
			if err := r.load(w, c); err != nil {
				return nil, err
			}
			steps, last := r.faults(w, c)
			healed = last
			return steps, nil
		},
		Check: func(trace []env.Record) []checker.Result {
			return []checker.Result{checker.RaftSafety(trace), checker.Quorum(trace), checker.Convergence(trace),
				checker.Partitions(trace), progress(trace, healed)}
		},
	}.run(dir, stdout)
}

// load starts the demo's clients from 2s on: eight key-value clients,
// each doing ten operations a second (reads, writes and cas over 16 keys)
// through any instance, and two operator actions a second on group 0,
// each allowed six seconds.
// At 90% of the run one more client reads every key; at the very end each
// instance records its state digests.
func (r raftRun) load(w *simnet.World, c *harness.Cluster) error {
	// The clients start no operation after 85% of the run, so that the
	// final reads at 90% see a quiet store.
	if _, err := c.AddClients(8, client.Config{Delay: 2 * time.Second, Until: r.Duration * 85 / 100},
		func(i int) client.Workload {
			return &client.Mix{ID: fmt.Sprint("c", i+1), Keys: demoKeys, Read: 2, Write: 2, CAS: 1}
		}); err != nil {
		return err
	}
	seq := 0
	var op func()
	op = func() {
		seq++
		c.Propose(c.Names[seq%len(c.Names)], "config", fmt.Sprintf("op-%d", seq), cluster.SetSetting("demo.counter", fmt.Sprint(seq)).Encode(), 6*time.Second)
		w.After(500*time.Millisecond, op)
	}
	w.At(2*time.Second, op)
	keys := make([]string, demoKeys)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	w.At(r.Duration*9/10, func() { c.FinalRead(keys) })
	w.At(r.Duration*99/100, c.RecordDigests)
	return nil
}

const demoKeys = 16

// faults schedules the demo's faults, scaled to its duration, and returns
// their descriptions and when the last one ends. The targets (which
// instance leads rs1 at that moment) are decided as the run goes, the
// same way in every run of the seed.
func (r raftRun) faults(w *simnet.World, c *harness.Cluster) ([]string, time.Duration) {
	at := func(pct int) time.Duration { return r.Duration * time.Duration(pct) / 100 }
	w.At(at(25), func() {
		if l, ok := c.Leader("rs1"); ok {
			w.Partition([]env.NodeID{l})
		}
	})
	w.At(at(45), w.Heal)
	var victim env.NodeID
	w.At(at(55), func() {
		l, _ := c.Leader("rs1")
		for _, n := range c.Names {
			if st, ok := c.Status(n, "rs1"); ok && n != l && st.Role == "follower" {
				victim = n
			}
		}
		if victim != "" {
			w.Kill(victim)
		}
	})
	w.At(at(65), func() {
		if victim != "" {
			w.Restart(victim)
		}
	})
	var paused env.NodeID
	w.At(at(72), func() {
		if l, ok := c.Leader("config"); ok {
			paused = l
			w.Pause(l)
		}
	})
	w.At(at(78), func() {
		if paused != "" {
			w.Resume(paused)
		}
	})
	return []string{
		fmt.Sprintf("{at: %s, fault: partition, shape: isolate-leader, group: rs1, for: %s}", at(25), at(45)-at(25)),
		fmt.Sprintf("{at: %s, fault: kill, target: followers, group: rs1, for: %s}", at(55), at(65)-at(55)),
		fmt.Sprintf("{at: %s, fault: pause, target: leader, group: config, for: %s}", at(72), at(78)-at(72)),
	}, at(78)
}

// progress checks that every group made progress again once the last
// fault was over (after two election timeouts' grace): group 0 committed
// operator actions, and every replicaset answered clients. It also counts
// the clients' outcomes.
func progress(trace []env.Record, healed time.Duration) checker.Result {
	const grace = 2 * node.DefaultElectionTicks * node.DefaultTickInterval
	res := checker.Result{Checker: "progress"}
	after := int64(healed + grace)
	replicaset := map[env.NodeID]string{}
	actions := map[string]int{}
	served, servedAfter := map[string]int{}, map[string]int{}
	clients := map[string]int{}
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "node.bootstrap":
			replicaset[r.Node], _ = r.Str("replicaset")
		case "prop.result":
			o, _ := r.Str("outcome")
			actions[o]++
			if o == "ok" && r.Time > after {
				actions["after"]++
			}
		case "kv.response":
			if st, _ := r.Str("status"); st == "ok" || st == "mismatch" {
				rs := replicaset[r.Node]
				served[rs]++
				if r.Time > after {
					servedAfter[rs]++
				}
			}
		case "client.ok", "client.fail", "client.info":
			clients[r.Kind[len("client."):]]++
		}
	}
	parts := []string{fmt.Sprintf("config: %d actions ok, %d failed, %d timed out, %d ok after the faults",
		actions["ok"], actions["fail"], actions["timeout"], actions["after"])}
	var stuck []string
	if actions["after"] == 0 {
		stuck = append(stuck, "config")
	}
	for _, rs := range slices.Sorted(maps.Keys(served)) {
		parts = append(parts, fmt.Sprintf("%s: %d requests served, %d after the faults", rs, served[rs], servedAfter[rs]))
		if servedAfter[rs] == 0 {
			stuck = append(stuck, rs)
		}
	}
	parts = append(parts, fmt.Sprintf("clients: %d ok, %d failed, %d unknown", clients["ok"], clients["fail"], clients["info"]))
	res.Verdict = checker.Valid
	if len(stuck) > 0 {
		res.Verdict = checker.Invalid
		parts = append([]string{fmt.Sprintf("%s made no progress after the faults ended at %s", strings.Join(stuck, ", "), healed)}, parts...)
	}
	res.Explanation = strings.Join(parts, "; ")
	return res
}
