package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shoaldb/shoal/core/env"
)

// Command is an operator action on the configuration: one entry of group
// 0's log.
type Command struct {
	// Op is set, offline, online, join, model.propose, model.vote,
	// model.cancel, pipeline.set, token.create, token.revoke, role.set or
	// role.delete.
	Op string `json:"op"`
	// Key is a setting's name (set), or the token or role to remove
	// (token.revoke, role.delete).
	Key      string     `json:"key,omitempty"`
	Value    string     `json:"value,omitempty"`
	Instance env.NodeID `json:"instance,omitempty"`
	Domain   Domain     `json:"domain,omitempty"`   // join
	Revision int        `json:"revision,omitempty"` // model.vote, model.cancel
	Change   string     `json:"change,omitempty"`   // model.vote: the action that proposed the change
	Token    *Token     `json:"token,omitempty"`    // token.create
	// Bootstrap, on token.create: made without a token, so taken only
	// while the cluster has none.
	Bootstrap bool  `json:"bootstrap,omitempty"`
	Role      *Role `json:"role,omitempty"` // role.set
}

// SetSetting sets an operator setting.
func SetSetting(key, value string) Command { return Command{Op: "set", Key: key, Value: value} }

// MarkOffline marks an instance offline.
func MarkOffline(name env.NodeID) Command { return Command{Op: "offline", Instance: name} }

// MarkOnline marks an instance online.
func MarkOnline(name env.NodeID) Command { return Command{Op: "online", Instance: name} }

// Join adds an instance to a formed cluster (Config.Apply says where).
func Join(name env.NodeID, d Domain) Command { return Command{Op: "join", Instance: name, Domain: d} }

// Encode is the command's encoding in group 0's log.
func (cmd Command) Encode() []byte {
	b, err := json.Marshal(cmd)
	if err != nil {
		panic(fmt.Sprintf("cluster: encoding a command: %v", err))
	}
	return b
}

// DecodeCommand reads a command written by Encode.
func DecodeCommand(b []byte) (Command, error) {
	var cmd Command
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cmd); err != nil {
		return Command{}, fmt.Errorf("cluster: decoding a command: %w", err)
	}
	return cmd, nil
}

// ApplyAction applies the committed action id, once: an ID among the
// recent actions is not applied again, and answers as it did the first
// time.
func (c *Config) ApplyAction(id string, cmd Command) error {
	for _, a := range c.Recent {
		if a.ID == id {
			if a.Error != "" {
				return errors.New(a.Error)
			}
			return nil
		}
	}
	var err error
	if cmd.Op == "model.propose" {
		err = c.proposeModel(id, cmd.Value)
	} else {
		err = c.Apply(cmd)
	}
	a := Applied{ID: id}
	if err != nil {
		a.Error = err.Error()
	}
	if len(c.Recent) >= RecentActions {
		c.Recent = c.Recent[1:]
	}
	c.Recent = append(c.Recent, a)
	return err
}

// Apply applies a committed command. A command that cannot apply (an
// unknown instance, an empty key) changes nothing and returns the reason:
// the action is rejected, definitely and on every replica alike.
func (c *Config) Apply(cmd Command) error {
	switch cmd.Op {
	case "set":
		if cmd.Key == "" {
			return fmt.Errorf("set: the setting has no name")
		}
		if err := checkSetting(cmd.Key, cmd.Value); err != nil {
			return err
		}
		c.Settings[cmd.Key] = cmd.Value
		return nil
	case "pipeline.set":
		return c.setPipeline(cmd.Value)
	case "token.create":
		return c.createToken(cmd.Token, cmd.Bootstrap)
	case "token.revoke":
		return c.revokeToken(cmd.Key)
	case "role.set":
		return c.setRole(cmd.Role)
	case "role.delete":
		return c.deleteRole(cmd.Key)
	case "join":
		return c.join(cmd.Instance, cmd.Domain)
	case "model.propose":
		return c.proposeModel("", cmd.Value)
	case "model.vote":
		return c.voteModel(cmd.Key, cmd.Revision, cmd.Change, cmd.Value)
	case "model.cancel":
		return c.cancelModel(cmd.Revision)
	case "offline", "online":
		inst := c.byName(cmd.Instance)
		if inst == nil {
			return fmt.Errorf("%s: no instance named %q", cmd.Op, cmd.Instance)
		}
		inst.State = State(cmd.Op)
		return nil
	}
	return fmt.Errorf("unknown operation %q", cmd.Op)
}

// join adds an instance with the next Raft ID, online, as a learner of
// group 0 and a member of the replicaset with the fewest members (the
// first of those), kept apart from its members' failure domains where
// that is a choice. Buckets do not move: the instance adds a replica.
func (c *Config) join(name env.NodeID, d Domain) error {
	if name == "" {
		return fmt.Errorf("join: the instance has no name")
	}
	if c.byName(name) != nil {
		return fmt.Errorf("join: %s is already an instance of the cluster", name)
	}
	if len(c.Replicasets) == 0 {
		return fmt.Errorf("join: the cluster has no replicaset")
	}
	var id uint64
	for _, in := range c.Instances {
		id = max(id, in.RaftID)
	}
	best := 0
	for r := range c.Replicasets {
		a, b := &c.Replicasets[r], &c.Replicasets[best]
		if len(a.Members) < len(b.Members) || len(a.Members) == len(b.Members) && c.conflicts(d, a.Members) < c.conflicts(d, b.Members) {
			best = r
		}
	}
	rs := &c.Replicasets[best]
	c.Instances = append(c.Instances, Instance{Name: name, RaftID: id + 1, Domain: d, Replicaset: rs.Name, State: Online})
	rs.Members = append(rs.Members, name)
	return nil
}
