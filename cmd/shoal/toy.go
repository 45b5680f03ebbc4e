package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/toy"
)

const toyScenario = "toy-partition"

const toyDescription = "Toy nodes count ticks, log each count to disk (syncing every 5th) and gossip. " +
	"The network splits into a minority and a majority, then heals; a node is killed and restarted " +
	"(it must recover exactly its last synced count); another is paused; a clock is stepped."

// toyRun is the shape of the toy demo.
type toyRun struct {
	Seed     uint64
	Nodes    int
	Duration time.Duration
}

// faults returns the demo's schedule, scaled to its duration: a partition
// from 10% to 35%, a kill at 45% and restart at 55%, a pause from 65% to
// 72%, and a clock step at 80%.
func (r toyRun) faults(w *simnet.World, ids []env.NodeID) []string {
	at := func(pct int) time.Duration { return r.Duration * time.Duration(pct) / 100 }
	minority := ids[:len(ids)/2]
	majority := ids[len(ids)/2:]
	victim, sleeper, skewed := ids[len(ids)-1], ids[0], ids[len(ids)/2]
	w.At(at(10), func() { w.Partition(minority, majority) })
	w.At(at(35), w.Heal)
	w.At(at(45), func() { w.Kill(victim) })
	w.At(at(55), func() { w.Restart(victim) })
	w.At(at(65), func() { w.Pause(sleeper) })
	w.At(at(72), func() { w.Resume(sleeper) })
	w.At(at(80), func() { w.SetClockOffset(skewed, 2*time.Second) })
	return []string{
		fmt.Sprintf("{at: %s, fault: partition, components: [%s, %s], for: %s}", at(10), list(minority), list(majority), at(35)-at(10)),
		fmt.Sprintf("{at: %s, fault: kill, target: %s, for: %s}", at(45), victim, at(55)-at(45)),
		fmt.Sprintf("{at: %s, fault: pause, target: %s, for: %s}", at(65), sleeper, at(72)-at(65)),
		fmt.Sprintf("{at: %s, fault: clock, target: %s, offset: 2s}", at(80), skewed),
	}
}

func runSimToy(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal sim toy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	r := toyRun{}
	fs.Uint64Var(&r.Seed, "seed", 1, "the run's seed")
	fs.IntVar(&r.Nodes, "nodes", 5, "number of toy nodes (3 to 9)")
	fs.DurationVar(&r.Duration, "duration", 10*time.Second, "simulated duration")
	out := fs.String("out", "", "run directory to create (default runs/toy-partition-seed-N)")
	if done, code, err := parseFlags(fs, args); done {
		return code, err
	}
	switch {
	case r.Nodes < 3 || r.Nodes > 9:
		return exitUsage, usagef("--nodes %d: want 3 to 9", r.Nodes)
	case r.Duration < time.Second || r.Duration > time.Hour:
		return exitUsage, usagef("--duration %s: want 1s to 1h", r.Duration)
	}
	dir, err := runDir(*out, toyScenario, r.Seed)
	if err != nil {
		return exitUsage, err
	}
	return simRun{
		Scenario:    toyScenario,
		Description: toyDescription,
		Seed:        r.Seed,
		Duration:    r.Duration,
		Command:     fmt.Sprintf("shoal sim toy --seed %d --nodes %d --duration %s", r.Seed, r.Nodes, r.Duration),
		What:        fmt.Sprintf("%d toy nodes", r.Nodes),
		Network:     uniformNetwork,
		Build: func(w *simnet.World) ([]string, error) {
			ids := nodeNames(r.Nodes)
			for _, id := range ids {
				if err := w.AddNode(id, toy.Start(toy.Config{Peers: without(ids, id), Ping: true})); err != nil {
					return nil, err
				}
			}
			return r.faults(w, ids), nil
		},
		Check: func(trace []env.Record) []checker.Result {
			return []checker.Result{checker.Partitions(trace), toyDurability(trace)}
		},
	}.run(dir, stdout)
}

// toyDurability checks the toy's promise: a node that restarts recovers
// exactly the count it last synced before it died.
func toyDurability(trace []env.Record) checker.Result {
	res := checker.Result{Checker: "toy-durability"}
	synced := map[env.NodeID]int64{}
	started := map[env.NodeID]bool{}
	var restarts []string
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "toy.sync":
			synced[r.Node], _ = r.Int("count")
		case "toy.recover":
			got, _ := r.Int("count")
			if got != synced[r.Node] {
				res.Verdict = checker.Invalid
				res.Explanation = fmt.Sprintf("%s recovered count %d at %s, but its last synced count was %d",
					r.Node, got, time.Duration(r.Time), synced[r.Node])
				return res
			}
			if started[r.Node] {
				restarts = append(restarts, fmt.Sprintf("%s recovered %d at %s", r.Node, got, time.Duration(r.Time)))
			}
			started[r.Node] = true
		}
	}
	if len(restarts) == 0 {
		res.Verdict = checker.NA
		res.Explanation = "no node restarted"
		return res
	}
	res.Verdict = checker.Valid
	res.Explanation = "every restart recovered exactly the last synced count: " + strings.Join(restarts, "; ")
	return res
}

func without(ids []env.NodeID, self env.NodeID) []env.NodeID {
	var out []env.NodeID
	for _, id := range ids {
		if id != self {
			out = append(out, id)
		}
	}
	return out
}
