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
)

// statusTimeout bounds one GET /v1/cluster: a paused or partitioned
// instance must not hold up a fault that asks who leads.
const statusTimeout = 300 * time.Millisecond

// cluster is what the nemesis and the clients know of the real cluster,
// asked of its instances' APIs (GET /v1/cluster). It implements
// nemesis.Cluster.
type cluster struct {
	procs       []*process
	replicasets []string
	http        *http.Client

	mu sync.Mutex
	// last is the freshest configuration any instance reported: who is
	// in which replicaset, and group 0's voters.
	last *live.ClusterStatus
	// leaders caches the leader of each group from the last ask.
	leaders map[string]env.NodeID
}

func newCluster(procs []*process, replicasets []string) *cluster {
	return &cluster{procs: procs, replicasets: replicasets, leaders: map[string]env.NodeID{},
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}}}
}

func (c *cluster) Instances() []env.NodeID {
	out := make([]env.NodeID, len(c.procs))
	for i, p := range c.procs {
		out[i] = p.name
	}
	return out
}

func (c *cluster) Replicasets() []string { return c.replicasets }

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
	c.refresh()
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.leaders[group]
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

// refresh asks every running, unpaused instance for its status at once.
func (c *cluster) refresh() {
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
	type lead struct {
		node env.NodeID
		term uint64
	}
	best := map[string]lead{}
	var fresh *live.ClusterStatus
	for i := range answers {
		a := &answers[i]
		if a.err != nil {
			continue
		}
		if fresh == nil || len(a.st.Instances) > len(fresh.Instances) {
			fresh = &a.st
		}
		for _, g := range a.st.Groups {
			if g.Role == "leader" && (best[g.Name].node == "" || g.Term > best[g.Name].term) {
				best[g.Name] = lead{env.NodeID(a.st.Node), g.Term}
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fresh != nil {
		c.last = fresh
	}
	clear(c.leaders)
	for g, l := range best {
		c.leaders[g] = l.node
	}
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
