package live

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/node"
)

// codecCases are messages of every type with edge values; the round-trip
// test and the fuzzer's seeds use them.
func codecCases() []struct {
	name string
	m    env.Message
} {
	const max = math.MaxUint64
	// A page of a bucket of 16: a plain key, objects with a record, kept
	// versions and a tombstone, and the clients' answers.
	key := "user:1"
	bucket := kv.Bucket(key, 16)
	const at = 1_700_000_000_000_000_000
	full := &kv.Import{Move: 7, Bucket: bucket, Buckets: 16, Items: []kv.Item{
		{Key: key, Value: kv.Some("v")},
		{Object: &kv.ObjectState{Type: "user", PK: "u1",
			Record: &kv.ObjectRecord{Type: "user", PK: "u1", Version: 2, Revision: 30, Value: []byte(`{"id":"u1","n":3}`),
				Indexes: []kv.IndexEntry{{Index: "by_email", Key: "a@x", Unique: true}}, Stamp: kv.Stamp{Time: at, Origin: "east"}},
			History: []kv.ObjectRecord{
				{Type: "user", PK: "u1", Version: 1, Revision: 10, Value: []byte(`{"id":"u1"}`)},
				{Type: "user", PK: "u1", Version: 2, Revision: 20, Value: []byte(`{"id":"u1","n":2}`), Indexes: []kv.IndexEntry{{Index: "by_n", Key: "2"}}},
			}}},
		{Object: &kv.ObjectState{Type: "user", PK: "\x00\xff",
			History:   []kv.ObjectRecord{{Type: "user", PK: "\x00\xff", Version: math.MaxInt32, Revision: max}},
			Tombstone: kv.Stamp{Time: at + 1, Origin: "west"}}},
		{Object: &kv.ObjectState{Type: "user", PK: "u3", Tombstone: kv.Stamp{Time: 1}}},
	}}
	return []struct {
		name string
		m    env.Message
	}{
		{"raft empty", &node.Message{}},
		{"raft heartbeat", &node.Message{Group: 3, Msg: pb.Message{Type: pb.MsgHeartbeat, To: 2, From: 1, Term: 7, Commit: 40}}},
		{"raft max", &node.Message{Group: max, Msg: pb.Message{Type: pb.MsgAppResp, To: max, From: max, Term: max, LogTerm: max, Index: max, Commit: max, Vote: max, Reject: true, RejectHint: max}}},
		{"raft entries", &node.Message{Group: 1, Msg: pb.Message{Type: pb.MsgApp, To: 2, From: 1, Term: 5, LogTerm: 4, Index: 99, Commit: 98, Entries: []pb.Entry{
			{Term: 5, Index: 100, Type: pb.EntryNormal, Data: []byte("put k v")},
			{Term: 5, Index: 101, Type: pb.EntryNormal},                 // nil data: an empty entry at election
			{Term: 5, Index: 102, Type: pb.EntryNormal, Data: []byte{}}, // present but empty
			{Term: 5, Index: 103, Type: pb.EntryConfChangeV2, Data: []byte{0x08, 0x01}},
		}}}},
		{"raft snapshot", &node.Message{Group: 2, Msg: pb.Message{Type: pb.MsgSnap, To: 3, From: 1, Term: 9, Snapshot: &pb.Snapshot{
			Data: bytes.Repeat([]byte("state"), 1000),
			Metadata: pb.SnapshotMetadata{Index: 1000, Term: 8, ConfState: pb.ConfState{
				Voters: []uint64{1, 2, 3}, Learners: []uint64{4}, VotersOutgoing: []uint64{1, 2, 5}, LearnersNext: []uint64{5}, AutoLeave: true,
			}},
		}}}},
		{"raft empty snapshot", &node.Message{Msg: pb.Message{Type: pb.MsgApp, Snapshot: &pb.Snapshot{}}}},
		{"raft context", &node.Message{Msg: pb.Message{Type: pb.MsgReadIndex, Context: []byte("read-17"), Entries: []pb.Entry{{Data: []byte("read-17")}}}}},
		{"raft empty context", &node.Message{Msg: pb.Message{Type: pb.MsgReadIndexResp, Context: []byte{}}}},

		{"request empty", &kv.Request{Op: kv.OpGet}},
		{"request get", &kv.Request{Client: "n1/api3.00aa", Seq: 1, Op: kv.OpGet, Key: "k"}},
		{"request stale get", &kv.Request{Client: "c", Seq: 9, Op: kv.OpGet, Key: "k", Stale: true}},
		{"request put", &kv.Request{Client: "c", Seq: max, Op: kv.OpPut, Key: "k", Value: "v"}},
		{"request put empty value", &kv.Request{Client: "c", Seq: 2, Op: kv.OpPut, Key: "", Value: ""}},
		{"request delete", &kv.Request{Client: "c", Seq: 3, Op: kv.OpDelete, Key: "k"}},
		{"request cas absent", &kv.Request{Client: "c", Seq: 4, Op: kv.OpCAS, Key: "k", Value: "new", Expected: kv.None}},
		{"request cas present empty", &kv.Request{Client: "c", Seq: 5, Op: kv.OpCAS, Key: "k", Value: "new", Expected: kv.Some("")}},
		{"request cas present", &kv.Request{Client: "c", Seq: 6, Op: kv.OpCAS, Key: "k", Value: "new", Expected: kv.Some("old")}},
		{"request binary", &kv.Request{Client: "c", Seq: 128, Op: kv.OpPut, Key: "\x00\xff", Value: strings.Repeat("\x80", 300)}},
		{"request put-object", &kv.Request{Client: "c", Seq: 10, Op: kv.OpPutObject, Key: "tenant-1",
			Object: &kv.ObjectRequest{Type: "user", Version: 3, Value: []byte(`{"id":"u1","email":"a@x"}`), IfAbsent: true}}},
		{"request put-object max", &kv.Request{Client: "c", Seq: max, Op: kv.OpPutObject, Key: "\x00",
			Object: &kv.ObjectRequest{Type: "t", PK: "\x00\xff", Version: math.MaxInt32, Value: bytes.Repeat([]byte{0x80}, 300), IfRevision: max}}},
		{"request delete-object", &kv.Request{Client: "c", Seq: 11, Op: kv.OpDeleteObject, Key: "k", Object: &kv.ObjectRequest{Type: "user", PK: "u1", IfRevision: 7}}},
		{"request get-object", &kv.Request{Client: "c", Seq: 12, Op: kv.OpGetObject, Key: "k", Object: &kv.ObjectRequest{Type: "user", PK: "u1"}}},
		{"request stale get-object", &kv.Request{Client: "c", Seq: 13, Op: kv.OpGetObject, Key: "k", Stale: true, Object: &kv.ObjectRequest{Type: "user", PK: "u1"}}},
		{"request empty object", &kv.Request{Op: kv.OpGetObject, Object: &kv.ObjectRequest{}}},
		{"request get-object history", &kv.Request{Client: "c", Seq: 14, Op: kv.OpGetObject, Key: "k", Object: &kv.ObjectRequest{Type: "user", PK: "u1", History: true}}},
		{"request stale get-object history", &kv.Request{Client: "c", Seq: max, Op: kv.OpGetObject, Key: "k", Stale: true,
			Object: &kv.ObjectRequest{Type: "user", PK: "u1", History: true}}},
		{"request enqueue", &kv.Request{Client: "n1/api3.00aa", Seq: 20, Op: kv.OpEnqueue, Key: "order-17", Message: &kv.Message{
			ID: "order-17", Connector: "http", Headers: []kv.Header{{Name: "content-type", Value: "application/json"}, {Name: "x-tenant", Value: "t1"}},
			Payload: []byte(`{"order":17}`)}}},
		{"request enqueue bare", &kv.Request{Op: kv.OpEnqueue, Message: &kv.Message{ID: "m"}}},
		{"request enqueue max", &kv.Request{Client: "c", Seq: max, Op: kv.OpEnqueue, Key: "\x00\xff", Message: &kv.Message{
			ID: strings.Repeat("i", kv.MaxMessageID), Connector: strings.Repeat("c", kv.MaxConnector),
			Headers: []kv.Header{{Name: "\x00", Value: ""}, {Name: "a", Value: "\x80\xff"}, {Name: "b", Value: strings.Repeat("v", kv.MaxHeaderLen-1)}},
			Payload: bytes.Repeat([]byte{0x80}, 300)}}},
		{"request repair retry", &kv.Request{Client: "c", Seq: 21, Op: kv.OpRepair, Queue: &kv.QueueRequest{Replicaset: "rs1", Action: kv.RepairRetry, Seq: 7}}},
		{"request repair purge", &kv.Request{Client: "c", Seq: 22, Op: kv.OpRepair, Queue: &kv.QueueRequest{Replicaset: "rs1", Action: kv.RepairPurge, Seq: 8}}},
		{"request repair edit", &kv.Request{Client: "c", Seq: 23, Op: kv.OpRepair, Key: "ignored", Queue: &kv.QueueRequest{
			Replicaset: "rs1", Action: kv.RepairEdit, Seq: max, Payload: []byte(`{"order":18}`)}}},
		{"request read-queue depths", &kv.Request{Client: "c", Seq: 24, Op: kv.OpReadQueue, Queue: &kv.QueueRequest{Replicaset: "rs1"}}},
		{"request read-queue page", &kv.Request{Client: "c", Seq: 25, Op: kv.OpReadQueue, Queue: &kv.QueueRequest{Replicaset: "rs2", List: "repair", After: 300, Limit: 50}}},
		{"request stale read-queue", &kv.Request{Client: "c", Seq: 26, Op: kv.OpReadQueue, Stale: true, Queue: &kv.QueueRequest{
			Replicaset: "rs2", List: "queue", After: max, Limit: kv.MaxQueuePage}}},
		{"request empty queue", &kv.Request{Op: kv.OpReadQueue, Queue: &kv.QueueRequest{}}},
		{"request list-objects", &kv.Request{Client: "n1/api3.00aa", Seq: 27, Op: kv.OpListObjects, List: &kv.ListRequest{
			Replicaset: "rs1", Type: "Order", Filter: []byte{1, 1, 1, 1, 1, 6, 's', 't', 'a', 't', 'u', 's', 1, 4, 'o', 'p', 'e', 'n'},
			After: "\x30c1\x00\x01\x30o1\x00\x01", Limit: 100, Scan: 1000}}},
		{"request stale list-objects max", &kv.Request{Client: "c", Seq: max, Op: kv.OpListObjects, Stale: true, List: &kv.ListRequest{
			Replicaset: "rs2", Type: "t", Filter: bytes.Repeat([]byte{0x80}, kv.MaxListFilter), After: strings.Repeat("\xff", kv.MaxListPosition),
			Limit: kv.MaxListPage, Scan: kv.MaxListScan, Index: strings.Repeat("i", kv.MaxTypeLen), Desc: true}}},
		{"request list-objects by an index", &kv.Request{Client: "c", Seq: 28, Op: kv.OpListObjects, List: &kv.ListRequest{
			Replicaset: "rs1", Type: "Order", After: "\x01\x30open\x00\x01\x01\x30o1\x00\x01", Limit: 20, Scan: 1000, Version: 3,
			Index: "by_status", Desc: true}}},
		{"request list-objects of one index key", &kv.Request{Client: "c", Seq: 29, Op: kv.OpListObjects, List: &kv.ListRequest{
			Replicaset: "rs1", Type: "Order", Filter: []byte{1, 1, 1, 1, 1, 11, 'c', 'u', 's', 't', 'o', 'm', 'e', 'r', '_', 'i', 'd', 1, 2, 'c', '1'},
			After: "\x01\x30c1\x00\x01\x00\x01\x30c1\x00\x01\x30o1\x00\x01", Limit: 100, Scan: 1000, Version: 1,
			Index: "by_customer", Exact: true, Key: "\x30c1\x00\x01"}}},
		{"request list-objects of one index key max", &kv.Request{Client: "c", Seq: max, Op: kv.OpListObjects, List: &kv.ListRequest{
			Replicaset: "rs1", Type: "t", Limit: 1, Index: "i", Desc: true, Exact: true, Key: strings.Repeat("\xff", kv.MaxIndexKeyLen)}}},
		{"request list-objects of the empty index key", &kv.Request{Op: kv.OpListObjects, List: &kv.ListRequest{Limit: 1, Index: "i", Exact: true}}},
		{"request empty list", &kv.Request{Op: kv.OpListObjects, List: &kv.ListRequest{Limit: 1}}},

		{"response ok", &kv.Response{Client: "c", Seq: 1, Status: kv.StatusOK, Value: kv.Some("v"), Index: 42}},
		{"response absent", &kv.Response{Client: "c", Seq: 1, Status: kv.StatusOK, Value: kv.None, Index: max}},
		{"response present empty", &kv.Response{Client: "c", Seq: 1, Status: kv.StatusOK, Value: kv.Some("")}},
		{"response mismatch", &kv.Response{Client: "c", Seq: max, Status: kv.StatusMismatch, Value: kv.Some("other"), Index: 7}},
		{"response redirect leader", &kv.Response{Client: "c", Seq: 2, Status: kv.StatusRedirect, Leader: "n2"}},
		{"response redirect hint", &kv.Response{Client: "c", Seq: 2, Status: kv.StatusRedirect, Hint: "n3"}},
		{"response conflict", &kv.Response{Client: "c", Seq: 3, Status: kv.StatusConflict, Index: 9, Error: `unique index by_email: key held by "u1"`}},
		{"response invalid", &kv.Response{Client: "c", Seq: 4, Status: kv.StatusInvalid, Error: "user: email: required"}},
		{"response object", &kv.Response{Client: "c", Seq: 5, Status: kv.StatusOK, Index: 12, Object: &kv.ObjectRecord{
			Type: "user", PK: "u1", Version: 2, Revision: 12, Value: []byte(`{"id":"u1"}`),
			Indexes: []kv.IndexEntry{{Index: "by_email", Key: "a@x", Unique: true}, {Index: "by_group", Key: ""}, {Index: "by_group", Key: "\x00"}}}}},
		{"response empty object", &kv.Response{Status: kv.StatusOK, Object: &kv.ObjectRecord{}}},
		{"response max object", &kv.Response{Status: kv.StatusOK, Object: &kv.ObjectRecord{Type: "t", PK: "p", Version: math.MaxInt32, Revision: max}}},
		{"response object and history", &kv.Response{Client: "c", Seq: 6, Status: kv.StatusOK, Value: kv.Some(""), Index: 30,
			Object: &kv.ObjectRecord{Type: "user", PK: "u1", Version: 2, Revision: 30, Value: []byte(`{"id":"u1","n":3}`)},
			History: []kv.ObjectRecord{
				{Type: "user", PK: "u1", Version: 1, Revision: 10, Value: []byte(`{"id":"u1"}`)}, // stored at 1: it did not upgrade
				{Type: "user", PK: "u1", Version: 2, Revision: 20, Value: []byte(`{"id":"u1","n":2}`), Indexes: []kv.IndexEntry{{Index: "by_n", Key: "2"}}},
			}}},
		{"response history of a deleted object", &kv.Response{Client: "c", Seq: 7, Status: kv.StatusOK, Index: 31,
			History: []kv.ObjectRecord{{Type: "user", PK: "u1", Version: 2, Revision: 30, Value: []byte(`{"id":"u1","n":3}`)}}}},
		{"response empty history record", &kv.Response{Status: kv.StatusOK, History: []kv.ObjectRecord{{}}}},
		{"response error and history", &kv.Response{Status: kv.StatusInvalid, Error: "e", History: []kv.ObjectRecord{{Version: math.MaxInt32, Revision: max}}}},
		{"response mismatch object", &kv.Response{Client: "c", Seq: max, Status: kv.StatusMismatch, Index: 20, Error: "revision 12, expected 7",
			Object: &kv.ObjectRecord{Type: "user", PK: "u1", Version: 1, Revision: 12}}},
		{"response enqueued", &kv.Response{Client: "c", Seq: 20, Status: kv.StatusOK, Index: 40, Queue: &kv.QueueState{Replicaset: "rs1", Tail: 12}}},
		{"response busy", &kv.Response{Client: "c", Seq: 20, Status: kv.StatusBusy, RetryAfter: 250_000_000}},
		{"response busy max", &kv.Response{Client: "c", Seq: max, Status: kv.StatusBusy, Error: "inbound queue full", RetryAfter: math.MaxInt64}},
		{"response busy with depths", &kv.Response{Client: "c", Seq: 21, Status: kv.StatusBusy, RetryAfter: 1,
			Queue: &kv.QueueState{Replicaset: "rs1", Depth: 10000, Bytes: 1 << 30, Head: 3, Tail: 10002, OldestAt: 1_700_000_000_000_000_000}}},
		{"response not found", &kv.Response{Client: "c", Seq: 22, Status: kv.StatusNotFound, Index: 41, Error: "no repair entry 9"}},
		{"response empty queue state", &kv.Response{Status: kv.StatusOK, Queue: &kv.QueueState{}}},
		{"response queue max", &kv.Response{Status: kv.StatusOK, Index: max, Queue: &kv.QueueState{Replicaset: "rs1", Depth: math.MaxInt, Bytes: math.MaxInt64,
			Head: max, Tail: max, OldestAt: math.MinInt64, Repairs: math.MaxInt, Outbound: math.MaxInt, Settled: max}}},
		{"response repair listing", &kv.Response{Client: "c", Seq: 23, Status: kv.StatusOK, Index: 42, Queue: &kv.QueueState{
			Replicaset: "rs1", Depth: 1, Bytes: 12, Head: 9, Tail: 9, OldestAt: 1_700_000_000_500_000_000, Repairs: 2, Outbound: 3, Settled: 8,
			Entries: []kv.RepairEntry{
				{Queued: kv.Queued{Seq: 4, At: 1_700_000_000_000_000_000, Attempts: 1, Message: kv.Message{ID: "order-4", Connector: "http",
					Headers: []kv.Header{{Name: "content-type", Value: "application/json"}}, Payload: []byte(`{"order":4}`)}},
					Failure:  kv.Failure{Key: "orders", Step: 2, Handler: "price", Reason: "no price for sku 17"},
					FailedAt: 1_700_000_000_100_000_000},
				{Queued: kv.Queued{Seq: 6, At: -1, Message: kv.Message{ID: "order-6"}},
					Failure: kv.Failure{Step: -1, Reason: "no route matches"}},
			}}}},
		{"response queue listing", &kv.Response{Client: "c", Seq: 24, Status: kv.StatusOK, Index: 43, Queue: &kv.QueueState{
			Replicaset: "rs1", Depth: 2, Bytes: 2, Head: 9, Tail: 10, OldestAt: 1_700_000_000_500_000_000, Settled: 8,
			Entries: []kv.RepairEntry{
				{Queued: kv.Queued{Seq: 9, At: 1_700_000_000_500_000_000, Message: kv.Message{ID: "a", Payload: []byte("{}")}}},
				{Queued: kv.Queued{Seq: max, At: math.MaxInt64, Attempts: math.MaxInt, Message: kv.Message{ID: "b", Payload: []byte("{}")}}},
			}}}},
		{"response list page", &kv.Response{Client: "c", Seq: 26, Status: kv.StatusOK, Index: 44, List: &kv.ListPage{
			Replicaset: "rs1", More: true, Last: "\x30o3\x00\x01",
			Objects: []kv.ObjectRecord{
				{Type: "Order", PK: "\x30o1\x00\x01", Version: 2, Revision: 40, Value: []byte(`{"id":"o1"}`)},
				{Type: "Order", PK: "\x30o2\x00\x01", Version: math.MaxInt32, Revision: max, Value: []byte(`{"id":"o2"}`),
					Indexes: []kv.IndexEntry{{Index: "by_status", Key: "open"}}},
			}}}},
		{"response last list page", &kv.Response{Client: "c", Seq: 27, Status: kv.StatusOK, Index: 45, List: &kv.ListPage{Replicaset: "rs2", Last: "k"}}},
		{"response empty list page", &kv.Response{Status: kv.StatusOK, List: &kv.ListPage{}}},
		{"response every part", &kv.Response{Client: "c", Seq: 25, Status: kv.StatusInvalid, Error: "e", RetryAfter: 128,
			Object:  &kv.ObjectRecord{Type: "t", PK: "p", Revision: 1},
			History: []kv.ObjectRecord{{Type: "t", PK: "p", Version: 1, Revision: 1}},
			Queue:   &kv.QueueState{Replicaset: "rs1", Entries: []kv.RepairEntry{{Queued: kv.Queued{Message: kv.Message{ID: "m"}}}}},
			List:    &kv.ListPage{Replicaset: "rs1", Objects: []kv.ObjectRecord{{Type: "t", PK: "p", Revision: 1}}}}},

		{"hello empty", &Hello{}},
		{"hello self", &Hello{From: Member{Name: "n1", PeerAddr: "10.0.0.1:7000", HTTPAddr: "10.0.0.1:8080"}}},
		{"hello join", &Hello{From: Member{Name: "n4"}, Join: "join-n4-1f2e"}},
		{"hello join answer", &Hello{From: Member{Name: "n1"}, Bootstrapped: true, Cluster: "c", Config: []byte(`{"instances":[]}`)}},
		{"hello members", &Hello{
			From: Member{Name: "n1", PeerAddr: "10.0.0.1:7000", HTTPAddr: "10.0.0.1:8080", Domain: map[string]string{"zone": "a", "rack": "r1", "dc": "eu", "": "empty key"}},
			Members: []Member{
				{Name: "n1", PeerAddr: "10.0.0.1:7000", HTTPAddr: "10.0.0.1:8080", Domain: map[string]string{"zone": "a"}},
				{Name: "n2", PeerAddr: "10.0.0.2:7000", Domain: map[string]string{"zone": "b", "rack": ""}},
				{},
			},
			Bootstrapped: true,
			Cluster:      "c-5f3a",
		}},

		{"move read first", &node.MoveRead{Move: 1, Part: node.MoveItems, Seq: 1}},
		{"move read items", &node.MoveRead{Move: 7, Part: node.MoveItems, Seq: 12, Cursor: []byte("kuser:1")}},
		{"move read object cursor", &node.MoveRead{Move: max, Part: node.MoveItems, Seq: max, Cursor: []byte("huser\x00u\x00\xff1\x00\x01\x00\x00\x00\x00\x00\x00\x00\x1e")}},
		{"move read changes", &node.MoveRead{Move: 7, Part: node.MoveChanges, Seq: 13, Cursor: []byte("kuser:1"), Change: kv.ChangeCursor{Index: 120, N: 3}}},
		{"move read freeze", &node.MoveRead{Move: 7, Part: node.MoveChanges, Seq: 14, Change: kv.ChangeCursor{Index: max, N: math.MaxUint32}, Freeze: true}},
		{"move read dedup", &node.MoveRead{Move: 7, Part: node.MoveDedup, Seq: 15, Change: kv.ChangeCursor{Index: 130}, After: "n1/api3.00aa", Freeze: true}},

		{"move page not sending", &node.MovePage{Move: 7, Part: node.MoveItems, Seq: 3, Status: node.MoveNotSending}},
		{"move page not frozen", &node.MovePage{Move: 7, Part: node.MoveDedup, Seq: 4, Status: node.MoveNotFrozen, After: "c", Leader: "n2"}},
		{"move page unplaced", &node.MovePage{Move: max, Part: node.MoveChanges, Seq: max, Status: node.MoveUnplaced,
			Change: kv.ChangeCursor{Index: max, N: math.MaxUint32}, Frozen: true, Leader: "n1"}},
		{"move page empty", &node.MovePage{Move: 7, Part: node.MoveItems, Seq: 5, Page: &kv.Import{Move: 7, Buckets: 1}, Done: true, Leader: "n1"}},
		{"move page items", &node.MovePage{Move: 7, Part: node.MoveItems, Seq: 6, Page: full, Cursor: []byte("huser\x00u3\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01")}},
		{"move page plain key", &node.MovePage{Move: 7, Part: node.MoveItems, Seq: 7, Cursor: []byte("k\x00\xff"),
			Page: &kv.Import{Move: 7, Buckets: 1, Items: []kv.Item{{Key: "\x00\xff", Value: kv.Some("")}}}}},
		{"move page changes", &node.MovePage{Move: 7, Part: node.MoveChanges, Seq: 8, Change: kv.ChangeCursor{Index: 121, N: 1},
			Page: &kv.Import{Move: 7, Bucket: 3, Buckets: 4, Items: []kv.Item{
				{Key: keyInBucket(3, 4), Value: kv.None}, // deleted since the send
				{Object: &kv.ObjectState{Type: "order", PK: "o1"}},
			}}, Done: true, Frozen: true, Leader: "n1"}},
		{"move page dedup", &node.MovePage{Move: 7, Part: node.MoveDedup, Seq: 9, After: "n2/api1.0001", Frozen: true, Leader: "n3",
			Page: &kv.Import{Move: 7, Bucket: bucket, Buckets: 16, Dedup: []kv.DedupEntry{
				{Client: "n1/api3.00aa", Seq: 9, Result: kv.Result{Status: kv.StatusOK, Index: 40}},
				{Client: "n2/api1.0001", Seq: max, Result: kv.Result{Status: kv.StatusMismatch, Value: kv.Some("old"), Index: 41, Revision: 12, Error: "revision 12, expected 7"}},
			}}}},
		{"move page last dedup", &node.MovePage{Move: 7, Part: node.MoveDedup, Seq: 10, After: "n2/api1.0001", Done: true, Frozen: true,
			Page: &kv.Import{Move: 7, Bucket: bucket, Buckets: 16}}},
	}
}

