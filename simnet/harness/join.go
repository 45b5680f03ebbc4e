package harness

import (
	"fmt"
	"slices"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
)

// Source is the node field of the harness's own trace records.
const Source env.NodeID = "harness"

// AdmissionPoll is how often a joining instance's process looks whether
// its join was applied: the stand-in for a member's answer, which
// production's joiner waits for (core/live, "Joining").
const AdmissionPoll = 50 * time.Millisecond

// joining is what a joined instance learnt once admitted: its Raft ID
// and its peers, from a member's configuration; nil info before.
type joining struct {
	info *node.JoinInfo
}

// admitted is posted to a joining instance's process once its join has
// applied: it starts the engine.
type admitted struct{}

func (admitted) Kind() string { return "harness.admitted" }

// Join adds an instance to the formed cluster now, as `shoal serve
// --join` does: it proposes the join (cluster.Join) on via, and starts
// the new instance's process, which waits to be admitted. Once an
// instance has applied the join (via first, else any other, looked at
// every AdmissionPoll), the process learns its Raft ID and its peers
// from that instance's configuration and starts the engine, empty; the
// group leaders then add it. A join that never applies leaves the
// process waiting: it runs, answers nothing and records nothing. The
// proposal's outcome is in the trace as prop.result with ID
// "join-NAME", the admission as join.admitted (node harness: instance,
// raft_id, and from, the instance whose configuration admitted it).
func (c *Cluster) Join(name, via env.NodeID, d cluster.Domain, timeout time.Duration) error {
	if slices.Contains(c.Names, name) {
		return fmt.Errorf("harness: %s is already an instance of the cluster", name)
	}
	if c.joins == nil {
		c.joins = map[env.NodeID]*joining{}
	}
	c.Propose(via, "config", "join-"+string(name), cluster.Join(name, d).Encode(), timeout)
	c.joins[name] = &joining{}
	if err := c.World.AddNode(name, c.startJoiner(name)); err != nil {
		return err
	}
	c.Names = append(c.Names, name)
	c.awaitAdmission(name, via)
	return nil
}

// awaitAdmission looks every AdmissionPoll whether an instance (via
// first) has applied name's join, and admits it then.
func (c *Cluster) awaitAdmission(name, via env.NodeID) {
	var look func()
	look = func() {
		order := append([]env.NodeID{via}, c.Names...)
		for _, at := range order {
			n := c.Node(at)
			if at == name || n == nil {
				continue
			}
			conf := n.Configuration()
			self, ok := conf.Instance(name)
			if !ok {
				continue
			}
			info := &node.JoinInfo{RaftID: self.RaftID}
			for _, in := range conf.Instances {
				info.Peers = append(info.Peers, cluster.Instance{Name: in.Name, RaftID: in.RaftID})
			}
			c.joins[name].info = info
			c.World.Note(Source, "join.admitted", env.Str("instance", string(name)), env.Uint("raft_id", info.RaftID), env.Str("from", string(at)))
			if c.World.Up(name) {
				c.World.Post(name, admitted{})
			}
			return
		}
		c.World.After(AdmissionPoll, look)
	}
	c.World.After(AdmissionPoll, look)
}

// startJoiner starts a joining instance's process: the engine at once if
// the instance was admitted (a restart), else a process waiting for its
// admission.
func (c *Cluster) startJoiner(name env.NodeID) env.Start {
	return func(e env.Env) (env.Node, error) {
		delete(c.live, name)
		j := &joiner{c: c, e: e, name: name}
		if c.joins[name].info != nil {
			if err := j.start(); err != nil {
				return nil, err
			}
		}
		return j, nil
	}
}

// joiner is a joining instance's process: it drops what reaches it until
// it is admitted, then runs the engine and hands it everything.
type joiner struct {
	c    *Cluster
	e    env.Env
	name env.NodeID
	n    *node.Node
}

func (j *joiner) start() error {
	cfg := j.c.cfg
	cfg.Join = j.c.joins[j.name].info
	n, err := node.Start(cfg)(j.e)
	if err != nil {
		return err
	}
	j.n = n.(*node.Node)
	j.c.live[j.name] = j.n
	return nil
}

// Receive hands a message to the engine; before it runs, the message is
// lost, as one sent to a process not listening yet.
func (j *joiner) Receive(from env.NodeID, m env.Message) {
	if j.n != nil {
		j.n.Receive(from, m)
	}
}

// Handle starts the engine on admission and hands it every other event.
func (j *joiner) Handle(ev env.Event) {
	if _, ok := ev.(admitted); ok {
		if j.n == nil {
			if err := j.start(); err != nil {
				panic(env.Fatal{Err: fmt.Errorf("harness: starting %s's engine on admission: %w", j.name, err)})
			}
		}
		return
	}
	if j.n != nil {
		j.n.Handle(ev)
	}
}

// Stop stops the engine, if it runs.
func (j *joiner) Stop() {
	if j.n != nil {
		j.n.Stop()
	}
}

// Current is the configuration as group 0's leader has applied it (the
// bootstrap configuration while no instance leads group 0): the
// replicasets' members and the voters the nemesis hits.
func (c *Cluster) Current() *cluster.Config {
	if l, ok := c.Leader("config"); ok {
		if n := c.Node(l); n != nil {
			return n.Configuration()
		}
	}
	return c.Bootstrap()
}

// Serving lists the instances that run an engine and that the
// configuration group 0's leader has applied (Current) does not call
// expelled: those the final readers ask.
func (c *Cluster) Serving() []env.NodeID {
	conf := c.Current()
	var out []env.NodeID
	for _, name := range c.Names {
		if j := c.joins[name]; j != nil && j.info == nil {
			continue
		}
		if in, ok := conf.Instance(name); ok && in.State == cluster.Expelled {
			continue
		}
		out = append(out, name)
	}
	return out
}
