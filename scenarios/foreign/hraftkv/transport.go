package hraftkv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/scenarios/foreign"
)

// transport is one incarnation of a node's raft.Transport over the
// harness's Net: each RPC is a call there, request and answer each
// crossing their link, so the nemesis's cuts, losses and delays reach
// every message between nodes, and the trace records it. A node's
// address is its name. It copies what it sends, so that no two nodes
// share a log entry, as over a real connection.
//
// It does not pipeline AppendEntries (hashicorp then replicates one
// request at a time per follower), and heartbeats take the consumer
// channel like any RPC. Close ends every call in flight at once, so
// that a killed node's goroutines stop without waiting for a timeout.
type transport struct {
	id       env.NodeID
	net      *foreign.Net
	note     func(kind string, fields ...env.Field)
	consumer chan raft.RPC
	closed   chan struct{}
	once     sync.Once
}

func newTransport(id env.NodeID, net *foreign.Net, note func(string, ...env.Field)) *transport {
	return &transport{id: id, net: net, note: note, consumer: make(chan raft.RPC), closed: make(chan struct{})}
}

var errClosed = errors.New("hraftkv: the transport is closed")

// The kinds of the messages, for the trace: hashicorp's type names.
const (
	msgAppend        = "AppendEntriesRequest"
	msgAppendResp    = "AppendEntriesResponse"
	msgVote          = "RequestVoteRequest"
	msgVoteResp      = "RequestVoteResponse"
	msgPreVote       = "RequestPreVoteRequest"
	msgPreVoteResp   = "RequestPreVoteResponse"
	msgTimeoutNow    = "TimeoutNowRequest"
	msgTimeoutResp   = "TimeoutNowResponse"
	msgSnapshot      = "InstallSnapshotRequest"
	msgSnapshotResp  = "InstallSnapshotResponse"
	msgRefusedSuffix = ".refused"
)

// snapshotMsg is an InstallSnapshot request with its data, read whole.
type snapshotMsg struct {
	req  *raft.InstallSnapshotRequest
	data []byte
}

// handle receives a message from the Net and hands it to raft through
// the consumer channel, as the RPC raft expects, and waits for raft's
// answer, at most rpcTimeout.
func (t *transport) handle(from env.NodeID, msg string, body any) (any, string, error) {
	rpc := raft.RPC{Command: body}
	reply := msg + msgRefusedSuffix
	switch msg {
	case msgAppend:
		reply = msgAppendResp
	case msgVote:
		reply = msgVoteResp
	case msgPreVote:
		reply = msgPreVoteResp
	case msgTimeoutNow:
		reply = msgTimeoutResp
	case msgSnapshot:
		s := body.(*snapshotMsg)
		rpc.Command, rpc.Reader, reply = s.req, bytes.NewReader(s.data), msgSnapshotResp
	default:
		return nil, reply, fmt.Errorf("hraftkv: %s got a message of kind %q from %s", t.id, msg, from)
	}
	answer := make(chan raft.RPCResponse, 1)
	rpc.RespChan = answer
	timer := time.NewTimer(rpcTimeout)
	defer timer.Stop()
	select {
	case t.consumer <- rpc:
	case <-timer.C:
		return nil, reply, fmt.Errorf("hraftkv: %s did not take the %s within %s", t.id, msg, rpcTimeout)
	case <-t.closed:
		return nil, reply, errClosed
	}
	select {
	case r := <-answer:
		return r.Response, reply, r.Error
	case <-timer.C:
		return nil, reply, fmt.Errorf("hraftkv: %s did not answer the %s within %s", t.id, msg, rpcTimeout)
	case <-t.closed:
		return nil, reply, errClosed
	}
}

// call sends one request and returns raft's answer from the target.
func (t *transport) call(target raft.ServerAddress, msg string, body any) (any, error) {
	reply, err := t.net.Call(t.id, env.NodeID(target), msg, body, rpcTimeout, t.closed)
	if err != nil {
		return nil, err
	}
	if reply == nil {
		return nil, fmt.Errorf("hraftkv: %s answered the %s with nothing", target, msg)
	}
	return reply, nil
}

func (t *transport) Consumer() <-chan raft.RPC { return t.consumer }

func (t *transport) LocalAddr() raft.ServerAddress { return raft.ServerAddress(t.id) }

// AppendEntriesPipeline is not supported: raft then sends one
// AppendEntries at a time per follower.
func (t *transport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

// AppendEntries sends a copy of args, and on the leader traces the
// acknowledgement of the entries it carried (raft.ack), before raft
// counts it towards a commit.
func (t *transport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	c := *args
	c.Entries = make([]*raft.Log, len(args.Entries))
	for i, l := range args.Entries {
		e := *l
		e.Data, e.Extensions = slices.Clone(l.Data), slices.Clone(l.Extensions)
		c.Entries[i] = &e
	}
	reply, err := t.call(target, msgAppend, &c)
	if err != nil {
		return err
	}
	*resp = *reply.(*raft.AppendEntriesResponse)
	if resp.Success && len(args.Entries) > 0 {
		last := args.Entries[len(args.Entries)-1]
		t.note("raft.ack", env.Str("group", Group), env.Str("from", string(id)), env.Int("term", int64(args.Term)), env.Int("index", int64(last.Index)))
	}
	return nil
}

func (t *transport) RequestVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	c := *args
	reply, err := t.call(target, msgVote, &c)
	if err != nil {
		return err
	}
	*resp = *reply.(*raft.RequestVoteResponse)
	return nil
}

func (t *transport) RequestPreVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	c := *args
	reply, err := t.call(target, msgPreVote, &c)
	if err != nil {
		return err
	}
	*resp = *reply.(*raft.RequestPreVoteResponse)
	return nil
}

func (t *transport) TimeoutNow(_ raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	c := *args
	reply, err := t.call(target, msgTimeoutNow, &c)
	if err != nil {
		return err
	}
	*resp = *reply.(*raft.TimeoutNowResponse)
	return nil
}

// InstallSnapshot reads the snapshot whole and sends it with the request
// (raft.snapshot.send), and on the leader traces the acknowledgement of
// the entries it covers when the follower installed it (raft.ack):
// raft then counts the follower as holding them.
func (t *transport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	b, err := io.ReadAll(data)
	if err != nil {
		return err
	}
	c := *args
	t.note("raft.snapshot.send", env.Str("group", Group), env.Str("to", string(id)), env.Int("index", int64(args.LastLogIndex)))
	reply, err := t.call(target, msgSnapshot, &snapshotMsg{req: &c, data: b})
	if err != nil {
		return err
	}
	*resp = *reply.(*raft.InstallSnapshotResponse)
	if resp.Success {
		t.note("raft.ack", env.Str("group", Group), env.Str("from", string(id)), env.Int("term", int64(args.Term)), env.Int("index", int64(args.LastLogIndex)))
	}
	return nil
}

func (t *transport) EncodePeer(_ raft.ServerID, addr raft.ServerAddress) []byte { return []byte(addr) }

func (t *transport) DecodePeer(b []byte) raft.ServerAddress { return raft.ServerAddress(b) }

// SetHeartbeatHandler is ignored: heartbeats take the consumer channel.
func (t *transport) SetHeartbeatHandler(func(raft.RPC)) {}

// Close ends every call in flight, and any other, at once.
func (t *transport) Close() error {
	t.once.Do(func() { close(t.closed) })
	return nil
}

var (
	_ raft.Transport   = (*transport)(nil)
	_ raft.WithPreVote = (*transport)(nil)
	_ raft.WithClose   = (*transport)(nil)
)