// keyInBucket is a plain key in bucket (of buckets).
func keyInBucket(bucket, buckets int) string {
	for i := 0; ; i++ {
		if k := fmt.Sprintf("k%d", i); kv.Bucket(k, buckets) == bucket {
			return k
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, c := range codecCases() {
		t.Run(c.name, func(t *testing.T) {
			b, err := EncodeMessage([]byte("prefix"), c.m)
			if err != nil {
				t.Fatalf("EncodeMessage: %v", err)
			}
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatalf("EncodeMessage did not append: %q", b)
			}
			b = b[len("prefix"):]
			got, err := DecodeMessage(b)
			if err != nil {
				t.Fatalf("DecodeMessage: %v", err)
			}
			if !reflect.DeepEqual(got, c.m) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, c.m)
			}
			if got.Kind() != c.m.Kind() {
				t.Fatalf("kind %q, want %q", got.Kind(), c.m.Kind())
			}
			again, err := EncodeMessage(nil, got)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding: %v\n got %x\nwant %x", err, again, b)
			}
			// Nothing shorter, and nothing longer, is the same message.
			// Only what the flags byte adds can go: a stale get without
			// it is the same get, linearizable; a response without it,
			// the response without its error, object, history, queue
			// state, retry-after and list page; a move read or page, the
			// same without its flags.
			plain, plainLen := withoutFlags(t, c.m)
			for n := range len(b) {
				m, err := DecodeMessage(b[:n])
				if n == plainLen {
					if err != nil || !reflect.DeepEqual(m, plain) {
						t.Fatalf("without its flags: %#v, %v; want %#v", m, err, plain)
					}
					continue
				}
				if err == nil {
					t.Fatalf("the first %d of %d bytes decode to %#v", n, len(b), m)
				}
			}
			// A raft message runs to the end, so a trailing byte is read as
			// protobuf, and refused as such; a request's or a response's
			// without flags, as its flags.
			want := "stray bytes"
			switch m := c.m.(type) {
			case *node.Message:
				want = "protobuf"
			case *kv.Request:
				if !m.Stale && m.Object == nil && m.Message == nil && m.Queue == nil && m.List == nil {
					want = "request flags 0x0"
				}
			case *kv.Response:
				if m.Error == "" && m.Object == nil && len(m.History) == 0 && m.Queue == nil && m.RetryAfter == 0 && m.List == nil {
					want = "response flags 0x0"
				}
			case *node.MoveRead:
				if !m.Freeze {
					want = "move read flags 0x0"
				}
			case *node.MovePage:
				if !m.Done && !m.Frozen {
					want = "move page flags 0x0"
				}
			}
			if m, err := DecodeMessage(append(b, 0)); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("a trailing byte: %#v, %v; want an error about %s", m, err, want)
			}
		})
	}
}

