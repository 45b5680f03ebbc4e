package hraft

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

// Workload is a write load on a fresh cluster: Rate writes per second,
// one after another through the leader, for Duration of virtual time
// after the first election, each to one of Keys keys chosen with Seed.
// The seed reaches nothing else: hashicorp/raft takes none.
type Workload struct {
	Nodes    int
	Rate     float64
	Duration time.Duration
	Keys     int
	Seed     uint64
}

// Result is what a run did and cost.
type Result struct {
	// Virtual is the run's length in virtual time, from the cluster's
	// start to every replica holding every write; Wall is the wall time
	// the bubble took.
	Virtual, Wall time.Duration
	// Attempted writes were issued; Applied were acknowledged, applied by
	// the leader and, by the end, by every node.
	Attempted, Applied int
	// Leaders is every election won, in order.
	Leaders []LeaderChange
}

// Limits on a run's waits, in virtual time.
const (
	electionLimit = 10 * time.Second
	convergeLimit = 10 * time.Second
	applyTimeout  = time.Second
)

// Run runs w on a new cluster inside a synctest bubble and returns what
// it did; a run that elects no leader, or whose replicas do not converge,
// fails t. Only the wall time is measured outside the bubble, and only
// for the Result.
func Run(t *testing.T, w Workload) Result {
	t.Helper()
	var res Result
	started := time.Now()
	synctest.Test(t, func(t *testing.T) {
		var err error
		if res, err = run(w); err != nil {
			t.Fatalf("seed %d: %v", w.Seed, err)
		}
	})
	res.Wall = time.Since(started)
	return res
}

// run is Run inside the bubble, where time is virtual.
func run(w Workload) (res Result, err error) {
	if w.Rate <= 0 || w.Keys < 1 {
		return res, fmt.Errorf("a workload needs a positive rate and keys, not %g/s on %d keys", w.Rate, w.Keys)
	}
	c, err := NewCluster(w.Nodes)
	if err != nil {
		return res, err
	}
	defer c.Shutdown()
	if _, err := c.WaitLeader(electionLimit); err != nil {
		return res, err
	}
	rng := rand.New(rand.NewPCG(w.Seed, 0))
	interval := time.Duration(float64(time.Second) / w.Rate)
	begin := time.Now()
	for next := begin; next.Before(begin.Add(w.Duration)); next = next.Add(interval) {
		time.Sleep(time.Until(next))
		res.Attempted++
		key := "k" + strconv.Itoa(rng.IntN(w.Keys))
		if c.Put(key, strconv.Itoa(res.Attempted), applyTimeout) == nil {
			res.Applied++
		}
	}
	if err := c.WaitConverged(res.Applied, convergeLimit); err != nil {
		return res, err
	}
	res.Virtual = time.Since(c.start)
	res.Leaders = c.LeaderHistory()
	return res, nil
}
