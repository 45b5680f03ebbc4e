package node

import (
	"encoding/binary"
	"fmt"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Message carries one Raft message of one group between instances.
type Message struct {
	Group uint64
	Msg   pb.Message
}

// Kind names the message by its Raft type: "raft.MsgApp".
func (m *Message) Kind() string {
	if int(m.Msg.Type) < len(raftKinds) {
		return raftKinds[m.Msg.Type]
	}
	return "raft.unknown"
}

// raftKinds holds each Raft message type's kind, built once so that naming
// a message does not allocate.
var raftKinds = func() []string {
	var kinds []string
	for t := int32(0); ; t++ {
		name, ok := pb.MessageType_name[t]
		if !ok {
			return kinds
		}
		kinds = append(kinds, "raft."+name)
	}
}()

// Propose asks the node to propose Data to a group ("config" for operator
// actions, encoded with cluster.Command.Encode; a replicaset's name for
// data). The outcome is recorded in the trace as prop.result: ok once the
// entry is applied on this node, fail when it definitely was not (not a
// member, or the state machine rejected it), timeout when neither is known
// within Timeout. While no leader is known the node keeps proposing it,
// every tick, until its time runs out.
type Propose struct {
	ID      string
	Group   string
	Data    []byte
	Timeout time.Duration
}

// Kind implements env.Event.
func (*Propose) Kind() string { return "prop.submit" }

// Digest asks the node to record each group's applied index and state
// digest in the trace (sm.digest), for the convergence checker.
type Digest struct{}

// Kind implements env.Event.
func (*Digest) Kind() string { return "node.digest" }

// tick drives every group's Raft clock.
type tick struct{}

func (tick) Kind() string { return "node.tick" }

// expire ends a proposal that has not been applied in time.
type expire struct{ id string }

func (*expire) Kind() string { return "prop.expire" }

// envelope is the payload of a proposed entry: the request's ID, so that
// the node that proposed it can recognise it when it is applied, and the
// command.
func envelope(id string, data []byte) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(id)+len(data))
	b = binary.AppendUvarint(b, uint64(len(id)))
	b = append(b, id...)
	return append(b, data...)
}

func openEnvelope(b []byte) (id string, data []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n || k != len(binary.AppendUvarint(nil, n)) {
		return "", nil, fmt.Errorf("node: malformed entry payload of %d bytes", len(b))
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}