// withoutFlags is m without what its flags byte adds, and the length of
// its encoding; -1 if that is no message (an op without the part it
// requires: an object, a message, a queue request) or m has no flags.
func withoutFlags(t *testing.T, m env.Message) (env.Message, int) {
	var plain env.Message
	switch m := m.(type) {
	case *kv.Request:
		if m.Stale && !m.Op.IsObject() && m.Op != kv.OpEnqueue && !wireQueueOp(m.Op) && m.Op != kv.OpListObjects {
			r := *m
			r.Stale = false
			plain = &r
		}
	case *kv.Response:
		if m.Error != "" || m.Object != nil || len(m.History) > 0 || m.Queue != nil || m.RetryAfter != 0 || m.List != nil {
			r := *m
			r.Error, r.Object, r.History, r.Queue, r.RetryAfter, r.List = "", nil, nil, nil, 0, nil
			plain = &r
		}
	case *node.MoveRead:
		if m.Freeze {
			r := *m
			r.Freeze = false
			plain = &r
		}
	case *node.MovePage:
		if m.Done || m.Frozen {
			p := *m
			p.Done, p.Frozen = false, false
			plain = &p
		}
	}
	if plain == nil {
		return nil, -1
	}
	b, err := EncodeMessage(nil, plain)
	if err != nil {
		t.Fatal(err)
	}
	return plain, len(b)
}

