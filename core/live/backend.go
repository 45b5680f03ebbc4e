package live

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/node"
)

// Node serves the HTTP API.
var _ Backend = (*Node)(nil)

// Cluster describes the cluster as this instance sees it: the
// configuration it applied from group 0, and its view of its groups.
func (n *Node) Cluster(ctx context.Context) (ClusterStatus, error) {
	type answer struct {
		st  ClusterStatus
		err error
	}
	ch := make(chan answer, 1)
	posted := n.post(func() {
		eng, ok := n.eng.(*node.Node)
		if !ok || eng == nil {
			ch <- answer{err: fmt.Errorf("%w: %w", ErrUnavailable, ErrNotFormed)}
			return
		}
		ch <- answer{st: clusterStatus(string(n.cfg.Name), eng)}
	})
	if !posted {
		return ClusterStatus{}, fmt.Errorf("%w: the instance is stopping", ErrUnavailable)
	}
	select {
	case a := <-ch:
		return a.st, a.err
	case <-ctx.Done():
		return ClusterStatus{}, fmt.Errorf("%w: the instance is busy: %w", ErrUnavailable, ctx.Err())
	}
}

// clusterStatus reads the engine's configuration and groups (on the loop).
func clusterStatus(self string, eng *node.Node) ClusterStatus {
	conf := eng.Configuration()
	st := ClusterStatus{Node: self, Instances: []InstanceStatus{}, Replicasets: []ReplicasetStatus{}, Voters: []string{}, Groups: []GroupStatus{}}
	for _, in := range conf.Instances {
		st.Instances = append(st.Instances, InstanceStatus{Name: string(in.Name), RaftID: in.RaftID, Replicaset: in.Replicaset,
			Domain: in.Domain, State: string(in.State), Target: string(in.Target), Reason: in.Reason})
	}
	for _, v := range conf.Voters {
		st.Voters = append(st.Voters, string(v))
	}
	leaders := map[string]string{}
	for i, g := range eng.Status() {
		group := uint64(0)
		if i > 0 {
			if rs, ok := conf.Replicaset(g.Group); ok {
				group = rs.Group
			}
		}
		leaders[g.Group] = string(g.Leader)
		st.Groups = append(st.Groups, GroupStatus{Group: group, Name: g.Group, Term: g.Term, Role: g.Role, Leader: string(g.Leader),
			Commit: g.Commit, Applied: g.Applied})
	}
	for _, rs := range conf.Replicasets {
		members := make([]string, len(rs.Members))
		for i, m := range rs.Members {
			members[i] = string(m)
		}
		st.Replicasets = append(st.Replicasets, ReplicasetStatus{Name: rs.Name, Group: rs.Group, Members: members, Complete: conf.Complete(rs), Leader: leaders[rs.Name]})
	}
	st.Name = conf.Name
	rb := rebalanceStatus(self, conf)
	st.Rebalance = &rb
	for _, l := range eng.ReplicationLags() {
		st.Replication = append(st.Replication, ReplicationStatus{Replicaset: l.Replicaset, Destination: l.Destination, Cluster: l.Cluster,
			Entries: l.Entries, OldestSeconds: l.Oldest.Seconds()})
	}
	return st
}

// Ready reports whether the instance can serve: its cluster formed, its
// engine runs, and every group it is in knows a leader.
func (n *Node) Ready() (bool, string) {
	select {
	case <-n.dead:
		return false, "the engine stopped: " + n.err.Error()
	default:
	}
	if !n.started.Load() {
		return false, ErrNotFormed.Error()
	}
	if _, ok := n.Access(); !ok {
		// Every request but /healthz and /readyz would be answered 503
		// until then (backend_access.go).
		return false, "group 0 has not caught up since the start: the tokens in force are not known yet"
	}
	return n.metrics.ready()
}

// Node serves the model and data endpoints.
var _ ModelBackend = (*Node)(nil)

// Models describes the data models in the configuration this instance
// applied from group 0.
func (n *Node) Models(ctx context.Context) (ModelStatus, error) {
	return onEngine(ctx, n, func(eng *node.Node) ModelStatus { return modelStatus(eng.Configuration()) })
}

// ProposeModel proposes source as the next data model through group 0 and
// waits for the decision: group 0 checks it against the model in force,
// then every replicaset's leader validates it with its own binary.
func (n *Node) ProposeModel(ctx context.Context, source []byte) (int, error) {
	id, outcome, why, err := n.act(ctx, "model", cluster.ProposeModel(source).Encode())
	switch {
	case err != nil:
		return 0, err
	case outcome == "ok":
		st, err := n.Models(context.WithoutCancel(ctx))
		if err != nil {
			return 0, err
		}
		for _, m := range slices.Backward(st.Revisions) {
			if m.Digest == modelDigest(source) {
				return m.Revision, nil
			}
		}
		return 0, fmt.Errorf("live: model %s was accepted but is not in the configuration", id)
	case outcome == "fail":
		return 0, fmt.Errorf("%w: %s", ErrModelRefused, why)
	}
	return 0, fmt.Errorf("%w: group 0 did not decide the model in time (it cannot without a quorum of its voters)", ErrUnknownOutcome)
}

// CancelModel abandons the pending change to revision rev
// (cluster.CancelModel).
func (n *Node) CancelModel(ctx context.Context, rev int) error {
	return n.decide(ctx, "model-cancel", cluster.CancelModel(rev), ErrModelRefused, "the cancellation")
}

// decide proposes cmd as an operator action (act) and waits for group
// 0's verdict: nil once applied; refused, wrapped with group 0's reason,
// when it would not take it; ErrUnknownOutcome when it did not decide in
// time (what names the change there).
func (n *Node) decide(ctx context.Context, prefix string, cmd cluster.Command, refused error, what string) error {
	_, outcome, why, err := n.act(ctx, prefix, cmd.Encode())
	switch {
	case err != nil:
		return err
	case outcome == "ok":
		return nil
	case outcome == "fail":
		return fmt.Errorf("%w: %s", refused, why)
	}
	return fmt.Errorf("%w: group 0 did not take %s in time (it cannot without a quorum of its voters)", ErrUnknownOutcome, what)
}

// act proposes an operator action on group 0 under a fresh ID (prefix/
// and random hex) and waits, until ctx's deadline, for its outcome: ok,
// fail (with why) or timeout. An error means it was not proposed.
func (n *Node) act(ctx context.Context, prefix string, cmd []byte) (id, outcome, why string, err error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return "", "", "", errors.New("live: an operator action needs a deadline")
	}
	var raw [8]byte
	if _, err := crand.Read(raw[:]); err != nil {
		return "", "", "", err
	}
	id = prefix + "/" + hex.EncodeToString(raw[:])
	done := n.awaitResult(id)
	defer n.forgetResult(id)
	timeout := time.Until(deadline)
	if !n.post(func() {
		if n.eng != nil {
			n.eng.Handle(&node.Propose{ID: id, Group: "config", Data: cmd, Timeout: timeout})
		}
	}) {
		return id, "", "", fmt.Errorf("%w: the instance is stopping", ErrUnavailable)
	}
	select {
	case r := <-done:
		n.refreshNow()
		return id, r[0], r[1], nil
	case <-ctx.Done():
		return id, "timeout", "", nil
	}
}

// modelDigest is the digest group 0 records for a model's source.
func modelDigest(source []byte) string {
	m, err := model.ParseWith("model.yaml", source, model.Options{AllowUnknownFuncs: true})
	if err != nil {
		return ""
	}
	return m.Digest()
}
