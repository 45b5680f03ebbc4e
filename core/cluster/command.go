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
	// Op is set, offline, online, join, expel, state, voters,
	// model.propose, model.vote, model.cancel, pipeline.set,
	// token.create, token.revoke, role.set, role.delete, move.start,
	// move.commit, move.abort or leftover.dropped.
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
	// Force, on expel: expel an instance that is online.
	Force bool `json:"force,omitempty"`
	// State, on state: the current state the instance reaches.
	State State `json:"state,omitempty"`
	// Voters, on voters: group 0's new voters.
	Voters []env.NodeID `json:"voters,omitempty"`
	// Move, on move.start, move.commit and leftover.dropped: the move
	// (rebalance.go); Index, on move.commit, the destination's log index
	// from which it holds the bucket.
	Move  *BucketMove `json:"move,omitempty"`
	Index uint64      `json:"index,omitempty"`
}

// SetSetting sets an operator setting.
func SetSetting(key, value string) Command { return Command{Op: "set", Key: key, Value: value} }

// MarkOffline sets an instance's target state to offline, for the reason
// given; the governor takes it there.
func MarkOffline(name env.NodeID, reason string) Command {
	return Command{Op: "offline", Instance: name, Value: reason}
}

// MarkOnline sets an instance's target state back to online.
func MarkOnline(name env.NodeID, reason string) Command {
	return Command{Op: "online", Instance: name, Value: reason}
}

// Expel sets an instance's target state to expelled; an online instance
// only with force. The governor hands its duties to others and then
// removes it from every group.
func Expel(name env.NodeID, force bool) Command {
	return Command{Op: "expel", Instance: name, Force: force}
}

// SetState is a governor's step: the instance's current state becomes its
// target.
func SetState(name env.NodeID, s State) Command {
	return Command{Op: "state", Instance: name, State: s}
}

// SetVoters is a governor's step: group 0's voters become these, which
// differ from the voters in force by one instance.
func SetVoters(voters []env.NodeID) Command { return Command{Op: "voters", Voters: voters} }

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
	switch cmd.Op {
	case "model.propose":
		err = c.proposeModel(id, cmd.Value)
	case "join":
		err = c.join(id, cmd.Instance, cmd.Domain)
	default:
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
		return c.join("", cmd.Instance, cmd.Domain)
	case "model.propose":
		return c.proposeModel("", cmd.Value)
	case "model.vote":
		return c.voteModel(cmd.Key, cmd.Revision, cmd.Change, cmd.Value)
	case "model.cancel":
		return c.cancelModel(cmd.Revision)
	case "offline", "online":
		return c.setTarget(cmd.Instance, State(cmd.Op), cmd.Value)
	case "expel":
		return c.expel(cmd.Instance, cmd.Force)
	case "state":
		return c.setState(cmd.Instance, cmd.State)
	case "voters":
		return c.setVoters(cmd.Voters)
	case "move.start":
		return c.startMove(cmd.Move)
	case "move.commit":
		return c.commitMove(cmd.Move, cmd.Index)
	case "move.abort":
		return c.abortMove(cmd.Move)
	case "leftover.dropped":
		return c.dropped(cmd.Move)
	}
	return fmt.Errorf("unknown operation %q", cmd.Op)
}