// TestCodecGolden pins the encoding of one message of each hand-written
// type: changing it breaks every peer running the previous build.
func TestCodecGolden(t *testing.T) {
	for _, c := range []struct {
		m    env.Message
		want string
	}{
		{&kv.Request{Client: "c", Seq: 300, Op: kv.OpCAS, Key: "k", Value: "v", Expected: kv.Some("")},
			"02" + "0163" + "ac02" + "04" + "016b" + "0176" + "0100"},
		{&kv.Request{Client: "c", Seq: 1, Op: kv.OpGet, Key: "k", Stale: true},
			"02" + "0163" + "01" + "01" + "016b" + "00" + "00" + "01"},
		{&kv.Response{Client: "c", Seq: 1, Status: kv.StatusRedirect, Value: kv.None, Index: 2, Leader: "n2"},
			"03" + "0163" + "01" + "03" + "00" + "02" + "026e32" + "00"},
		{&kv.Request{Client: "c", Seq: 1, Op: kv.OpPutObject, Key: "k", Object: &kv.ObjectRequest{Type: "t", Version: 2, Value: []byte("{}"), IfRevision: 300}},
			"02" + "0163" + "01" + "05" + "016b" + "00" + "00" + "02" + "0174" + "00" + "02" + "027b7d" + "ac02" + "00"},
		{&kv.Request{Client: "c", Seq: 1, Op: kv.OpGetObject, Key: "k", Stale: true, Object: &kv.ObjectRequest{Type: "t", PK: "p", IfAbsent: true}},
			"02" + "0163" + "01" + "07" + "016b" + "00" + "00" + "03" + "0174" + "0170" + "00" + "00" + "00" + "01"},
		{&kv.Response{Client: "c", Seq: 1, Status: kv.StatusConflict, Index: 2, Error: "e",
			Object: &kv.ObjectRecord{Type: "t", PK: "p", Version: 1, Revision: 2, Value: []byte("{}"), Indexes: []kv.IndexEntry{{Index: "i", Key: "k", Unique: true}}}},
			"03" + "0163" + "01" + "04" + "00" + "02" + "00" + "00" + "03" + "0165" + "0174" + "0170" + "01" + "02" + "027b7d" + "01" + "0169" + "016b" + "01"},
		{&kv.Request{Client: "c", Seq: 1, Op: kv.OpGetObject, Key: "k", Object: &kv.ObjectRequest{Type: "t", PK: "p", History: true}},
			"02" + "0163" + "01" + "07" + "016b" + "00" + "00" + "06" + "0174" + "0170" + "00" + "00" + "00" + "00"},
		{&kv.Response{Client: "c", Seq: 1, Status: kv.StatusOK, Index: 2,
			History: []kv.ObjectRecord{{Type: "t", PK: "p", Version: 1, Revision: 1, Value: []byte("{}")}, {Type: "t", PK: "p", Version: 2, Revision: 2}}},
			"03" + "0163" + "01" + "01" + "00" + "02" + "00" + "00" + "04" + "02" +
				"0174" + "0170" + "01" + "01" + "027b7d" + "00" +
				"0174" + "0170" + "02" + "02" + "00" + "00"},
		{&kv.Request{Client: "c", Seq: 1, Op: kv.OpEnqueue, Key: "k", Message: &kv.Message{ID: "m", Connector: "h", Headers: []kv.Header{{Name: "a", Value: "b"}}, Payload: []byte("{}")}},
			"02" + "0163" + "01" + "08" + "016b" + "00" + "00" + "08" + "016d" + "0168" + "01" + "0161" + "0162" + "027b7d"},
		{&kv.Request{Client: "c", Seq: 1, Op: kv.OpReadQueue, Stale: true, Queue: &kv.QueueRequest{Replicaset: "r", List: "repair", After: 300, Limit: 2}},
			"02" + "0163" + "01" + "0b" + "00" + "00" + "00" + "11" + "0172" + "06726570616972" + "ac02" + "02" + "00" + "00" + "00" + "00"},
		{&kv.Request{Client: "c", Seq: 1, Op: kv.OpRepair, Queue: &kv.QueueRequest{Replicaset: "r", Action: kv.RepairEdit, Seq: 5, Payload: []byte("{}")}},
			"02" + "0163" + "01" + "0a" + "00" + "00" + "00" + "10" + "0172" + "00" + "00" + "00" + "03" + "05" + "027b7d" + "00"},
		{&kv.Response{Client: "c", Seq: 1, Status: kv.StatusBusy, Index: 2, RetryAfter: 300, Queue: &kv.QueueState{
			Replicaset: "r", Depth: 1, Bytes: 2, Head: 3, Tail: 3, OldestAt: -1, Repairs: 1, Settled: 2, Entries: []kv.RepairEntry{{
				Queued:  kv.Queued{Seq: 1, Message: kv.Message{ID: "m"}, At: 1, Attempts: 1},
				Failure: kv.Failure{Key: "k", Step: -1, Handler: "h", Reason: "x"}, FailedAt: 2}}}},
			"03" + "0163" + "01" + "06" + "00" + "02" + "00" + "00" + "18" +
				"0172" + "01" + "02" + "03" + "03" + "01" + "01" + "00" + "02" + "00" + "00" + "00" + "00" + "01" +
				"01" + "016d" + "00" + "00" + "00" + "02" + "01" + "016b" + "01" + "0168" + "0178" + "04" +
				"ac02"},
		{&kv.Request{Client: "c", Seq: 1, Op: kv.OpListObjects, Stale: true, List: &kv.ListRequest{Replicaset: "r", Type: "t", Filter: []byte{1}, After: "a", Limit: 300, Scan: 3000, Version: 2}},
			"02" + "0163" + "01" + "0d" + "00" + "00" + "00" + "21" + "0172" + "0174" + "0101" + "0161" + "ac02" + "b817" + "02" + "00" + "00" + "00" + "00"},
		{&kv.Request{Client: "c", Seq: 1, Op: kv.OpListObjects, List: &kv.ListRequest{Replicaset: "r", Type: "t", After: "\x02p", Limit: 1, Index: "i", Desc: true}},
			"02" + "0163" + "01" + "0d" + "00" + "00" + "00" + "20" + "0172" + "0174" + "00" + "020270" + "01" + "00" + "00" + "0169" + "01" + "00" + "00"},
		{&kv.Request{Client: "c", Seq: 1, Op: kv.OpListObjects, List: &kv.ListRequest{Replicaset: "r", Type: "t", Limit: 1, Index: "i", Exact: true, Key: "k\x00"}},
			"02" + "0163" + "01" + "0d" + "00" + "00" + "00" + "20" + "0172" + "0174" + "00" + "00" + "01" + "00" + "00" + "0169" + "00" + "01" + "026b00"},
		{&kv.Response{Client: "c", Seq: 1, Status: kv.StatusOK, Index: 2, List: &kv.ListPage{Replicaset: "r", More: true, Last: "q",
			Objects: []kv.ObjectRecord{{Type: "t", PK: "p", Version: 1, Revision: 2, Value: []byte("{}")}}}},
			"03" + "0163" + "01" + "01" + "00" + "02" + "00" + "00" + "20" + "0172" + "01" + "0171" + "01" +
				"0174" + "0170" + "01" + "02" + "027b7d" + "00"},
		{&Hello{From: Member{Name: "n", Domain: map[string]string{"z": "a", "r": "b"}}, Members: []Member{{}}, Bootstrapped: true, Cluster: "x"},
			"04" + "016e" + "00" + "00" + "02" + "0172" + "0162" + "017a" + "0161" + "01" + "00000000" + "01" + "0178" + "00" + "00"},
		{&Hello{From: Member{Name: "n"}, Join: "j", Config: []byte("{}")},
			"04" + "016e" + "00" + "00" + "00" + "00" + "00" + "00" + "016a" + "027b7d"},
		{&node.MoveRead{Move: 300, Part: node.MoveChanges, Seq: 2, Cursor: []byte("c"), Change: kv.ChangeCursor{Index: 5, N: 1}, After: "a", Freeze: true},
			"05" + "ac02" + "02" + "02" + "0163" + "05" + "01" + "0161" + "01"},
		{&node.MovePage{Move: 1, Part: node.MoveItems, Seq: 2, Status: node.MoveNotFrozen, Leader: "n1"},
			"06" + "01" + "01" + "02" + "02" + "00" + "00" + "00" + "00" + "026e31" + "00"},
		{&node.MovePage{Move: 1, Part: node.MoveDedup, Seq: 2, After: "c", Leader: "n1", Done: true, Frozen: true,
			Page: &kv.Import{Move: 1, Buckets: 1, Dedup: []kv.DedupEntry{{Client: "c", Seq: 3, Result: kv.Result{Status: kv.StatusOK, Index: 4}}}}},
			"06" + "01" + "03" + "02" + "00" + "00" + "00" + "00" + "0163" + "026e31" +
				"14" + "0f" + "00" + "00" + "00" + "00" + "00" + "00" + "01" + "00" + "01" + "00" + "01" + "0163" + "03" + "0401000004" +
				"03"},
		{&node.Message{Group: 1, Msg: pb.Message{Type: pb.MsgHeartbeat, To: 2, From: 1}},
			"01" + "01" + "0808" + "1002" + "1801" + "2000" + "2800" + "3000" + "4000" + "5000" + "5800" + "6800"},
	} {
		b, err := EncodeMessage(nil, c.m)
		if err != nil {
			t.Fatal(err)
		}
		if got := hexString(b); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.m.Kind(), got, c.want)
		}
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	s := make([]byte, 0, 2*len(b))
	for _, c := range b {
		s = append(s, digits[c>>4], digits[c&15])
	}
	return string(s)
}

