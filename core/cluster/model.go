package cluster

import (
	"fmt"
	"slices"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/model"
)

// ModelRevision is a data model the cluster accepted. Revisions count from
// 1; the last one is the model in force, and the earlier ones stay, since
// objects stored under them carry versions they declared.
type ModelRevision struct {
	Revision int    `json:"revision"`
	Source   string `json:"source"` // the model's YAML, as proposed
	Digest   string `json:"digest"` // model.Model.Digest
	// Action is the ID of the action that proposed it; empty for the
	// model a cluster was bootstrapped with.
	Action string `json:"action,omitempty"`
}

// ModelChange is a proposed model between its two phases: proposed and
// checked against the model in force (group 0's apply, identical on every
// replica), it waits for the leader of every replicaset to validate it
// with what its own binary has (the migration functions it registered);
// the last vote for commits it, and any vote against aborts it.
type ModelChange struct {
	ModelRevision
	// Votes maps a replicaset to its leader's verdict: empty for yes, else
	// why not.
	Votes map[string]string `json:"votes,omitempty"`
}

// ModelAbort is the last model change that was voted down.
type ModelAbort struct {
	Revision int    `json:"revision"`
	Action   string `json:"action"`
	Reason   string `json:"reason"`
}

// ProposeModel proposes source as the next model. Applied, it only starts
// the change (Config.ModelChange); the change is decided by VoteModel.
func ProposeModel(source []byte) Command { return Command{Op: "model.propose", Value: string(source)} }

// VoteModel is replicaset rs's verdict on the pending change ch: an
// empty reason for yes. voter is the leader that validated it. The vote
// names the change by its revision and the action that proposed it: a
// change cancelled and proposed again has the same revision, and a vote
// for the first must not count for the second.
func VoteModel(rs string, ch *ModelChange, voter env.NodeID, reason string) Command {
	return Command{Op: "model.vote", Key: rs, Revision: ch.Revision, Change: ch.Action, Instance: voter, Value: reason}
}

// CancelModel abandons the change to revision rev while its replicasets
// vote: an operator's way out when one of them cannot (it has no leader,
// and will not for a while), since a pending change holds back every
// other. Its proposer is answered that it was voted down, by the
// operator.
func CancelModel(rev int) Command { return Command{Op: "model.cancel", Revision: rev} }

// Model is the model in force, or nil when the cluster has none.
func (c *Config) Model() *ModelRevision {
	if len(c.Models) == 0 {
		return nil
	}
	return &c.Models[len(c.Models)-1]
}

// parseProposed parses a model as group 0 does, identically everywhere:
// a migration function unknown to this binary is no reason to refuse it
// (another instance's binary may have it), which is what the votes are
// for.
func parseProposed(source string) (*model.Model, error) {
	return model.ParseWith("model.yaml", []byte(source), model.Options{AllowUnknownFuncs: true})
}

// proposeModel starts a model change (Command "model.propose").
func (c *Config) proposeModel(id, source string) error {
	if c.ModelChange != nil {
		return fmt.Errorf("model: revision %d is still being validated", c.ModelChange.Revision)
	}
	next, err := parseProposed(source)
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	rev := 1
	if cur := c.Model(); cur != nil {
		if cur.Digest == next.Digest() {
			return fmt.Errorf("model: unchanged: revision %d is this model", cur.Revision)
		}
		prev, err := parseProposed(cur.Source)
		if err != nil {
			return fmt.Errorf("model: revision %d no longer parses: %w", cur.Revision, err)
		}
		if err := prev.CheckSuccessor(next); err != nil {
			return fmt.Errorf("model: not a successor of revision %d: %w", cur.Revision, err)
		}
		rev = cur.Revision + 1
	}
	c.ModelChange = &ModelChange{ModelRevision: ModelRevision{Revision: rev, Source: source, Digest: next.Digest(), Action: id}}
	return nil
}

// voteModel records a replicaset's verdict, and decides the change once
// every replicaset said yes or one said no.
func (c *Config) voteModel(rs string, rev int, change, reason string) error {
	ch := c.ModelChange
	if ch == nil || ch.Revision != rev || ch.Action != change {
		return fmt.Errorf("model: no change to revision %d proposed by %q is pending", rev, change)
	}
	if _, ok := c.Replicaset(rs); !ok {
		return fmt.Errorf("model: no replicaset named %q", rs)
	}
	if reason != "" {
		c.ModelAbort = &ModelAbort{Revision: rev, Action: ch.Action, Reason: fmt.Sprintf("%s: %s", rs, reason)}
		c.ModelChange = nil
		return nil
	}
	if ch.Votes == nil {
		ch.Votes = map[string]string{}
	}
	ch.Votes[rs] = ""
	for _, r := range c.Replicasets {
		if _, ok := ch.Votes[r.Name]; !ok {
			return nil
		}
	}
	c.Models = append(c.Models, ch.ModelRevision)
	c.ModelChange = nil
	return nil
}

// cancelModel abandons a pending change (Command "model.cancel").
func (c *Config) cancelModel(rev int) error {
	ch := c.ModelChange
	if ch == nil || ch.Revision != rev {
		return fmt.Errorf("model: no change to revision %d is pending", rev)
	}
	c.ModelAbort = &ModelAbort{Revision: rev, Action: ch.Action, Reason: "cancelled by an operator"}
	c.ModelChange = nil
	return nil
}

// ModelDecision says what became of the model change proposed by action
// id: accepted (with its revision), rejected (with the reason), or not
// decided yet.
func (c *Config) ModelDecision(id string) (rev int, reason string, decided bool) {
	if id == "" {
		return 0, "", false
	}
	for _, m := range slices.Backward(c.Models) {
		if m.Action == id {
			return m.Revision, "", true
		}
	}
	if a := c.ModelAbort; a != nil && a.Action == id {
		return a.Revision, a.Reason, true
	}
	return 0, "", false
}
