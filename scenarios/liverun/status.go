package liverun

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// statusTimeout bounds one GET /v1/cluster: a paused or partitioned
// instance must not hold up a fault that asks who leads.
const statusTimeout = 300 * time.Millisecond

// topology is the cluster a scenario describes: instances n1..nN in
// replicasets rs1..rsK. It answers the nemesis's questions before any
// instance runs, so that a schedule is checked before processes start.
type topology struct {
	instances   []env.NodeID
	replicasets []string
}

func newTopology(s *scenario.Scenario) topology {
	var t topology
	for i := range s.Cluster.Instances {
		t.instances = append(t.instances, env.NodeID(fmt.Sprintf("n%d", i+1)))
	}
	for k := range s.Cluster.Instances / s.Cluster.ReplicationFactor {
		t.replicasets = append(t.replicasets, fmt.Sprintf("rs%d", k+1))
	}
	return t
}

func (t topology) Instances() []env.NodeID          { return t.instances }
func (t topology) Replicasets() []string            { return t.replicasets }
func (t topology) Members(string) []env.NodeID      { return t.instances }
func (t topology) Voters() []env.NodeID             { return t.instances }
func (t topology) Leader(string) (env.NodeID, bool) { return "", false }

// cluster is what the nemesis and the clients know of the real cluster,
// asked of its instances' APIs (GET /v1/cluster). It implements
// nemesis.Cluster.
type cluster struct {
	topology
	procs []*process
	http  *http.Client

	mu sync.Mutex
	// last is the answer that listed the most instances: who is in which
	// replicaset, and group 0's voters.
	last *live.ClusterStatus
	// leaders is the leader of each group as the latest ask found it;
	// gen numbers the asks, so that a slow one never overwrites a newer.
	leaders      map[string]env.NodeID
	gen, applied uint64
}

// newCluster asks procs for their status; every request carries token,
// if set.
func newCluster(t topology, procs []*process, token string) *cluster {
	var rt http.RoundTripper = &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}
	if token != "" {
		rt = live.BearerTransport{Base: rt, Token: token}
	}
	return &cluster{topology: t, procs: procs, leaders: map[string]env.NodeID{}, http: &http.Client{Transport: rt}}
}

func (c *cluster) Members(group string) []env.NodeID {
	if group == "config" {
		return c.Instances()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []env.NodeID
	if c.last != nil {
		for _, in := range c.last.Instances {
			if in.Replicaset == group {
				out = append(out, env.NodeID(in.Name))
			}
		}
	}
	if len(out) == 0 {
		// Before any instance has answered, every instance is taken for
		// a member: the cluster forms with one replicaset of them all
		// unless the scenario says otherwise, and then the answer comes.
		return c.Instances()
	}
	slices.Sort(out)
	return out
}

func (c *cluster) Voters() []env.NodeID {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil || len(c.last.Voters) == 0 {
		return c.Instances()
	}
	out := make([]env.NodeID, len(c.last.Voters))
	for i, v := range c.last.Voters {
		out[i] = env.NodeID(v)
	}
	slices.Sort(out)
	return out
}

// Leader asks every running, unpaused instance now and takes the leader
// of the highest term that any instance reports leading.
func (c *cluster) Leader(group string) (env.NodeID, bool) {
	l, ok := c.refresh()[group]
	return l, ok
}

// CachedLeader is the leader of a group as the last ask found it, for
// the clients, which must not ask the cluster before each operation.
func (c *cluster) CachedLeader(group string) (env.NodeID, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.leaders[group]
	return l, ok
}

// refresh asks every running, unpaused instance for its status at once
// and returns the leader of each group it found.
func (c *cluster) refresh() map[string]env.NodeID {
	gen, statuses := c.statuses()
	type lead struct {
		node env.NodeID
		term uint64
	}
	best := map[string]lead{}
	var fresh *live.ClusterStatus
	for i := range statuses {
		st := &statuses[i]
		if fresh == nil || len(st.Instances) > len(fresh.Instances) {
			fresh = st
		}
		for _, g := range st.Groups {
			if g.Role == "leader" && (best[g.Name].node == "" || g.Term > best[g.Name].term) {
				best[g.Name] = lead{env.NodeID(st.Node), g.Term}
			}
		}
	}
	leaders := map[string]env.NodeID{}
	for g, l := range best {
		leaders[g] = l.node
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fresh != nil && (c.last == nil || len(fresh.Instances) >= len(c.last.Instances)) {
		c.last = fresh
	}
	if gen > c.applied {
		c.applied = gen
		c.leaders = leaders
	}
	return leaders
}

// statuses asks every running, unpaused instance for its status at once
// and returns the answers that came, numbered by the ask.
func (c *cluster) statuses() (gen uint64, out []live.ClusterStatus) {
	c.mu.Lock()
	c.gen++
	gen = c.gen
	c.mu.Unlock()
	type answer struct {
		st  live.ClusterStatus
		err error
	}
	answers := make([]answer, len(c.procs))
	var wg sync.WaitGroup
	for i, p := range c.procs {
		if !p.up() || p.isPaused() {
			answers[i].err = fmt.Errorf("%s is down or paused", p.name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i].st, answers[i].err = c.status(p.http)
		}()
	}
	wg.Wait()
	for _, a := range answers {
		if a.err == nil {
			out = append(out, a.st)
		}
	}
	return gen, out
}

func (c *cluster) status(addr string) (live.ClusterStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	var st live.ClusterStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/cluster", nil)
	if err != nil {
		return st, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /v1/cluster on %s: %s", addr, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// ready reports whether every instance answers ready (GET /readyz).
func (c *cluster) ready() error {
	for _, p := range c.procs {
		ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.http+"/readyz", nil)
		resp, err := c.http.Do(req)
		if err != nil {
			cancel()
			return fmt.Errorf("%s: %w", p.name, err)
		}
		resp.Body.Close()
		cancel()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s is not ready: %s", p.name, resp.Status)
		}
	}
	return nil
}

// caughtUp reports whether every running, unpaused instance has applied
// all it has committed in each of its groups, and all replicas of a group
// that answered stand at the same index: the moment for the state
// digests, which the convergence check compares index for index.
func (c *cluster) caughtUp() bool {
	_, statuses := c.statuses()
	applied := map[string]uint64{}
	for _, st := range statuses {
		for _, g := range st.Groups {
			if g.Applied != g.Commit {
				return false
			}
			if a, ok := applied[g.Name]; ok && a != g.Applied {
				return false
			}
			applied[g.Name] = g.Applied
		}
	}
	return len(statuses) > 0
}