// TestCodecAbsentValue: an absent value says nothing more, whatever its S.
func TestCodecAbsentValue(t *testing.T) {
	b, err := EncodeMessage(nil, &kv.Response{Status: kv.StatusOK, Value: kv.Value{S: "ignored"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if v := m.(*kv.Response).Value; v != kv.None {
		t.Fatalf("value %v, want absent", v)
	}
}

// TestCodecEmptyDomain: an empty domain and a nil one are the same.
func TestCodecEmptyDomain(t *testing.T) {
	a, _ := EncodeMessage(nil, &Hello{From: Member{Name: "n1", Domain: map[string]string{}}})
	b, _ := EncodeMessage(nil, &Hello{From: Member{Name: "n1"}})
	if !bytes.Equal(a, b) {
		t.Fatalf("empty domain %x, nil domain %x", a, b)
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	enc := func(m env.Message) []byte {
		b, err := EncodeMessage(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	raft := func(m pb.Message) []byte {
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte{wireRaft, 1}, b...)
	}
	heartbeat := raft(pb.Message{Type: pb.MsgHeartbeat, To: 2, From: 1})
	// The heartbeat with its first two fields swapped: valid protobuf,
	// but not the encoding Marshal writes.
	swapped := append([]byte{wireRaft, 1, 0x10, 0x02, 0x08, 0x08}, heartbeat[6:]...)
	// Its type as a padded varint.
	padded := append([]byte{wireRaft, 1, 0x08, 0x88, 0x00}, heartbeat[4:]...)
	withResponses := append(bytes.Clone(heartbeat), 0x72, 0x00) // field 14, empty
	unknownField := append(bytes.Clone(heartbeat), 0x78, 0x01)  // field 15, varint
	groupWire := append(bytes.Clone(heartbeat), 0x7b)           // field 15, start group

	request := enc(&kv.Request{Client: "c", Seq: 1, Op: kv.OpGet, Key: "k"})
	response := enc(&kv.Response{Client: "c", Seq: 1, Status: kv.StatusOK})
	hello := enc(&Hello{From: Member{Name: "n", Domain: map[string]string{"a": "1", "b": "2"}}})
	objectPut := enc(&kv.Request{Client: "c", Seq: 1, Op: kv.OpPutObject, Key: "k", Object: &kv.ObjectRequest{Type: "t", Version: 2, Value: []byte("{}"), IfAbsent: true}})
	objectPutFlags := len(enc(&kv.Request{Client: "c", Seq: 1, Op: kv.OpGet, Key: "k"}))
	objectResponse := enc(&kv.Response{Client: "c", Seq: 1, Status: kv.StatusOK, Object: &kv.ObjectRecord{Type: "t", PK: "p", Revision: 1,
		Indexes: []kv.IndexEntry{{Index: "i", Key: "k"}}}})
	historyResponse := enc(&kv.Response{Client: "c", Seq: 1, Status: kv.StatusOK, History: []kv.ObjectRecord{{Type: "t", PK: "p", Revision: 1},
		{Type: "t", PK: "p", Revision: 2, Indexes: []kv.IndexEntry{{Index: "i", Key: "k", Unique: true}}}}})
	// One record more than a response may carry, each the smallest.
	overHistory := binary.AppendUvarint(append(bytes.Clone(response), 4), kv.MaxHistory+1)
	overHistory = append(overHistory, make([]byte, (kv.MaxHistory+1)*minWireRecord)...)
	with := func(b []byte, i int, v byte) []byte {
		b = bytes.Clone(b)
		b[i] = v
		return b
	}
	// The op byte of request, and its length, where the flags go.
	const opAt = 4
	requestFlags := len(request)
	put := enc(&kv.Request{Client: "c", Seq: 1, Op: kv.OpPut, Key: "k"})
	enqueue := enc(&kv.Request{Client: "c", Seq: 1, Op: kv.OpEnqueue, Key: "k",
		Message: &kv.Message{ID: "m", Headers: []kv.Header{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}}, Payload: []byte("{}")}})
	messagePart := enqueue[requestFlags+1:]
	readQueue := enc(&kv.Request{Client: "c", Seq: 1, Op: kv.OpReadQueue, Key: "k", Queue: &kv.QueueRequest{Replicaset: "r", List: "repair", Limit: 5}})
	queuePart := readQueue[requestFlags+1:]
	repair := enc(&kv.Request{Client: "c", Seq: 1, Op: kv.OpRepair, Key: "k", Queue: &kv.QueueRequest{Replicaset: "r", Action: kv.RepairEdit, Seq: 3, Payload: []byte("{}")}})
	// A queue state of replicaset "r" with zero counts, and then an entry count.
	queueState := func(flags byte, entries ...byte) []byte {
		return append(append(bytes.Clone(response), flags, 1, 'r', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), entries...)
	}
	// The smallest entry: seq, the message {ID: "m"}, at, attempts, failure, failed-at.
	minEntry := []byte{0, 1, 'm', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	listing := queueState(responseQueue, append([]byte{1}, minEntry...)...)
	// An entry with room to spare over the smallest, so that a damaged
	// one still passes the count's check.
	repairListing := enc(&kv.Response{Client: "c", Seq: 1, Status: kv.StatusOK, Queue: &kv.QueueState{Replicaset: "r", Repairs: 1,
		Entries: []kv.RepairEntry{{Queued: kv.Queued{Seq: 1, Message: kv.Message{ID: "m", Payload: []byte("{}")}}, Failure: kv.Failure{Reason: "x"}, FailedAt: 300}}}})
	// One entry more than a page holds, each the smallest.
	overPage := queueState(responseQueue, binary.AppendUvarint(nil, kv.MaxQueuePage+1)...)
	overPage = append(overPage, bytes.Repeat(minEntry, kv.MaxQueuePage+1)...)
	// One header more than a message may have, each the smallest.
	overHeaders := binary.AppendUvarint(append(bytes.Clone(request[:opAt]), byte(kv.OpEnqueue), 0, 0, 0, requestMessage, 1, 'm', 0), kv.MaxHeaders+1)
	overHeaders = append(overHeaders, bytes.Repeat([]byte{1, 'h', 0}, kv.MaxHeaders+1)...)
	overHeaders = append(overHeaders, 0)
	list := enc(&kv.Request{Client: "c", Seq: 1, Op: kv.OpListObjects, Key: "k", List: &kv.ListRequest{Replicaset: "r", Type: "t", Filter: []byte{1}, Limit: 5, Scan: 50}})
	listPart := list[requestFlags+1:]
	// A list page of one object more than a page holds, each the smallest.
	overList := binary.AppendUvarint(append(bytes.Clone(response), responseList, 1, 'r', 0, 0), kv.MaxListPage+1)
	overList = append(overList, make([]byte, (kv.MaxListPage+1)*minWireRecord)...)
	listResponse := enc(&kv.Response{Client: "c", Seq: 1, Status: kv.StatusOK, List: &kv.ListPage{Replicaset: "r", More: true, Last: "q",
		Objects: []kv.ObjectRecord{{Type: "t", PK: "p", Revision: 1}}}})
	// Move reads and pages: the part is the byte after a move of 1, the
	// status the byte after a seq of 1.
	const partAt, statusAt = 2, 4
	moveRead := enc(&node.MoveRead{Move: 1, Part: node.MoveItems, Seq: 1, Cursor: []byte("k"), After: "c"})
	moveFreeze := enc(&node.MoveRead{Move: 1, Part: node.MoveChanges, Seq: 1, Freeze: true})
	anImport := &kv.Import{Move: 1, Buckets: 1, Items: []kv.Item{{Key: "k", Value: kv.Some("v")}}}
	importCommand := func(c kv.Command) []byte { return c.Encode() }
	okImport := importCommand(kv.Command{Op: kv.OpImport, Import: anImport})
	okPage := enc(&node.MovePage{Move: 1, Part: node.MoveItems, Seq: 1, Page: anImport, Done: true})
	notSending := enc(&node.MovePage{Move: 1, Part: node.MoveItems, Seq: 1, Status: node.MoveNotSending, Leader: "n1"})
	// A page of status ok holding page: a command's encoding, or none.
	pageOf := func(page []byte) []byte {
		b := []byte{wireMovePage, 1, byte(node.MoveItems), 1, byte(node.MovePageOK), 0, 0, 0, 0, 0}
		return append(binary.AppendUvarint(b, uint64(len(page))), page...)
	}
	// An import of one item more than kv takes, each the smallest.
	overItems := &kv.Import{Move: 1, Buckets: 1, Items: make([]kv.Item, kv.MaxMoveItems+1)}
	moveReadOf := func(cursor, after int) []byte {
		b := binary.AppendUvarint([]byte{wireMoveRead, 1, byte(node.MoveItems), 1}, uint64(cursor))
		b = append(append(b, make([]byte, cursor)...), 0, 0)
		b = binary.AppendUvarint(b, uint64(after))
		return append(b, make([]byte, after)...)
	}
	firstBadOp := kv.OpImport + 1
	firstBadStatus := kv.StatusNotFound + 1
	const unknownFlag = 1 << 6
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"type 0", []byte{0}, "unknown type byte 0"},
		{"type 7", []byte{7, 0, 0}, "unknown type byte 7"},
		{"type 255", []byte{255}, "unknown type byte 255"},
		{"request trailing", append(bytes.Clone(request), 1, 2), "kv.request: 1 stray bytes"},
		{"request unknown flag", append(bytes.Clone(request), unknownFlag), "kv.request: unknown request flags 0x40"},
		{"request unknown flag with known ones", append(bytes.Clone(request), unknownFlag|requestStale), "kv.request: unknown request flags 0x41"},
		{"request history on a get", append(bytes.Clone(request), 4), "kv.request: a get cannot ask for history"},
		{"request history on a put-object", with(objectPut, objectPutFlags, 6), "kv.request: a put-object cannot ask for history"},
		{"request history without the object", append(with(request, 4, byte(kv.OpGetObject)), 4), "kv.request: a get-object without its object part"},
		{"request stale put", append(enc(&kv.Request{Client: "c", Seq: 1, Op: kv.OpPut, Key: "k"}), 1), "kv.request: a put cannot be stale"},
		{"request stale put-object", with(objectPut, objectPutFlags, 3), "kv.request: a put-object cannot be stale"},
		{"request op 0", with(request, 4, 0), "kv.request: unknown op 0"},
		{"request first unknown op", with(request, opAt, byte(firstBadOp)), fmt.Sprintf("kv.request: unknown op %d", firstBadOp)},
		{"request op 255", with(request, opAt, 255), "kv.request: unknown op 255"},
		{"request process", with(request, opAt, byte(kv.OpProcess)), "kv.request: a leader's own command"},
		{"request bucket step", with(request, opAt, byte(kv.OpBucket)), "kv.request: a leader's own command"},
		{"request import", with(request, opAt, byte(kv.OpImport)), "kv.request: a leader's own command"},
		{"request message on a get", append(append(bytes.Clone(request), requestMessage), messagePart...), "kv.request: a get with a message part"},
		{"request message on a read-queue", append(append(with(request, opAt, byte(kv.OpReadQueue)), requestMessage), messagePart...),
			"kv.request: a read-queue with a message part"},
		{"request enqueue without message", with(request, opAt, byte(kv.OpEnqueue)), "kv.request: an enqueue without its message part"},
		{"request stale enqueue", with(enqueue, requestFlags, requestStale|requestMessage), "kv.request: an enqueue cannot be stale"},
		{"request enqueue with a queue part", with(enqueue, requestFlags, requestMessage|requestQueue), "kv.request: an enqueue with a queue part"},
		{"request unsorted headers", bytes.Replace(enqueue, []byte("\x01a\x011\x01b\x012"), []byte("\x01b\x012\x01a\x011"), 1),
			`kv.request: message: header "a": headers must be sorted by name, each once`},
		{"request repeated header", bytes.Replace(enqueue, []byte("\x01b\x012"), []byte("\x01a\x012"), 1), `kv.request: message: header "a": headers must be sorted`},
		{"request empty header name", bytes.Replace(enqueue, []byte("\x02\x01a\x011"), []byte("\x02\x00\x00\x00\x00"), 1), "kv.request: message: header 0: an empty name"},
		{"request message without id", bytes.Replace(enqueue, []byte("\x01m\x00\x02"), []byte("\x00\x00\x02"), 1), "kv.request: message: a message without an id"},
		{"request message id too long", append(append(bytes.Clone(request[:opAt]), byte(kv.OpEnqueue), 0, 0, 0, requestMessage, 0x81, 0x02),
			append(bytes.Repeat([]byte{'i'}, kv.MaxMessageID+1), 0, 0, 0)...), "kv.request: message: a message id of 257 bytes, at most 256"},
		{"request headers over the bound", overHeaders, fmt.Sprintf("kv.request: message: %d headers, at most %d", kv.MaxHeaders+1, kv.MaxHeaders)},
		{"request huge header count", bytes.Replace(enqueue, []byte("\x01m\x00\x02"), []byte("\x01m\x00\x7f"), 1), "kv.request: a count of 127 items runs past the end"},
		// The length is refused before a byte of the payload is looked for.
		{"request payload over the bound", append(bytes.Clone(enqueue[:len(enqueue)-3]), binary.AppendUvarint(nil, kv.MaxPayload+1)...),
			fmt.Sprintf("kv.request: a payload of %d bytes, at most %d", kv.MaxPayload+1, kv.MaxPayload)},
		{"request message truncated", enqueue[:len(enqueue)-1], "kv.request: a string of 2 bytes runs past the end"},
		{"request message trailing", append(bytes.Clone(enqueue), 0), "kv.request: 1 stray bytes"},
		{"request queue on a put", append(append(bytes.Clone(put), requestQueue), queuePart...), "kv.request: a put with a queue part"},
		{"request queue on a put-object", append(with(objectPut, objectPutFlags, requestObject|requestQueue), queuePart...),
			"kv.request: a put-object with a queue part"},
		{"request read-queue without queue", with(request, opAt, byte(kv.OpReadQueue)), "kv.request: a read-queue without its queue part"},
		{"request stale read-queue without queue", append(with(request, opAt, byte(kv.OpReadQueue)), requestStale), "kv.request: a read-queue without its queue part"},
		{"request repair without queue", with(request, opAt, byte(kv.OpRepair)), "kv.request: a repair without its queue part"},
		{"request stale repair", with(repair, requestFlags, requestStale|requestQueue), "kv.request: a repair cannot be stale"},
		{"request limit over the page", bytes.Replace(readQueue, []byte("repair\x00\x05"), binary.AppendUvarint([]byte("repair\x00"), kv.MaxQueuePage+1), 1),
			fmt.Sprintf("kv.request: a queue page of %d entries, at most %d", kv.MaxQueuePage+1, kv.MaxQueuePage)},
		{"request unknown repair action", with(repair, len(repair)-6, byte(kv.RepairEdit+1)), fmt.Sprintf("kv.request: unknown repair action %d", kv.RepairEdit+1)},
		{"request repair payload over the bound", append(bytes.Clone(repair[:len(repair)-4]), binary.AppendUvarint(nil, kv.MaxPayload+1)...),
			fmt.Sprintf("kv.request: a payload of %d bytes, at most %d", kv.MaxPayload+1, kv.MaxPayload)},
		{"request queue truncated", readQueue[:len(readQueue)-1], "kv.request: truncated"},
		{"request queue trailing", append(bytes.Clone(repair), 0), "kv.request: 1 stray bytes"},
		{"request repair outbound flag 2", with(repair, len(repair)-1, 2), "kv.request: a flag is 2"},
		{"response outbound entries over the bound", append(bytes.Clone(response), append([]byte{responseQueue, 1, 'r', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			append(binary.AppendUvarint(nil, kv.MaxQueuePage+1), bytes.Repeat(make([]byte, minWireOutEntry), kv.MaxQueuePage+1)...)...)...),
			fmt.Sprintf("kv.response: %d outbound repair entries, over %d", kv.MaxQueuePage+1, kv.MaxQueuePage)},
		{"response destination past the end", append(bytes.Clone(response), responseQueue, 1, 'r', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 5, 'a', 0, 0),
			"kv.response: a string of 5 bytes runs past the end"},
		{"request list on a get", append(append(bytes.Clone(request), requestList), listPart...), "kv.request: a get with a list part"},
		{"request list on a read-queue", append(with(readQueue, requestFlags, requestQueue|requestList), listPart...),
			"kv.request: a read-queue with a list part"},
		{"request list-objects without list", with(request, opAt, byte(kv.OpListObjects)), "kv.request: a list-objects without its list part"},
		{"request stale list-objects without list", append(with(request, opAt, byte(kv.OpListObjects)), requestStale), "kv.request: a list-objects without its list part"},
		{"request list limit 0", bytes.Replace(list, []byte{5, 50}, []byte{0, 50}, 1), "kv.request: list: a page of 0 objects, want 1 to 1000"},
		{"request list limit over the page", bytes.Replace(list, []byte{5, 50}, append(binary.AppendUvarint(nil, kv.MaxListPage+1), 50), 1),
			"kv.request: list: a page of 1001 objects, want 1 to 1000"},
		{"request list huge limit", bytes.Replace(list, []byte{5, 50}, append(binary.AppendUvarint(nil, math.MaxUint64), 50), 1),
			"kv.request: list: a page of 18446744073709551615 objects"},
		{"request list scan over the bound", bytes.Replace(list, []byte{5, 50}, append([]byte{5}, binary.AppendUvarint(nil, kv.MaxListScan+1)...), 1),
			"kv.request: list: a scan of 10001 objects, at most 10000"},
		{"request list padded scan", bytes.Replace(list, []byte{5, 50}, []byte{5, 0xb2, 0x00}, 1), "kv.request: a number is not minimally encoded"},
		{"request list truncated", list[:len(list)-1], "kv.request: truncated"},
		{"request list trailing", append(bytes.Clone(list), 0), "kv.request: 1 stray bytes"},
		{"response list truncated", listResponse[:len(listResponse)-1], "kv.response: truncated"},
		{"response list more 2", bytes.Replace(listResponse, []byte{responseList, 1, 'r', 1}, []byte{responseList, 1, 'r', 2}, 1), "kv.response: a flag is 2"},
		{"response list page over the bound", overList, fmt.Sprintf("kv.response: a list page of %d objects, over %d", kv.MaxListPage+1, kv.MaxListPage)},
		{"response list huge count", append(bytes.Clone(response), responseList, 1, 'r', 0, 0, 0x7f), "kv.response: a count of 127 items runs past the end"},
		{"response list trailing", append(bytes.Clone(listResponse), 0), "kv.response: 1 stray bytes"},
		{"request object op without object", with(request, 4, byte(kv.OpPutObject)), "kv.request: a put-object without its object part"},
		{"request stale object op without object", append(with(request, 4, byte(kv.OpGetObject)), 1), "kv.request: a get-object without its object part"},
		{"request object on a get", append(bytes.Clone(request), 2, 0, 0, 0, 0, 0, 0), "kv.request: a get with an object part"},
		{"request object truncated", objectPut[:len(objectPut)-1], "kv.request: truncated"},
		{"request object trailing", append(bytes.Clone(objectPut), 0), "kv.request: 1 stray bytes"},
		{"request object if-absent 2", with(objectPut, len(objectPut)-1, 2), "kv.request: a flag is 2"},
		{"request object version", bytes.Replace(objectPut, []byte{0x01, 't', 0x00, 0x02}, []byte{0x01, 't', 0x00, 0x80, 0x80, 0x80, 0x80, 0x08}, 1),
			"kv.request: model version 2147483648 is out of range"},
		{"request object padded version", bytes.Replace(objectPut, []byte{0x01, 't', 0x00, 0x02}, []byte{0x01, 't', 0x00, 0x82, 0x00}, 1),
			"kv.request: a number is not minimally encoded"},
		{"request flag 2", with(request, len(request)-1, 2), "kv.request: a flag is 2"},
		{"request string past end", with(request, 1, 100), "kv.request: a string of 100 bytes runs past the end"},
		{"request huge string", append([]byte{wireRequest}, binary.AppendUvarint(nil, math.MaxUint64)...), "kv.request: a string of 18446744073709551615 bytes"},
		{"request padded seq", []byte{wireRequest, 0x00, 0x81, 0x00, 0x01, 0x00, 0x00, 0x00}, "kv.request: a number is not minimally encoded"},
		{"request truncated varint", []byte{wireRequest, 0x80}, "kv.request: truncated"},
		{"response status 0", with(response, 4, 0), "kv.response: unknown status 0"},
		{"response first unknown status", with(response, 4, byte(firstBadStatus)), fmt.Sprintf("kv.response: unknown status %d", firstBadStatus)},
		{"response flags 0", append(bytes.Clone(response), 0), "kv.response: response flags 0x0"},
		{"response unknown flag", append(bytes.Clone(response), unknownFlag), "kv.response: unknown response flags 0x40"},
		{"response zero retry-after", append(bytes.Clone(response), responseRetry, 0), "kv.response: a zero retry-after"},
		{"response retry-after out of range", append(append(bytes.Clone(response), responseRetry), binary.AppendUvarint(nil, math.MaxInt64+1)...),
			"kv.response: a retry-after of 9223372036854775808 nanoseconds is out of range"},
		{"response retry-after without its value", append(bytes.Clone(response), responseRetry), "kv.response: truncated"},
		{"response padded retry-after", append(bytes.Clone(response), responseRetry, 0x81, 0x00), "kv.response: a number is not minimally encoded"},
		{"response queue without its state", append(bytes.Clone(response), responseQueue), "kv.response: truncated"},
		{"response queue truncated", repairListing[:len(repairListing)-1], "kv.response: queue entry 0: truncated"},
		{"response queue entry past the end", listing[:len(listing)-1], "kv.response: a count of 1 items runs past the end"},
		{"response queue trailing", append(bytes.Clone(listing), 0), "kv.response: 1 stray bytes"},
		{"response queue entries over the bound", overPage, fmt.Sprintf("kv.response: %d queue entries, over %d", kv.MaxQueuePage+1, kv.MaxQueuePage)},
		{"response huge queue entry count", queueState(responseQueue, 0x7f, 0, 0), "kv.response: a count of 127 items runs past the end"},
		{"response queue depth out of range", bytes.Replace(queueState(responseQueue, 0), []byte{1, 'r', 0}, append([]byte{1, 'r'}, binary.AppendUvarint(nil, math.MaxUint64)...), 1),
			"kv.response: depth 18446744073709551615 is out of range"},
		{"response queue padded oldest-at", bytes.Replace(queueState(responseQueue, 0), []byte{1, 'r', 0, 0, 0, 0, 0}, []byte{1, 'r', 0, 0, 0, 0, 0x80, 0x00}, 1),
			"kv.response: a number is not minimally encoded"},
		{"response queue entry without id", bytes.Replace(repairListing, []byte("\x01m\x00\x00\x02{}"), []byte("\x00\x00\x00\x02{}"), 1),
			"kv.response: queue entry 0: message: a message without an id"},
		{"response queue entry padded at", bytes.Replace(repairListing, []byte("\x02{}\x00"), []byte("\x02{}\x80\x00"), 1),
			"kv.response: queue entry 0: a number is not minimally encoded"},
		{"response queue entry unsorted headers", append(queueState(responseQueue, 1, 0, 1, 'm', 0, 2, 1, 'b', 0, 1, 'a', 0), minEntry[5:]...),
			`kv.response: queue entry 0: message: header "a": headers must be sorted`},
		{"response queue and retry-after trailing", append(append(bytes.Clone(listing[:len(response)]), responseQueue|responseRetry), append(listing[len(response)+1:], 5, 0)...),
			"kv.response: 1 stray bytes"},
		{"response empty history", append(bytes.Clone(response), 4, 0), "kv.response: an empty history"},
		{"response history truncated", historyResponse[:len(historyResponse)-1], "kv.response: truncated"},
		{"response history trailing", append(bytes.Clone(historyResponse), 0), "kv.response: 1 stray bytes"},
		{"response history without its count", append(bytes.Clone(response), 4), "kv.response: truncated"},
		{"response huge history count", append(bytes.Clone(response), 4, 0xff, 0xff, 0x03, 0, 0, 0, 0, 0, 0), "kv.response: a count of 65535 items runs past the end"},
		{"response history over the bound", overHistory, fmt.Sprintf("kv.response: %d history records, over %d", kv.MaxHistory+1, kv.MaxHistory)},
		{"response history version", append(bytes.Clone(response), 4, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0, 0), "kv.response: model version 4294967295 is out of range"},
		{"response history entry unique 2", with(historyResponse, len(historyResponse)-1, 2), "kv.response: a flag is 2"},
		{"response empty error", append(bytes.Clone(response), 1, 0), "kv.response: an empty error"},
		{"response error truncated", append(bytes.Clone(response), 1, 5, 'e'), "kv.response: a string of 5 bytes runs past the end"},
		{"response trailing", append(bytes.Clone(objectResponse), 0), "kv.response: 1 stray bytes"},
		{"response object truncated", objectResponse[:len(objectResponse)-1], "kv.response: truncated"},
		{"response huge entry count", append(bytes.Clone(response), 2, 0, 0, 0, 1, 0, 0xff, 0xff, 0x03), "kv.response: a count of 65535 items runs past the end"},
		{"response entry unique 2", with(objectResponse, len(objectResponse)-1, 2), "kv.response: a flag is 2"},
		{"response object version", append(bytes.Clone(response), 2, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0, 0), "kv.response: model version 4294967295 is out of range"},
		{"hello unsorted domain", bytes.Replace(hello, []byte("\x01a\x011\x01b\x012"), []byte("\x01b\x012\x01a\x011"), 1), `live.hello: member "n": domain key "a" after "b"`},
		{"hello duplicate domain key", bytes.Replace(hello, []byte("\x01b"), []byte("\x01a"), 1), `domain key "a" after "a"`},
		{"hello huge member count", []byte{wireHello, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, "live.hello: a count of 4294967295 items runs past the end"},
		{"hello huge domain count", []byte{wireHello, 0, 0, 0, 0x7f, 0, 0}, "a count of 127 items runs past the end"},
		{"hello bootstrapped 2", []byte{wireHello, 0, 0, 0, 0, 0, 2, 0}, "live.hello: a flag is 2"},
		{"move read part 0", with(moveRead, partAt, 0), "move.read: unknown part 0"},
		{"move read first unknown part", with(moveRead, partAt, byte(node.MoveDedup+1)), fmt.Sprintf("move.read: unknown part %d", node.MoveDedup+1)},
		{"move read part 255", with(moveRead, partAt, 255), "move.read: unknown part 255"},
		{"move read unknown part truncated", []byte{wireMoveRead, 1, 0}, "move.read: unknown part 0"},
		{"move read unknown flag", append(bytes.Clone(moveRead), 2), "move.read: unknown move read flags 0x2"},
		{"move read unknown flag with freeze", with(moveFreeze, len(moveFreeze)-1, moveReadFreeze|unknownFlag), "move.read: unknown move read flags 0x41"},
		{"move read flags 0", append(bytes.Clone(moveRead), 0), "move.read: move read flags 0x0"},
		{"move read trailing", append(bytes.Clone(moveFreeze), 0), "move.read: 1 stray bytes"},
		{"move read truncated", moveRead[:len(moveRead)-1], "move.read: a string of 1 bytes runs past the end"},
		{"move read truncated cursor", moveRead[:5], "move.read: a string of 1 bytes runs past the end"},
		{"move read without a part", []byte{wireMoveRead, 1}, "move.read: truncated"},
		{"move read padded move", []byte{wireMoveRead, 0x81, 0x00, 1, 1, 0, 0, 0, 0}, "move.read: a number is not minimally encoded"},
		{"move read padded change", []byte{wireMoveRead, 1, 1, 1, 0, 0x80, 0x00, 0, 0}, "move.read: a number is not minimally encoded"},
		{"move read change n over a uint32", append(binary.AppendUvarint([]byte{wireMoveRead, 1, 1, 1, 0, 0}, math.MaxUint32+1), 0),
			"move.read: change cursor record 4294967296 is out of range"},
		{"move read cursor over the bound", moveReadOf(maxWireMoveCursor+1, 0),
			fmt.Sprintf("move.read: a cursor of %d bytes, at most %d", maxWireMoveCursor+1, maxWireMoveCursor)},
		{"move read after over the bound", moveReadOf(0, maxWireMoveAfter+1),
			fmt.Sprintf("move.read: a client of %d bytes to read after, at most %d", maxWireMoveAfter+1, maxWireMoveAfter)},
		{"move read huge cursor", append([]byte{wireMoveRead, 1, 1, 1}, binary.AppendUvarint(nil, math.MaxUint64)...), "move.read: a string of 18446744073709551615 bytes"},
		{"move page part 0", with(notSending, partAt, 0), "move.page: unknown part 0"},
		{"move page first unknown part", with(okPage, partAt, byte(node.MoveDedup+1)), fmt.Sprintf("move.page: unknown part %d", node.MoveDedup+1)},
		{"move page first unknown status", with(notSending, statusAt, byte(node.MoveUnplaced+1)), fmt.Sprintf("move.page: unknown status %d", node.MoveUnplaced+1)},
		{"move page status 255", with(okPage, statusAt, 255), "move.page: unknown status 255"},
		{"move page ok without its import", with(notSending, statusAt, byte(node.MovePageOK)), "move.page: an ok page without its import"},
		{"move page not sending with an import", with(okPage, statusAt, byte(node.MoveNotSending)),
			"move.page: a page of status not-sending with an import: only an ok page holds one"},
		{"move page not frozen with an import", with(okPage, statusAt, byte(node.MoveNotFrozen)), "move.page: a page of status not-frozen with an import"},
		{"move page unplaced with an import", with(okPage, statusAt, byte(node.MoveUnplaced)), "move.page: a page of status unplaced with an import"},
		{"move page of a put", pageOf(importCommand(kv.Command{Op: kv.OpPut, Key: "k", Value: "v"})), "move.page: page: a put command, not an import"},
		{"move page of a bucket step", pageOf(importCommand(kv.Command{Op: kv.OpBucket, Bucket: &kv.BucketStep{Kind: kv.StepSend, Move: 1, Buckets: 1}})),
			"move.page: page: a bucket command, not an import"},
		{"move page of a read", pageOf([]byte{byte(kv.OpGet), 0, 0, 0, 0, 0, 0}), "move.page: page: kv: decoding a command: get is not a write"},
		{"move page import with a client", pageOf(importCommand(kv.Command{Client: "c", Seq: 1, Op: kv.OpImport, Import: anImport})),
			`move.page: page: an import with a client's fields (client "c", seq 1, key "")`},
		{"move page import with an expected value", pageOf(importCommand(kv.Command{Op: kv.OpImport, Expected: kv.Value{S: "x"}, Import: anImport})),
			"move.page: page: an import with a client's fields"},
		{"move page import of a bucket out of range", pageOf(importCommand(kv.Command{Op: kv.OpImport, Import: &kv.Import{Move: 1, Bucket: 2, Buckets: 2}})),
			"move.page: page: kv: decoding a command: bucket 2 of 2"},
		{"move page import of another bucket's key", pageOf(importCommand(kv.Command{Op: kv.OpImport, Import: &kv.Import{Move: 1, Bucket: 3, Buckets: 4,
			Items: []kv.Item{{Key: keyInBucket(2, 4)}}}})), "move.page: page: kv: decoding a command: key \"" + keyInBucket(2, 4) + "\" is in bucket 2, not 3"},
		{"move page import of an absent value with bytes", pageOf(importCommand(kv.Command{Op: kv.OpImport, Import: &kv.Import{Move: 1, Buckets: 1,
			Items: []kv.Item{{Key: "k", Value: kv.Value{S: "x"}}}}})), "move.page: page: kv: decoding a command: an absent value with bytes"},
		{"move page import over the items bound", pageOf(importCommand(kv.Command{Op: kv.OpImport, Import: overItems})),
			fmt.Sprintf("move.page: page: kv: decoding a command: %d items, at most %d", kv.MaxMoveItems+1, kv.MaxMoveItems)},
		{"move page import trailing", pageOf(append(bytes.Clone(okImport), 0)), "move.page: page: kv: decoding a command: 1 stray bytes"},
		{"move page import truncated", pageOf(okImport[:len(okImport)-1]), "move.page: page: kv: decoding a command: truncated"},
		{"move page garbage import", pageOf([]byte{0xff}), "move.page: page: kv: decoding a command: truncated"},
		{"move page page past the end", pageOf(okImport)[:len(pageOf(okImport))-1], "move.page: a string of 18 bytes runs past the end (17 left)"},
		{"move page trailing", append(bytes.Clone(okPage), 0), "move.page: 1 stray bytes"},
		{"move page truncated", notSending[:len(notSending)-2], "move.page: a string of 2 bytes runs past the end (1 left)"},
		{"move page without its page", notSending[:len(notSending)-1], "move.page: truncated"},
		{"move page unknown flag", append(bytes.Clone(notSending), 4), "move.page: unknown move page flags 0x4"},
		{"move page unknown flag with done", with(okPage, len(okPage)-1, movePageDone|unknownFlag), "move.page: unknown move page flags 0x41"},
		{"move page flags 0", append(bytes.Clone(notSending), 0), "move.page: move page flags 0x0"},
		{"move page change n over a uint32", append(binary.AppendUvarint([]byte{wireMovePage, 1, 1, 1, 1, 0, 0}, math.MaxUint32+1), 0, 0, 0),
			"move.page: change cursor record 4294967296 is out of range"},
		{"raft truncated group", []byte{wireRaft, 0x80}, "raft message: truncated"},
		{"raft garbage", []byte{wireRaft, 1, 0xff, 0xff, 0xff}, "raft message: a protobuf tag is truncated"},
		{"raft past end", []byte{wireRaft, 1, 0x3a, 0x05, 0x00}, "raft message: a protobuf field runs past the end"},
		{"raft not canonical order", swapped, "raft message: the raft message is not in its canonical protobuf encoding"},
		{"raft padded varint", padded, "not in its canonical protobuf encoding"},
		{"raft unknown field", unknownField, "not in its canonical protobuf encoding"},
		{"raft group wire type", groupWire, "raft message: protobuf wire type 3 is not allowed"},
		{"raft responses", withResponses, "raft message: it carries responses"},
		{"raft unknown type", raft(pb.Message{Type: 99}), "raft message: unknown raft message type 99"},
		{"raft unknown entry type", raft(pb.Message{Type: pb.MsgApp, Entries: []pb.Entry{{}, {Type: 7}}}), "raft message: entry 1: unknown entry type 7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := DecodeMessage(c.b)
			if err == nil {
				t.Fatalf("decoded %#v, want an error", m)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "live: decoding") {
				t.Fatalf("error %q, want one containing %q", err, c.want)
			}
		})
	}
}

type strangeMessage struct{}

func (strangeMessage) Kind() string { return "strange" }

func TestEncodeMessageRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		m    env.Message
		want string
	}{
		{"unknown type", strangeMessage{}, `cannot encode a message of type live.strangeMessage (kind "strange")`},
		{"nil", nil, "nil message"},
		{"nil request", (*kv.Request)(nil), "nil *kv.Request"},
		{"nil hello", (*Hello)(nil), "nil *live.Hello"},
		{"object op without object", &kv.Request{Op: kv.OpPutObject}, "a put-object with object part false"},
		{"object on a put", &kv.Request{Op: kv.OpPut, Object: &kv.ObjectRequest{}}, "a put with object part true"},
		{"negative version", &kv.Request{Op: kv.OpPutObject, Object: &kv.ObjectRequest{Version: -1}}, "model version -1 is out of range"},
		{"huge version", &kv.Response{Object: &kv.ObjectRecord{Version: math.MaxInt32 + 1}}, "model version 2147483648 is out of range"},
		{"history on a put-object", &kv.Request{Op: kv.OpPutObject, Object: &kv.ObjectRequest{History: true}}, "a put-object asks for history"},
		{"history on a delete-object", &kv.Request{Op: kv.OpDeleteObject, Object: &kv.ObjectRequest{History: true}}, "a delete-object asks for history"},
		{"history too long", &kv.Response{History: make([]kv.ObjectRecord, kv.MaxHistory+1)}, "1001 history records, over 1000"},
		{"history huge version", &kv.Response{History: []kv.ObjectRecord{{}, {Version: -1}}}, "history record 1: model version -1 is out of range"},
		{"process", &kv.Request{Op: kv.OpProcess}, "a leader's own command"},
		{"import", &kv.Request{Op: kv.OpImport}, "a leader's own command"},
		{"enqueue without message", &kv.Request{Op: kv.OpEnqueue}, "an enqueue with message part false"},
		{"message on a get", &kv.Request{Op: kv.OpGet, Message: &kv.Message{ID: "m"}}, "a get with message part true"},
		{"message on a repair", &kv.Request{Op: kv.OpRepair, Message: &kv.Message{ID: "m"}, Queue: &kv.QueueRequest{}}, "a repair with message part true"},
		{"message without id", &kv.Request{Op: kv.OpEnqueue, Message: &kv.Message{}}, "message: a message without an id"},
		{"unsorted headers", &kv.Request{Op: kv.OpEnqueue, Message: &kv.Message{ID: "m", Headers: []kv.Header{{Name: "b"}, {Name: "a"}}}},
			`message: header "a": headers must be sorted by name, each once`},
		{"message payload too large", &kv.Request{Op: kv.OpEnqueue, Message: &kv.Message{ID: "m", Payload: make([]byte, kv.MaxPayload+1)}},
			"message: a payload of 1048577 bytes, at most 1048576"},
		{"read-queue without queue", &kv.Request{Op: kv.OpReadQueue}, "a read-queue with queue part false"},
		{"repair without queue", &kv.Request{Op: kv.OpRepair}, "a repair with queue part false"},
		{"queue on a put", &kv.Request{Op: kv.OpPut, Queue: &kv.QueueRequest{}}, "a put with queue part true"},
		{"queue on an enqueue", &kv.Request{Op: kv.OpEnqueue, Message: &kv.Message{ID: "m"}, Queue: &kv.QueueRequest{}}, "an enqueue with queue part true"},
		{"limit over the page", &kv.Request{Op: kv.OpReadQueue, Queue: &kv.QueueRequest{Limit: kv.MaxQueuePage + 1}}, "a queue page of 1001 entries, at most 1000"},
		{"negative limit", &kv.Request{Op: kv.OpReadQueue, Queue: &kv.QueueRequest{Limit: -1}}, "a queue page of -1 entries"},
		{"unknown repair action", &kv.Request{Op: kv.OpRepair, Queue: &kv.QueueRequest{Action: kv.RepairEdit + 1}}, "unknown repair action 4"},
		{"repair payload too large", &kv.Request{Op: kv.OpRepair, Queue: &kv.QueueRequest{Action: kv.RepairEdit, Payload: make([]byte, kv.MaxPayload+1)}},
			"a payload of 1048577 bytes, at most 1048576"},
		{"negative retry-after", &kv.Response{Status: kv.StatusBusy, RetryAfter: -1}, "a negative retry-after -1"},
		{"list-objects without list", &kv.Request{Op: kv.OpListObjects}, "a list-objects with list part false"},
		{"list on a get", &kv.Request{Op: kv.OpGet, List: &kv.ListRequest{Limit: 1}}, "a get with list part true"},
		{"list limit 0", &kv.Request{Op: kv.OpListObjects, List: &kv.ListRequest{}}, "list: a page of 0 objects, want 1 to 1000"},
		{"list limit over the page", &kv.Request{Op: kv.OpListObjects, List: &kv.ListRequest{Limit: kv.MaxListPage + 1}}, "list: a page of 1001 objects"},
		{"list negative scan", &kv.Request{Op: kv.OpListObjects, List: &kv.ListRequest{Limit: 1, Scan: -1}}, "list: a page of 1 objects, a scan of -1"},
		{"list scan over the bound", &kv.Request{Op: kv.OpListObjects, List: &kv.ListRequest{Limit: 1, Scan: kv.MaxListScan + 1}}, "list: a scan of 10001 objects, at most 10000"},
		{"list filter too long", &kv.Request{Op: kv.OpListObjects, List: &kv.ListRequest{Limit: 1, Filter: make([]byte, kv.MaxListFilter+1)}},
			"list: a filter of 16385 bytes, at most 16384"},
		{"list after too long", &kv.Request{Op: kv.OpListObjects, List: &kv.ListRequest{Limit: 1, After: strings.Repeat("k", kv.MaxListPosition+1)}},
			fmt.Sprintf("list: a position of %d bytes to list after, at most %d", kv.MaxListPosition+1, kv.MaxListPosition)},
		{"list index too long", &kv.Request{Op: kv.OpListObjects, List: &kv.ListRequest{Limit: 1, Index: strings.Repeat("i", kv.MaxTypeLen+1)}},
			"list: an index name of 129 bytes to order by, at most 128"},
		{"list exact key without an index", &kv.Request{Op: kv.OpListObjects, List: &kv.ListRequest{Limit: 1, Exact: true, Key: "k"}},
			"list: an exact index key without an index"},
		{"list key without exact", &kv.Request{Op: kv.OpListObjects, List: &kv.ListRequest{Limit: 1, Index: "i", Key: "k"}},
			"list: an index key without exact"},
		{"list key too long", &kv.Request{Op: kv.OpListObjects, List: &kv.ListRequest{Limit: 1, Index: "i", Exact: true, Key: strings.Repeat("k", kv.MaxIndexKeyLen+1)}},
			"list: an index key of 4097 bytes, at most 4096"},
		{"list page too long", &kv.Response{List: &kv.ListPage{Objects: make([]kv.ObjectRecord, kv.MaxListPage+1)}}, "a list page of 1001 objects, over 1000"},
		{"list page huge version", &kv.Response{List: &kv.ListPage{Objects: []kv.ObjectRecord{{}, {Version: -1}}}}, "listed object 1: model version -1 is out of range"},
		{"queue entries over the page", &kv.Response{Queue: &kv.QueueState{Entries: make([]kv.RepairEntry, kv.MaxQueuePage+1)}}, "queue state: 1001 queue entries, over 1000"},
		{"negative depth", &kv.Response{Queue: &kv.QueueState{Depth: -1}}, "queue state: a negative count (depth -1"},
		{"queue entry without id", &kv.Response{Queue: &kv.QueueState{Entries: []kv.RepairEntry{{Queued: kv.Queued{Message: kv.Message{ID: "m"}}}, {}}}},
			"queue state: queue entry 1: message: a message without an id"},
		{"queue entry negative attempts", &kv.Response{Queue: &kv.QueueState{Entries: []kv.RepairEntry{{Queued: kv.Queued{Message: kv.Message{ID: "m"}, Attempts: -1}}}}},
			"queue state: queue entry 0: -1 attempts"},
		{"responses", &node.Message{Msg: pb.Message{Type: pb.MsgStorageAppend, Responses: []pb.Message{{}}}}, "responses are local"},
		{"nil move read", (*node.MoveRead)(nil), "nil *node.MoveRead"},
		{"nil move page", (*node.MovePage)(nil), "nil *node.MovePage"},
		{"move read part 0", &node.MoveRead{}, "live: encoding move.read: unknown part 0"},
		{"move read unknown part", &node.MoveRead{Part: node.MoveDedup + 1}, "unknown part 4"},
		{"move read cursor too long", &node.MoveRead{Part: node.MoveItems, Cursor: make([]byte, maxWireMoveCursor+1)},
			fmt.Sprintf("move.read: a cursor of %d bytes, at most %d", maxWireMoveCursor+1, maxWireMoveCursor)},
		{"move read after too long", &node.MoveRead{Part: node.MoveDedup, After: strings.Repeat("c", maxWireMoveAfter+1)},
			fmt.Sprintf("move.read: a client of %d bytes to read after, at most %d", maxWireMoveAfter+1, maxWireMoveAfter)},
		{"move page part 0", &node.MovePage{Status: node.MoveNotSending}, "live: encoding move.page: unknown part 0"},
		{"move page unknown status", &node.MovePage{Part: node.MoveItems, Status: node.MoveUnplaced + 1}, "move.page: unknown status 4"},
		{"move page ok without its import", &node.MovePage{Part: node.MoveItems}, "move.page: an ok page without its import"},
		{"move page unplaced with an import", &node.MovePage{Part: node.MoveItems, Status: node.MoveUnplaced, Page: &kv.Import{Buckets: 1}},
			"move.page: a page of status unplaced with an import"},
		{"move page after too long", &node.MovePage{Part: node.MoveDedup, Status: node.MoveNotFrozen, After: strings.Repeat("c", maxWireMoveAfter+1)},
			"move.page: a client of"},
		{"move page import of a bucket out of range", &node.MovePage{Part: node.MoveItems, Page: &kv.Import{Bucket: 1, Buckets: 1}},
			"move.page: page: kv: decoding a command: bucket 1 of 1"},
		{"move page import of another bucket's key", &node.MovePage{Part: node.MoveItems, Page: &kv.Import{Bucket: 3, Buckets: 4, Items: []kv.Item{{Key: keyInBucket(2, 4)}}}},
			"is in bucket 2, not 3"},
		{"move page import of an absent value with bytes", &node.MovePage{Part: node.MoveItems, Page: &kv.Import{Buckets: 1, Items: []kv.Item{{Key: "k", Value: kv.Value{S: "x"}}}}},
			"move.page: page: kv: decoding a command: an absent value with bytes"},
		{"move page import of an object without a type", &node.MovePage{Part: node.MoveItems, Page: &kv.Import{Buckets: 1, Items: []kv.Item{{Object: &kv.ObjectState{PK: "p"}}}}},
			"move.page: page: kv: decoding a command: an object type is empty"},
		{"move page import over the dedup bound", &node.MovePage{Part: node.MoveDedup, Page: &kv.Import{Buckets: 1, Dedup: make([]kv.DedupEntry, kv.MaxMoveDedup+1)}},
			fmt.Sprintf("%d dedup entries, at most %d", kv.MaxMoveDedup+1, kv.MaxMoveDedup)},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := EncodeMessage([]byte("x"), c.m)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if string(b) != "x" {
				t.Fatalf("a failed encoding left %q", b)
			}
		})
	}
}

// FuzzDecodeMessage: nothing panics, and whatever decodes re-encodes to
// the same bytes (the encoding is canonical). It starts from codecCases,
// move reads and pages among them, and from pages whose command is not
// an import's or not a page's.
func FuzzDecodeMessage(f *testing.F) {
	for _, c := range codecCases() {
		b, err := EncodeMessage(nil, c.m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, c := range []kv.Command{
		{Op: kv.OpPut, Key: "k", Value: "v"},
		{Op: kv.OpBucket, Bucket: &kv.BucketStep{Kind: kv.StepDrop, Move: 1, Buckets: 1, Keys: []string{"k"}}},
		{Client: "c", Seq: 1, Op: kv.OpImport, Import: &kv.Import{Move: 1, Buckets: 1}},
	} {
		b := []byte{wireMovePage, 1, byte(node.MoveItems), 1, byte(node.MovePageOK), 0, 0, 0, 0, 0}
		f.Add(appendWireString(b, string(c.Encode())))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			if m != nil {
				t.Fatalf("an error (%v) and a message %#v", err, m)
			}
			return
		}
		again, err := EncodeMessage(nil, m)
		if err != nil {
			t.Fatalf("decoded %#v, which does not encode: %v", m, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("not canonical: %x decodes to %#v, which encodes to %x", b, m, again)
		}
	})
}

// TestCodecEmptyHistory: an empty history and a nil one are the same
// response, and a response without one reads as it did before history
// existed.
func TestCodecEmptyHistory(t *testing.T) {
	r := kv.Response{Client: "c", Seq: 1, Status: kv.StatusOK, Object: &kv.ObjectRecord{Type: "t", PK: "p", Revision: 1}}
	a, err := EncodeMessage(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	r.History = []kv.ObjectRecord{}
	b, err := EncodeMessage(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("empty history %x, nil history %x", b, a)
	}
	// The flags byte is the object's alone.
	if want := "03" + "0163" + "01" + "01" + "00" + "00" + "00" + "00" + "02" + "0174" + "0170" + "00" + "01" + "00" + "00"; hexString(a) != want {
		t.Fatalf("got %s\nwant %s", hexString(a), want)
	}
}

// TestCodecMaxHistory: a response carries kv.MaxHistory records, the
// most an object keeps, and not one more. (Not among codecCases: ten
// kilobytes of seed slow the fuzzer down for nothing.)
func TestCodecMaxHistory(t *testing.T) {
	h := make([]kv.ObjectRecord, kv.MaxHistory)
	for i := range h {
		h[i] = kv.ObjectRecord{Type: "t", PK: "p", Version: 1 + i%3, Revision: uint64(i + 1), Value: []byte("{}")}
	}
	r := &kv.Response{Client: "c", Seq: 1, Status: kv.StatusOK, History: h}
	b, err := EncodeMessage(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip: got %d records, want %d", len(got.(*kv.Response).History), len(h))
	}
	r.History = append(h, h[0])
	if _, err := EncodeMessage(nil, r); err == nil || !strings.Contains(err.Error(), "1001 history records, over 1000") {
		t.Fatalf("encoding %d records: %v, want an error", len(r.History), err)
	}
}

// TestCodecMovePositionBounds: a move read and a move page carry a cursor
// and an after at their bounds, the longest a stored key and a client's
// name may need. (Not among codecCases: sixteen kilobytes of seed slow
// the fuzzer down for nothing.)
func TestCodecMovePositionBounds(t *testing.T) {
	cursor := bytes.Repeat([]byte{0xff}, maxWireMoveCursor)
	after := strings.Repeat("c", maxWireMoveAfter)
	for _, m := range []env.Message{
		&node.MoveRead{Move: 1, Part: node.MoveItems, Seq: 1, Cursor: cursor, After: after, Freeze: true},
		&node.MovePage{Move: 1, Part: node.MoveDedup, Seq: 1, Cursor: cursor, After: after, Page: &kv.Import{Move: 1, Buckets: 1}, Done: true},
	} {
		b, err := EncodeMessage(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%s: round trip:\n got %#v\nwant %#v", m.Kind(), got, m)
		}
	}
}
