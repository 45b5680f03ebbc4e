package live

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/node"
)

// Member is what a node says about itself: its name, where its peers and
// clients reach it, its failure domain.
type Member struct {
	Name               env.NodeID
	PeerAddr, HTTPAddr string
	Domain             map[string]string
}

// Hello introduces a node on a new connection and, for discovery, lists
// the members it knows.
type Hello struct {
	From         Member
	Members      []Member
	Bootstrapped bool
	Cluster      string
	// Join, when set, asks a member of a formed cluster to add the
	// sender: it is the join's ID, the same for every retry of one
	// attempt (the configuration applies an ID once, so a retry after a
	// lost answer succeeds and another instance taking the name fails).
	// The member answers once the join is applied, with Config set.
	Join string
	// Config is the cluster configuration (cluster.Config's encoding) in
	// the answer to a join; empty otherwise.
	Config []byte
}

// Kind implements env.Message.
func (*Hello) Kind() string { return "live.hello" }

// The type byte that starts every encoded message. They are part of the
// wire format: never renumber one, only add.
const (
	wireRaft     byte = 1 // *node.Message
	wireRequest  byte = 2 // *kv.Request
	wireResponse byte = 3 // *kv.Response
	wireHello    byte = 4 // *Hello
	wireMoveRead byte = 5 // *node.MoveRead
	wireMovePage byte = 6 // *node.MovePage
)

// EncodeMessage appends m's wire form (a type byte, then its body) to b.
// Every encoding is canonical: DecodeMessage accepts exactly one byte
// string for each value, so equal messages have equal bytes.
//
// Bodies (strings are a uvarint length and the bytes, numbers uvarints
// unless marked varint (zig-zag, as binary.AppendVarint writes them), a
// value that may be absent is a byte 0, or 1 and the string):
//
//	raft:     group | raftpb.Message (gogo protobuf, to the end)
//	request:  client | seq | op byte | key | value | expected value [| flags byte [| object request] [| message] [| queue request] [| list request]]
//	response: client | seq | status byte | value | index | leader | hint [| flags byte [| error] [| object record] [| history] [| queue state] [| retry-after] [| list page]]
//	hello:    from member | member count | members | bootstrapped byte | cluster | join | config
//	member:   name | peer address | http address | domain count | (key | value) in key order
//	object request: type | pk | version | value | if-revision | if-absent byte
//	object record:  type | pk | version | revision | value | entry count | (index | key | unique byte)...
//	history:        record count (1 to kv.MaxHistory) | object record...
//	message:        id | connector | header count | (name | value)... | payload
//	queue request:  replicaset | list | after | limit | action byte | seq | payload
//	queue state:    replicaset | depth | bytes | head | tail | oldest-at varint | repairs | outbound | settled | entry count (0 to kv.MaxQueuePage) | queue entry...
//	queue entry:    seq | message | at varint | attempts | failure key | failure step varint | failure handler | failure reason | failed-at varint
//	retry-after:    nanoseconds (at least 1)
//	list request:   replicaset | type | filter | after | limit (1 to kv.MaxListPage) | scan (0 to kv.MaxListScan) | version | index | desc byte | exact byte | key
//	list page:      replicaset | more byte | last | record count (0 to kv.MaxListPage) | object record...
//	move read:      move | part byte | seq | cursor | change index | change n | after [| flags byte]
//	move page:      move | part byte | seq | status byte | cursor | change index | change n | after | leader | page [| flags byte]
//
// A flags byte follows only when one of its flags is set, so that a
// message without any reads the same to a build that knows none: request
// flags are stale (1: a read, get, get-object or read-queue, from the
// receiver's own state), object (2: an object request follows; set
// exactly for the object ops), history (4: a get-object asks for the
// object's history too), message (8: an inbound message follows; set
// exactly for an enqueue) and queue (16: a queue request follows; set
// exactly for a repair and a read-queue) and list (32: a list request
// follows; set exactly for a list-objects, whose filter holds at most
// kv.MaxListFilter bytes, after at most kv.MaxListPosition and index at
// most kv.MaxTypeLen); response flags
// are error (1: a non-empty error follows), object (2: an object record
// follows), history (4: a history of at least one record follows; an
// empty history is none), queue (8: a queue state follows), retry (16: a
// retry-after follows) and list (32: a list page follows); move read
// flags are freeze (1); move page flags are done (1) and frozen (2). A
// process request is never encoded: it is the leader's own command. A
// message satisfies kv.Message.Check, and a payload (a message's or a
// repair edit's) holds at most kv.MaxPayload bytes; a
// queue request's limit is at most kv.MaxQueuePage and its action 0 or a
// kv.RepairAction. A model version is a uvarint no larger than MaxInt32;
// a uvarint read into an int or int64 field (a depth, attempts, a
// retry-after) no larger than that type holds, and such a field is never
// negative. An absent kv.Value encodes as absent whatever its S holds.
//
// A move's part is one of node.MoveItems, MoveChanges and MoveDedup, a
// page's status one of node.MovePageOK to MoveUnplaced; a cursor holds
// at most maxWireMoveCursor bytes and after at most maxWireMoveAfter; a
// change n is no larger than a uint32. A page's page is the import as a
// kv command (kv.Command.Encode of an OpImport with no other field set,
// which kv.DecodeCommand accepts and which re-encodes to the same
// bytes), present exactly when the status is ok: empty otherwise, as no
// command's encoding is.
func EncodeMessage(b []byte, m env.Message) ([]byte, error) {
	switch m := m.(type) {
	case *node.Message:
		if m == nil {
			break
		}
		if len(m.Msg.Responses) > 0 {
			return b, errors.New("live: encoding raft message: responses are local to a node and never travel")
		}
		b = append(b, wireRaft)
		b = binary.AppendUvarint(b, m.Group)
		n := m.Msg.Size()
		b = slices.Grow(b, n)
		k, err := m.Msg.MarshalToSizedBuffer(b[len(b) : len(b)+n])
		if err != nil || k != n {
			return b, fmt.Errorf("live: encoding raft message: %v", err)
		}
		return b[:len(b)+n], nil
	case *kv.Request:
		if m == nil {
			break
		}
		if (m.Object != nil) != m.Op.IsObject() {
			return b, fmt.Errorf("live: encoding kv.request: %s with object part %v: only the object ops have one", wireOp(m.Op), m.Object != nil)
		}
		if m.List != nil && !wireVersionOK(m.List.Version) {
			return b, fmt.Errorf("live: encoding kv.request: list: model version %d is out of range", m.List.Version)
		}
		if m.Object != nil && !wireVersionOK(m.Object.Version) {
			return b, fmt.Errorf("live: encoding kv.request: model version %d is out of range", m.Object.Version)
		}
		if m.Object != nil && m.Object.History && m.Op != kv.OpGetObject {
			return b, fmt.Errorf("live: encoding kv.request: %s asks for history: only a get-object can", wireOp(m.Op))
		}
		if err := checkWireRequest(m); err != nil {
			return b, fmt.Errorf("live: encoding kv.request: %w", err)
		}
		b = append(b, wireRequest)
		b = appendWireString(b, m.Client)
		b = binary.AppendUvarint(b, m.Seq)
		b = append(b, byte(m.Op))
		b = appendWireString(b, m.Key)
		b = appendWireString(b, m.Value)
		b = appendWireValue(b, m.Expected)
		// Flags follow only when one is set, so that a request without
		// any reads the same to a build that knows none.
		var flags byte
		if m.Stale {
			flags |= requestStale
		}
		if m.Object != nil {
			flags |= requestObject
			if m.Object.History {
				flags |= requestHistory
			}
		}
		if m.Message != nil {
			flags |= requestMessage
		}
		if m.Queue != nil {
			flags |= requestQueue
		}
		if m.List != nil {
			flags |= requestList
		}
		if flags != 0 {
			b = append(b, flags)
		}
		if o := m.Object; o != nil {
			b = appendWireString(b, o.Type)
			b = appendWireString(b, o.PK)
			b = binary.AppendUvarint(b, uint64(o.Version))
			b = appendWireString(b, string(o.Value))
			b = binary.AppendUvarint(b, o.IfRevision)
			b = appendWireBool(b, o.IfAbsent)
		}
		if m.Message != nil {
			b = appendWireMessage(b, m.Message)
		}
		if q := m.Queue; q != nil {
			b = appendWireString(b, q.Replicaset)
			b = appendWireString(b, q.List)
			b = binary.AppendUvarint(b, q.After)
			b = binary.AppendUvarint(b, uint64(q.Limit))
			b = append(b, byte(q.Action))
			b = binary.AppendUvarint(b, q.Seq)
			b = appendWireString(b, string(q.Payload))
			b = appendWireBool(b, q.Outbound)
		}
		if l := m.List; l != nil {
			b = appendWireString(b, l.Replicaset)
			b = appendWireString(b, l.Type)
			b = appendWireString(b, string(l.Filter))
			b = appendWireString(b, l.After)
			b = binary.AppendUvarint(b, uint64(l.Limit))
			b = binary.AppendUvarint(b, uint64(l.Scan))
			b = binary.AppendUvarint(b, uint64(l.Version))
			b = appendWireString(b, l.Index)
			b = appendWireBool(b, l.Desc)
			b = appendWireBool(b, l.Exact)
			b = appendWireString(b, l.Key)
		}
		return b, nil
	case *kv.Response:
		if m == nil {
			break
		}
		if m.Object != nil && !wireVersionOK(m.Object.Version) {
			return b, fmt.Errorf("live: encoding kv.response: model version %d is out of range", m.Object.Version)
		}
		if len(m.History) > kv.MaxHistory {
			return b, fmt.Errorf("live: encoding kv.response: %d history records, over %d", len(m.History), kv.MaxHistory)
		}
		for i := range m.History {
			if !wireVersionOK(m.History[i].Version) {
				return b, fmt.Errorf("live: encoding kv.response: history record %d: model version %d is out of range", i, m.History[i].Version)
			}
		}
		if q := m.Queue; q != nil {
			if err := checkWireQueueState(q); err != nil {
				return b, fmt.Errorf("live: encoding kv.response: queue state: %w", err)
			}
		}
		if m.RetryAfter < 0 {
			return b, fmt.Errorf("live: encoding kv.response: a negative retry-after %d", m.RetryAfter)
		}
		if l := m.List; l != nil {
			if len(l.Objects) > kv.MaxListPage {
				return b, fmt.Errorf("live: encoding kv.response: a list page of %d objects, over %d", len(l.Objects), kv.MaxListPage)
			}
			for i := range l.Objects {
				if !wireVersionOK(l.Objects[i].Version) {
					return b, fmt.Errorf("live: encoding kv.response: listed object %d: model version %d is out of range", i, l.Objects[i].Version)
				}
			}
		}
		b = append(b, wireResponse)
		b = appendWireString(b, m.Client)
		b = binary.AppendUvarint(b, m.Seq)
		b = append(b, byte(m.Status))
		b = appendWireValue(b, m.Value)
		b = binary.AppendUvarint(b, m.Index)
		b = appendWireString(b, string(m.Leader))
		b = appendWireString(b, string(m.Hint))
		var flags byte
		if m.Error != "" {
			flags |= responseError
		}
		if m.Object != nil {
			flags |= responseObject
		}
		if len(m.History) > 0 {
			flags |= responseHistory
		}
		if m.Queue != nil {
			flags |= responseQueue
		}
		if m.RetryAfter != 0 {
			flags |= responseRetry
		}
		if m.List != nil {
			flags |= responseList
		}
		if flags != 0 {
			b = append(b, flags)
		}
		if m.Error != "" {
			b = appendWireString(b, m.Error)
		}
		if m.Object != nil {
			b = appendWireRecord(b, m.Object)
		}
		if len(m.History) > 0 {
			b = binary.AppendUvarint(b, uint64(len(m.History)))
			for i := range m.History {
				b = appendWireRecord(b, &m.History[i])
			}
		}
		if m.Queue != nil {
			b = appendWireQueueState(b, m.Queue)
		}
		if m.RetryAfter != 0 {
			b = binary.AppendUvarint(b, uint64(m.RetryAfter))
		}
		if l := m.List; l != nil {
			b = appendWireString(b, l.Replicaset)
			b = appendWireBool(b, l.More)
			b = appendWireString(b, l.Last)
			b = binary.AppendUvarint(b, uint64(len(l.Objects)))
			for i := range l.Objects {
				b = appendWireRecord(b, &l.Objects[i])
			}
		}
		return b, nil
	case *Hello:
		if m == nil {
			break
		}
		b = append(b, wireHello)
		b = appendWireMember(b, &m.From)
		b = binary.AppendUvarint(b, uint64(len(m.Members)))
		for i := range m.Members {
			b = appendWireMember(b, &m.Members[i])
		}
		b = appendWireBool(b, m.Bootstrapped)
		b = appendWireString(b, m.Cluster)
		b = appendWireString(b, m.Join)
		return appendWireString(b, string(m.Config)), nil
	case *node.MoveRead:
		if m == nil {
			break
		}
		if err := checkWireMove(m.Part, m.Cursor, m.After); err != nil {
			return b, fmt.Errorf("live: encoding move.read: %w", err)
		}
		b = append(b, wireMoveRead)
		b = binary.AppendUvarint(b, m.Move)
		b = append(b, byte(m.Part))
		b = binary.AppendUvarint(b, m.Seq)
		b = appendWireMovePosition(b, m.Cursor, m.Change, m.After)
		if m.Freeze {
			b = append(b, moveReadFreeze)
		}
		return b, nil
	case *node.MovePage:
		if m == nil {
			break
		}
		if err := checkWireMove(m.Part, m.Cursor, m.After); err != nil {
			return b, fmt.Errorf("live: encoding move.page: %w", err)
		}
		if err := checkWireMoveStatus(m.Status, m.Page != nil); err != nil {
			return b, fmt.Errorf("live: encoding move.page: %w", err)
		}
		var page []byte
		if m.Page != nil {
			c := kv.Command{Op: kv.OpImport, Import: m.Page}
			page = c.Encode()
			// The receiver takes only what kv.DecodeCommand does, and
			// would drop the page without a word.
			if _, err := wireImport(page); err != nil {
				return b, fmt.Errorf("live: encoding move.page: page: %w", err)
			}
		}
		b = append(b, wireMovePage)
		b = binary.AppendUvarint(b, m.Move)
		b = append(b, byte(m.Part))
		b = binary.AppendUvarint(b, m.Seq)
		b = append(b, byte(m.Status))
		b = appendWireMovePosition(b, m.Cursor, m.Change, m.After)
		b = appendWireString(b, string(m.Leader))
		b = appendWireString(b, string(page))
		var flags byte
		if m.Done {
			flags |= movePageDone
		}
		if m.Frozen {
			flags |= movePageFrozen
		}
		if flags != 0 {
			b = append(b, flags)
		}
		return b, nil
	default:
		if m == nil {
			return b, errors.New("live: encoding a nil message")
		}
		return b, fmt.Errorf("live: cannot encode a message of type %T (kind %q)", m, m.Kind())
	}
	return b, fmt.Errorf("live: encoding a nil %T", m)
}

// DecodeMessage reads what EncodeMessage wrote. It accepts only the
// canonical encoding of a message and nothing after it; garbage gives an
// error naming the type and the problem.
func DecodeMessage(b []byte) (env.Message, error) {
	if len(b) == 0 {
		return nil, errors.New("live: decoding a message: empty")
	}
	d := wireDecoder{b: b[1:]}
	var m env.Message
	var what string
	switch b[0] {
	case wireRaft:
		what = "raft message"
		m = d.raft()
	case wireRequest:
		what = "kv.request"
		m = d.request()
	case wireResponse:
		what = "kv.response"
		m = d.response()
	case wireHello:
		what = "live.hello"
		m = d.hello()
	case wireMoveRead:
		what = "move.read"
		m = d.moveRead()
	case wireMovePage:
		what = "move.page"
		m = d.movePage()
	default:
		return nil, fmt.Errorf("live: decoding a message: unknown type byte %d", b[0])
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d stray bytes after it", len(d.b)))
	}
	if d.err != nil {
		return nil, fmt.Errorf("live: decoding %s: %w", what, d.err)
	}
	return m, nil
}

func appendWireString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendWireBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendWireValue(b []byte, v kv.Value) []byte {
	if !v.Present {
		return append(b, 0)
	}
	return appendWireString(append(b, 1), v.S)
}

func appendWireRecord(b []byte, o *kv.ObjectRecord) []byte {
	b = appendWireString(b, o.Type)
	b = appendWireString(b, o.PK)
	b = binary.AppendUvarint(b, uint64(o.Version))
	b = binary.AppendUvarint(b, o.Revision)
	b = appendWireString(b, string(o.Value))
	b = binary.AppendUvarint(b, uint64(len(o.Indexes)))
	for _, e := range o.Indexes {
		b = appendWireString(b, e.Index)
		b = appendWireString(b, e.Key)
		b = appendWireBool(b, e.Unique)
	}
	return b
}

func appendWireMember(b []byte, m *Member) []byte {
	b = appendWireString(b, string(m.Name))
	b = appendWireString(b, m.PeerAddr)
	b = appendWireString(b, m.HTTPAddr)
	b = binary.AppendUvarint(b, uint64(len(m.Domain)))
	keys := make([]string, 0, len(m.Domain))
	for k := range m.Domain {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendWireString(b, k)
		b = appendWireString(b, m.Domain[k])
	}
	return b
}

// wireDecoder reads the encodings of this file; the first error sticks, and
// every read after it returns a zero value.
type wireDecoder struct {
	b   []byte
	err error
}

var errWireShort = errors.New("truncated")

func (d *wireDecoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *wireDecoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail(errWireShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *wireDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errWireShort)
		return 0
	}
	if n != wireUvarintLen(v) {
		// A padded varint would give one value two encodings.
		d.fail(errors.New("a number is not minimally encoded"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func wireUvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (d *wireDecoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("a string of %d bytes runs past the end (%d left)", n, len(d.b)))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *wireDecoder) bool() bool {
	switch c := d.byte(); {
	case d.err != nil:
		return false
	case c <= 1:
		return c == 1
	default:
		d.fail(fmt.Errorf("a flag is %d, neither 0 nor 1", c))
		return false
	}
}

func (d *wireDecoder) value() kv.Value {
	if !d.bool() {
		return kv.None
	}
	return kv.Some(d.string())
}

// count reads the number of items that follow, each at least size bytes
// long, so that a lying count cannot make the caller allocate more than
// the input could hold.
func (d *wireDecoder) count(size int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.b)/size) {
		d.fail(fmt.Errorf("a count of %d items runs past the end (%d bytes left)", n, len(d.b)))
		return 0
	}
	return int(n)
}

// page reads the count of a list of a queue state, whose items take at
// least size bytes each: at most kv.MaxQueuePage of them.
func (d *wireDecoder) page(size int, what string) int {
	n := d.count(size)
	if d.err == nil && n > kv.MaxQueuePage {
		d.fail(fmt.Errorf("%d %s, over %d", n, what, kv.MaxQueuePage))
		return 0
	}
	return n
}

// Request flags: a byte after a request's fields, present only when one
// is set.
const (
	requestStale   byte = 1 << 0
	requestObject  byte = 1 << 1 // an object request follows
	requestHistory byte = 1 << 2 // a get-object asks for the history too
	requestMessage byte = 1 << 3 // an inbound message follows (an enqueue)
	requestQueue   byte = 1 << 4 // a queue request follows (a repair, a read-queue)
	requestList    byte = 1 << 5 // a list request follows (a list-objects)
)

// Response flags: a byte after a response's fields, present only when
// one is set.
const (
	responseError   byte = 1 << 0 // a non-empty error follows
	responseObject  byte = 1 << 1 // an object record follows
	responseHistory byte = 1 << 2 // a history of one or more records follows
	responseQueue   byte = 1 << 3 // a queue state follows
	responseRetry   byte = 1 << 4 // a retry-after of at least 1ns follows
	responseList    byte = 1 << 5 // a list page follows
)

// Move flags: a byte after a move read's or a move page's fields, present
// only when one is set.
const (
	moveReadFreeze byte = 1 << 0
	movePageDone   byte = 1 << 0
	movePageFrozen byte = 1 << 1
)

// Bounds on a move's positions. An items cursor is a stored record's key
// after its group's prefix (kv.BucketCursor), the longest of which is an
// object's kept version's: a tag, the type, a zero byte, the primary key
// escaped (two bytes for each zero byte), its end (two bytes) and the
// revision (eight). A plain key's (its tag and the key) is shorter,
// keys being at most MaxKeyLen bytes. A dedup position is a client's
// name, which nodes make (an instance's name and a counter, a
// consumer's lane): it is held to the same bound, far over any.
const (
	maxWireMoveCursor = 1 + kv.MaxTypeLen + 1 + 2*kv.MaxPKLen + 2 + 8
	maxWireMoveAfter  = maxWireMoveCursor
)

// wireOp is op with its article, for errors: "a put", "an enqueue".
func wireOp(op kv.Op) string {
	s := op.String()
	if strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// wireQueueOp reports whether op's request carries a queue request.
func wireQueueOp(op kv.Op) bool { return op == kv.OpRepair || op == kv.OpReadQueue }

// checkWireRequest refuses what the decoder would: a command only a
// leader proposes, parts that do not match the op, and queue parts out
// of bounds.
func checkWireRequest(r *kv.Request) error {
	switch {
	case r.Op.IsLeaders():
		return errors.New("a leader's own command (a process, an outbox, a bucket move's step), never a request")
	case (r.Message != nil) != (r.Op == kv.OpEnqueue):
		return fmt.Errorf("%s with message part %v: only an enqueue has one", wireOp(r.Op), r.Message != nil)
	case (r.Queue != nil) != wireQueueOp(r.Op):
		return fmt.Errorf("%s with queue part %v: only a repair and a read-queue have one", wireOp(r.Op), r.Queue != nil)
	case (r.List != nil) != (r.Op == kv.OpListObjects):
		return fmt.Errorf("%s with list part %v: only a list-objects has one", wireOp(r.Op), r.List != nil)
	}
	if l := r.List; l != nil {
		if l.Limit < 0 || l.Scan < 0 {
			return fmt.Errorf("list: a page of %d objects, a scan of %d", l.Limit, l.Scan)
		}
		if err := checkWireList(uint64(l.Limit), uint64(l.Scan), len(l.Filter), len(l.After), len(l.Index)); err != nil {
			return fmt.Errorf("list: %w", err)
		}
		if err := checkWireExact(l); err != nil {
			return fmt.Errorf("list: %w", err)
		}
	}
	if r.Message != nil {
		if err := r.Message.Check(); err != nil {
			return fmt.Errorf("message: %w", err)
		}
	}
	if q := r.Queue; q != nil {
		switch {
		case q.Limit < 0 || q.Limit > kv.MaxQueuePage:
			return fmt.Errorf("a queue page of %d entries, at most %d", q.Limit, kv.MaxQueuePage)
		case q.Action > kv.RepairEdit:
			return fmt.Errorf("unknown repair action %d", uint8(q.Action))
		case len(q.Payload) > kv.MaxPayload:
			return fmt.Errorf("a payload of %d bytes, at most %d", len(q.Payload), kv.MaxPayload)
		}
	}
	return nil
}

// checkWireList checks a list request's bounds.
func checkWireList(limit, scan uint64, filter, after, index int) error {
	switch {
	case limit < 1 || limit > kv.MaxListPage:
		return fmt.Errorf("a page of %d objects, want 1 to %d", limit, kv.MaxListPage)
	case scan > kv.MaxListScan:
		return fmt.Errorf("a scan of %d objects, at most %d", scan, kv.MaxListScan)
	case filter > kv.MaxListFilter:
		return fmt.Errorf("a filter of %d bytes, at most %d", filter, kv.MaxListFilter)
	case after > kv.MaxListPosition:
		return fmt.Errorf("a position of %d bytes to list after, at most %d", after, kv.MaxListPosition)
	case index > kv.MaxTypeLen:
		return fmt.Errorf("an index name of %d bytes to order by, at most %d", index, kv.MaxTypeLen)
	}
	return nil
}

// checkWireExact checks a list request's exact index key: only with an
// index and Exact, at most kv.MaxIndexKeyLen bytes (kv.ListOrder.Check).
func checkWireExact(l *kv.ListRequest) error {
	switch {
	case l.Exact && l.Index == "":
		return errors.New("an exact index key without an index")
	case !l.Exact && l.Key != "":
		return errors.New("an index key without exact")
	case len(l.Key) > kv.MaxIndexKeyLen:
		return fmt.Errorf("an index key of %d bytes, at most %d", len(l.Key), kv.MaxIndexKeyLen)
	}
	return nil
}

// checkWireQueueState refuses a queue state the decoder would.
func checkWireQueueState(q *kv.QueueState) error {
	switch {
	case q.Depth < 0 || q.Bytes < 0 || q.Repairs < 0 || q.Outbound < 0 || q.OutRepairs < 0:
		return fmt.Errorf("a negative count (depth %d, bytes %d, repairs %d, outbound %d, outbound repairs %d)", q.Depth, q.Bytes, q.Repairs, q.Outbound, q.OutRepairs)
	case len(q.Destinations) > kv.MaxQueuePage || len(q.OutEntries) > kv.MaxQueuePage:
		return fmt.Errorf("%d destinations and %d outbound repair entries, over %d", len(q.Destinations), len(q.OutEntries), kv.MaxQueuePage)
	case len(q.Entries) > kv.MaxQueuePage:
		return fmt.Errorf("%d queue entries, over %d", len(q.Entries), kv.MaxQueuePage)
	}
	for i, ds := range q.Destinations {
		if ds.Depth < 0 {
			return fmt.Errorf("destination %d: depth %d", i, ds.Depth)
		}
	}
	for i := range q.OutEntries {
		if q.OutEntries[i].Attempts < 0 {
			return fmt.Errorf("outbound repair entry %d: %d attempts", i, q.OutEntries[i].Attempts)
		}
	}
	for i := range q.Entries {
		e := &q.Entries[i]
		if err := e.Message.Check(); err != nil {
			return fmt.Errorf("queue entry %d: message: %w", i, err)
		}
		if e.Attempts < 0 {
			return fmt.Errorf("queue entry %d: %d attempts", i, e.Attempts)
		}
	}
	return nil
}

func appendWireMessage(b []byte, m *kv.Message) []byte {
	b = appendWireString(b, m.ID)
	b = appendWireString(b, m.Connector)
	b = binary.AppendUvarint(b, uint64(len(m.Headers)))
	for _, h := range m.Headers {
		b = appendWireString(b, h.Name)
		b = appendWireString(b, h.Value)
	}
	return appendWireString(b, string(m.Payload))
}

func appendWireQueueState(b []byte, q *kv.QueueState) []byte {
	b = appendWireString(b, q.Replicaset)
	b = binary.AppendUvarint(b, uint64(q.Depth))
	b = binary.AppendUvarint(b, uint64(q.Bytes))
	b = binary.AppendUvarint(b, q.Head)
	b = binary.AppendUvarint(b, q.Tail)
	b = binary.AppendVarint(b, q.OldestAt)
	b = binary.AppendUvarint(b, uint64(q.Repairs))
	b = binary.AppendUvarint(b, uint64(q.Outbound))
	b = binary.AppendUvarint(b, q.Settled)
	b = binary.AppendUvarint(b, uint64(q.OutRepairs))
	b = binary.AppendUvarint(b, q.OutTail)
	b = binary.AppendUvarint(b, uint64(len(q.Destinations)))
	for _, ds := range q.Destinations {
		b = appendWireString(b, ds.Destination)
		b = binary.AppendUvarint(b, uint64(ds.Depth))
		b = binary.AppendVarint(b, ds.OldestAt)
	}
	b = binary.AppendUvarint(b, uint64(len(q.OutEntries)))
	for i := range q.OutEntries {
		e := &q.OutEntries[i]
		b = binary.AppendUvarint(b, e.Seq)
		b = binary.AppendUvarint(b, e.Origin)
		b = appendWireString(b, e.Destination)
		b = appendWireString(b, e.Key)
		b = appendWireString(b, e.MessageID)
		b = appendWireString(b, string(e.Value))
		b = binary.AppendVarint(b, e.At)
		b = binary.AppendUvarint(b, uint64(e.Attempts))
		b = appendWireString(b, e.Reason)
		b = binary.AppendVarint(b, e.FailedAt)
	}
	b = binary.AppendUvarint(b, uint64(len(q.Entries)))
	for i := range q.Entries {
		e := &q.Entries[i]
		b = binary.AppendUvarint(b, e.Seq)
		b = appendWireMessage(b, &e.Message)
		b = binary.AppendVarint(b, e.At)
		b = binary.AppendUvarint(b, uint64(e.Attempts))
		b = appendWireString(b, e.Failure.Key)
		b = binary.AppendVarint(b, int64(e.Failure.Step))
		b = appendWireString(b, e.Failure.Handler)
		b = appendWireString(b, e.Failure.Reason)
		b = binary.AppendVarint(b, e.FailedAt)
	}
	return b
}

// wireVersionOK: a model version travels as a uvarint no larger than
// kv.MaxModelVersion.
func wireVersionOK(v int) bool { return v >= 0 && v <= kv.MaxModelVersion }

func (d *wireDecoder) version() int {
	v, err := kv.ModelVersion(d.uvarint())
	if d.err == nil && err != nil {
		d.fail(err)
	}
	return v
}

// bytes reads a string as a byte slice, nil when empty.
func (d *wireDecoder) bytes() []byte {
	if s := d.string(); s != "" {
		return []byte(s)
	}
	return nil
}

// flags reads the flags byte that follows a message's fields if any
// bytes are left: 0 when none are, an error when it is 0 or holds a flag
// outside known.
func (d *wireDecoder) flags(what string, known byte) byte {
	if d.err != nil || len(d.b) == 0 {
		return 0
	}
	switch flags := d.byte(); {
	case flags == 0:
		// One message, one encoding: no flags, no byte.
		d.fail(fmt.Errorf("%s flags 0x0: the byte is written only when a flag is set", what))
	case flags&^known != 0:
		d.fail(fmt.Errorf("unknown %s flags %#x", what, flags))
	default:
		return flags
	}
	return 0
}

func (d *wireDecoder) request() *kv.Request {
	r := &kv.Request{}
	r.Client = d.string()
	r.Seq = d.uvarint()
	r.Op = kv.Op(d.byte())
	switch {
	case d.err != nil:
	case !r.Op.Valid():
		d.fail(fmt.Errorf("unknown op %d", uint8(r.Op)))
	case r.Op.IsLeaders():
		d.fail(errors.New("a leader's own command (a process, an outbox, a bucket move's step), never a request"))
	}
	r.Key = d.string()
	r.Value = d.string()
	r.Expected = d.value()
	flags := d.flags("request", requestStale|requestObject|requestHistory|requestMessage|requestQueue|requestList)
	switch {
	case d.err != nil:
		return r
	case flags&requestHistory != 0 && r.Op != kv.OpGetObject:
		d.fail(fmt.Errorf("%s cannot ask for history: only a get-object can", wireOp(r.Op)))
		return r
	case flags&requestStale != 0 && !r.Op.IsRead():
		d.fail(fmt.Errorf("%s cannot be stale: only a read (get, get-object, read-queue, list-objects) can", wireOp(r.Op)))
		return r
	case flags&requestObject == 0 && r.Op.IsObject():
		d.fail(fmt.Errorf("%s without its object part", wireOp(r.Op)))
		return r
	case flags&requestObject != 0 && !r.Op.IsObject():
		d.fail(fmt.Errorf("%s with an object part: only the object ops have one", wireOp(r.Op)))
		return r
	case flags&requestMessage == 0 && r.Op == kv.OpEnqueue:
		d.fail(fmt.Errorf("%s without its message part", wireOp(r.Op)))
		return r
	case flags&requestMessage != 0 && r.Op != kv.OpEnqueue:
		d.fail(fmt.Errorf("%s with a message part: only an enqueue has one", wireOp(r.Op)))
		return r
	case flags&requestQueue == 0 && wireQueueOp(r.Op):
		d.fail(fmt.Errorf("%s without its queue part", wireOp(r.Op)))
		return r
	case flags&requestQueue != 0 && !wireQueueOp(r.Op):
		d.fail(fmt.Errorf("%s with a queue part: only a repair and a read-queue have one", wireOp(r.Op)))
		return r
	case flags&requestList == 0 && r.Op == kv.OpListObjects:
		d.fail(fmt.Errorf("%s without its list part", wireOp(r.Op)))
		return r
	case flags&requestList != 0 && r.Op != kv.OpListObjects:
		d.fail(fmt.Errorf("%s with a list part: only a list-objects has one", wireOp(r.Op)))
		return r
	}
	r.Stale = flags&requestStale != 0
	if flags&requestObject != 0 {
		o := &kv.ObjectRequest{}
		o.Type = d.string()
		o.PK = d.string()
		o.Version = d.version()
		o.Value = d.bytes()
		o.IfRevision = d.uvarint()
		o.IfAbsent = d.bool()
		o.History = flags&requestHistory != 0
		r.Object = o
	}
	if flags&requestMessage != 0 {
		r.Message = &kv.Message{}
		d.message(r.Message)
	}
	if flags&requestQueue != 0 {
		r.Queue = d.queueRequest()
	}
	if flags&requestList != 0 {
		r.List = d.listRequest()
	}
	return r
}

func (d *wireDecoder) listRequest() *kv.ListRequest {
	l := &kv.ListRequest{Replicaset: d.string(), Type: d.string()}
	l.Filter = d.bytes()
	l.After = d.string()
	limit, scan := d.uvarint(), d.uvarint()
	l.Version = d.version()
	l.Index = d.string()
	l.Desc = d.bool()
	l.Exact = d.bool()
	l.Key = d.string()
	if d.err != nil {
		return l
	}
	if err := checkWireList(limit, scan, len(l.Filter), len(l.After), len(l.Index)); err != nil {
		d.fail(fmt.Errorf("list: %w", err))
		return l
	}
	if err := checkWireExact(l); err != nil {
		d.fail(fmt.Errorf("list: %w", err))
		return l
	}
	l.Limit, l.Scan = int(limit), int(scan)
	return l
}

// minWireHeader is the size of the smallest encoded message header: a
// name of one byte and an empty value.
const minWireHeader = 3

// message reads an inbound message, which must pass kv.Message.Check.
func (d *wireDecoder) message(m *kv.Message) {
	m.ID = d.string()
	m.Connector = d.string()
	n := d.count(minWireHeader)
	switch {
	case d.err != nil:
		return
	case n > kv.MaxHeaders:
		d.fail(fmt.Errorf("message: %d headers, at most %d", n, kv.MaxHeaders))
		return
	case n > 0:
		m.Headers = make([]kv.Header, n)
		for i := range m.Headers {
			m.Headers[i] = kv.Header{Name: d.string(), Value: d.string()}
		}
	}
	m.Payload = d.payload()
	if d.err == nil {
		if err := m.Check(); err != nil {
			d.fail(fmt.Errorf("message: %w", err))
		}
	}
}

// payload reads a string of at most kv.MaxPayload bytes as a byte slice,
// nil when empty; the length is checked before anything is copied.
func (d *wireDecoder) payload() []byte {
	n := d.uvarint()
	switch {
	case d.err != nil:
		return nil
	case n > kv.MaxPayload:
		d.fail(fmt.Errorf("a payload of %d bytes, at most %d", n, kv.MaxPayload))
		return nil
	case n > uint64(len(d.b)):
		d.fail(fmt.Errorf("a string of %d bytes runs past the end (%d left)", n, len(d.b)))
		return nil
	case n == 0:
		return nil
	}
	p := bytes.Clone(d.b[:n])
	d.b = d.b[n:]
	return p
}

func (d *wireDecoder) queueRequest() *kv.QueueRequest {
	q := &kv.QueueRequest{Replicaset: d.string(), List: d.string(), After: d.uvarint()}
	if l := d.uvarint(); d.err == nil && l > kv.MaxQueuePage {
		d.fail(fmt.Errorf("a queue page of %d entries, at most %d", l, kv.MaxQueuePage))
	} else {
		q.Limit = int(l)
	}
	q.Action = kv.RepairAction(d.byte())
	if d.err == nil && q.Action > kv.RepairEdit {
		d.fail(fmt.Errorf("unknown repair action %d", uint8(q.Action)))
	}
	q.Seq = d.uvarint()
	q.Payload = d.payload()
	q.Outbound = d.bool()
	return q
}

// varint reads a zig-zag varint, minimally encoded.
func (d *wireDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errWireShort)
		return 0
	}
	if n != wireUvarintLen(uint64(v<<1)^uint64(v>>63)) {
		d.fail(errors.New("a number is not minimally encoded"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a uvarint that an int holds.
func (d *wireDecoder) int(what string) int {
	v := d.uvarint()
	if d.err == nil && v > math.MaxInt {
		d.fail(fmt.Errorf("%s %d is out of range", what, v))
		return 0
	}
	return int(v)
}

// int64 reads a uvarint that an int64 holds.
func (d *wireDecoder) int64(what string) int64 {
	v := d.uvarint()
	if d.err == nil && v > math.MaxInt64 {
		d.fail(fmt.Errorf("%s %d is out of range", what, v))
		return 0
	}
	return int64(v)
}

// minWireQueueEntry is the size of the smallest encoded queue entry:
// numbers 0, a message with a one-byte id and nothing else, empty
// failure strings.
const minWireQueueEntry = 13

// minWireOutEntry is the size of the smallest encoded outbound repair
// entry: six numbers and four strings, all empty or 0.
const minWireOutEntry = 10

func (d *wireDecoder) queueState() *kv.QueueState {
	q := &kv.QueueState{Replicaset: d.string()}
	q.Depth = d.int("depth")
	q.Bytes = d.int64("bytes")
	q.Head = d.uvarint()
	q.Tail = d.uvarint()
	q.OldestAt = d.varint()
	q.Repairs = d.int("repairs")
	q.Outbound = d.int("outbound")
	q.Settled = d.uvarint()
	q.OutRepairs = d.int("outbound repairs")
	q.OutTail = d.uvarint()
	if nd := d.page(3, "destinations"); nd > 0 {
		q.Destinations = make([]kv.DestinationState, nd)
		for i := range q.Destinations {
			q.Destinations[i] = kv.DestinationState{Destination: d.string(), Depth: d.int("depth"), OldestAt: d.varint()}
		}
	}
	if no := d.page(minWireOutEntry, "outbound repair entries"); no > 0 {
		q.OutEntries = make([]kv.OutRepairEntry, no)
		for i := range q.OutEntries {
			e := &q.OutEntries[i]
			e.Seq, e.Origin = d.uvarint(), d.uvarint()
			e.Destination, e.Key, e.MessageID = d.string(), d.string(), d.string()
			e.Value = d.bytes()
			e.At = d.varint()
			e.Attempts = d.int("attempts")
			e.Reason = d.string()
			e.FailedAt = d.varint()
		}
	}
	if n := d.page(minWireQueueEntry, "queue entries"); n > 0 {
		q.Entries = make([]kv.RepairEntry, n)
		for i := range q.Entries {
			e := &q.Entries[i]
			e.Seq = d.uvarint()
			d.message(&e.Message)
			e.At = d.varint()
			e.Attempts = d.int("attempts")
			e.Failure.Key = d.string()
			if step := d.varint(); d.err == nil && int64(int(step)) != step {
				d.fail(fmt.Errorf("failure step %d is out of range", step))
			} else {
				e.Failure.Step = int(step)
			}
			e.Failure.Handler = d.string()
			e.Failure.Reason = d.string()
			e.FailedAt = d.varint()
			if d.err != nil {
				d.err = fmt.Errorf("queue entry %d: %w", i, d.err)
				break
			}
		}
	}
	return q
}

// minWireEntry is the size of the smallest encoded index entry: two
// empty strings and a flag.
const minWireEntry = 3

func (d *wireDecoder) response() *kv.Response {
	r := &kv.Response{}
	r.Client = d.string()
	r.Seq = d.uvarint()
	r.Status = kv.Status(d.byte())
	if d.err == nil && !r.Status.Valid() {
		d.fail(fmt.Errorf("unknown status %d", uint8(r.Status)))
	}
	r.Value = d.value()
	r.Index = d.uvarint()
	r.Leader = env.NodeID(d.string())
	r.Hint = env.NodeID(d.string())
	flags := d.flags("response", responseError|responseObject|responseHistory|responseQueue|responseRetry|responseList)
	if flags&responseError != 0 {
		if r.Error = d.string(); d.err == nil && r.Error == "" {
			d.fail(errors.New("an empty error: the error flag is set only for one"))
		}
	}
	if flags&responseObject != 0 {
		r.Object = &kv.ObjectRecord{}
		d.record(r.Object)
	}
	if flags&responseHistory != 0 {
		n := d.count(minWireRecord)
		switch {
		case d.err != nil:
		case n == 0:
			d.fail(errors.New("an empty history: the history flag is set only for one"))
		case n > kv.MaxHistory:
			d.fail(fmt.Errorf("%d history records, over %d", n, kv.MaxHistory))
		default:
			r.History = make([]kv.ObjectRecord, n)
			for i := range r.History {
				d.record(&r.History[i])
			}
		}
	}
	if flags&responseQueue != 0 {
		r.Queue = d.queueState()
	}
	if flags&responseRetry != 0 {
		switch v := d.uvarint(); {
		case d.err != nil:
		case v == 0:
			d.fail(errors.New("a zero retry-after: the retry flag is set only for one"))
		case v > math.MaxInt64:
			d.fail(fmt.Errorf("a retry-after of %d nanoseconds is out of range", v))
		default:
			r.RetryAfter = int64(v)
		}
	}
	if flags&responseList != 0 {
		r.List = d.listPage()
	}
	return r
}

func (d *wireDecoder) listPage() *kv.ListPage {
	l := &kv.ListPage{Replicaset: d.string(), More: d.bool(), Last: d.string()}
	n := d.count(minWireRecord)
	switch {
	case d.err != nil:
	case n > kv.MaxListPage:
		d.fail(fmt.Errorf("a list page of %d objects, over %d", n, kv.MaxListPage))
	case n > 0:
		l.Objects = make([]kv.ObjectRecord, n)
		for i := range l.Objects {
			d.record(&l.Objects[i])
		}
	}
	return l
}

// minWireRecord is the size of the smallest encoded object record: two
// empty strings, version and revision 0, an empty value, no entries.
const minWireRecord = 6

func (d *wireDecoder) record(o *kv.ObjectRecord) {
	o.Type = d.string()
	o.PK = d.string()
	o.Version = d.version()
	o.Revision = d.uvarint()
	o.Value = d.bytes()
	if n := d.count(minWireEntry); n > 0 {
		o.Indexes = make([]kv.IndexEntry, n)
		for i := range o.Indexes {
			o.Indexes[i] = kv.IndexEntry{Index: d.string(), Key: d.string(), Unique: d.bool()}
		}
	}
}

// minWireMember is the size of the smallest encoded member: three empty
// strings and an empty domain.
const minWireMember = 4

func (d *wireDecoder) member(m *Member) {
	m.Name = env.NodeID(d.string())
	m.PeerAddr = d.string()
	m.HTTPAddr = d.string()
	n := d.count(2)
	if n == 0 {
		return
	}
	m.Domain = make(map[string]string, n)
	prev := ""
	for i := range n {
		k := d.string()
		v := d.string()
		if d.err != nil {
			return
		}
		if i > 0 && k <= prev {
			d.fail(fmt.Errorf("member %q: domain key %q after %q: keys must be sorted and distinct", m.Name, k, prev))
			return
		}
		m.Domain[k] = v
		prev = k
	}
}

func (d *wireDecoder) hello() *Hello {
	h := &Hello{}
	d.member(&h.From)
	if n := d.count(minWireMember); n > 0 {
		h.Members = make([]Member, n)
		for i := range h.Members {
			d.member(&h.Members[i])
		}
	}
	h.Bootstrapped = d.bool()
	h.Cluster = d.string()
	h.Join = d.string()
	if c := d.string(); c != "" {
		h.Config = []byte(c)
	}
	return h
}

func (d *wireDecoder) moveRead() *node.MoveRead {
	r := &node.MoveRead{Move: d.uvarint()}
	r.Part = d.movePart()
	r.Seq = d.uvarint()
	r.Cursor, r.Change, r.After = d.movePosition()
	r.Freeze = d.flags("move read", moveReadFreeze)&moveReadFreeze != 0
	return r
}

func (d *wireDecoder) movePage() *node.MovePage {
	p := &node.MovePage{Move: d.uvarint()}
	p.Part = d.movePart()
	p.Seq = d.uvarint()
	p.Status = node.MoveStatus(d.byte())
	if d.err == nil && p.Status > node.MoveUnplaced {
		d.fail(fmt.Errorf("unknown status %d", uint8(p.Status)))
	}
	p.Cursor, p.Change, p.After = d.movePosition()
	p.Leader = env.NodeID(d.string())
	page := d.bytes()
	if d.err != nil {
		return p
	}
	if err := checkWireMoveStatus(p.Status, page != nil); err != nil {
		d.fail(err)
		return p
	}
	if page != nil {
		im, err := wireImport(page)
		if err != nil {
			d.fail(fmt.Errorf("page: %w", err))
			return p
		}
		p.Page = im
	}
	flags := d.flags("move page", movePageDone|movePageFrozen)
	p.Done = flags&movePageDone != 0
	p.Frozen = flags&movePageFrozen != 0
	return p
}

// movePart reads a move's part, refusing one the protocol does not know.
func (d *wireDecoder) movePart() node.MovePart {
	p := node.MovePart(d.byte())
	if d.err == nil && (p < node.MoveItems || p > node.MoveDedup) {
		d.fail(fmt.Errorf("unknown part %d", uint8(p)))
	}
	return p
}

// movePosition reads where a move's reading of a part goes on.
func (d *wireDecoder) movePosition() (cursor []byte, change kv.ChangeCursor, after string) {
	cursor = d.bytes()
	change.Index = d.uvarint()
	if n := d.uvarint(); d.err == nil && n > math.MaxUint32 {
		d.fail(fmt.Errorf("change cursor record %d is out of range", n))
	} else {
		change.N = uint32(n)
	}
	after = d.string()
	if d.err == nil {
		if err := checkWirePosition(cursor, after); err != nil {
			d.fail(err)
		}
	}
	return cursor, change, after
}

func appendWireMovePosition(b, cursor []byte, change kv.ChangeCursor, after string) []byte {
	b = appendWireString(b, string(cursor))
	b = binary.AppendUvarint(b, change.Index)
	b = binary.AppendUvarint(b, uint64(change.N))
	return appendWireString(b, after)
}

// checkWireMove refuses what a move read and a move page share that the
// decoder would: a part the protocol does not know, a position over its
// bound.
func checkWireMove(part node.MovePart, cursor []byte, after string) error {
	if part < node.MoveItems || part > node.MoveDedup {
		return fmt.Errorf("unknown part %d", uint8(part))
	}
	return checkWirePosition(cursor, after)
}

func checkWirePosition(cursor []byte, after string) error {
	switch {
	case len(cursor) > maxWireMoveCursor:
		return fmt.Errorf("a cursor of %d bytes, at most %d", len(cursor), maxWireMoveCursor)
	case len(after) > maxWireMoveAfter:
		return fmt.Errorf("a client of %d bytes to read after, at most %d", len(after), maxWireMoveAfter)
	}
	return nil
}

// checkWireMoveStatus refuses a status the protocol does not know, and a
// page that holds an import but for an ok status, or lacks one for it.
func checkWireMoveStatus(s node.MoveStatus, page bool) error {
	switch {
	case s > node.MoveUnplaced:
		return fmt.Errorf("unknown status %d", uint8(s))
	case s == node.MovePageOK && !page:
		return errors.New("an ok page without its import")
	case s != node.MovePageOK && page:
		return fmt.Errorf("a page of status %s with an import: only an ok page holds one", s)
	}
	return nil
}

// wireImport reads a move page's import, a kv command: kv.DecodeCommand
// bounds and checks it as the log would. Only an import with none of a
// client's fields is taken, in the one encoding kv.Command.Encode writes
// for it.
func wireImport(b []byte) (*kv.Import, error) {
	c, err := kv.DecodeCommand(b)
	switch {
	case err != nil:
		return nil, err
	case c.Op != kv.OpImport:
		return nil, fmt.Errorf("%s command, not an import", wireOp(c.Op))
	case c.Client != "" || c.Seq != 0 || c.Key != "" || c.Value != "" || c.Expected != (kv.Value{}):
		// The page carries the import alone: these would be lost.
		return nil, fmt.Errorf("an import with a client's fields (client %q, seq %d, key %q)", c.Client, c.Seq, c.Key)
	}
	if again := c.Encode(); !bytes.Equal(again, b) {
		return nil, errors.New("an import not in its canonical encoding")
	}
	return c.Import, nil
}

func (d *wireDecoder) raft() *node.Message {
	m := &node.Message{Group: d.uvarint()}
	if d.err != nil {
		return nil
	}
	body := d.b
	d.b = nil
	if err := checkRaftFields(body); err != nil {
		d.fail(err)
		return nil
	}
	if err := m.Msg.Unmarshal(body); err != nil {
		d.fail(err)
		return nil
	}
	if _, ok := pb.MessageType_name[int32(m.Msg.Type)]; !ok {
		d.fail(fmt.Errorf("unknown raft message type %d", m.Msg.Type))
		return nil
	}
	for i := range m.Msg.Entries {
		if _, ok := pb.EntryType_name[int32(m.Msg.Entries[i].Type)]; !ok {
			d.fail(fmt.Errorf("entry %d: unknown entry type %d", i, m.Msg.Entries[i].Type))
			return nil
		}
	}
	// Protobuf accepts many encodings of one message (fields in any order,
	// repeated, padded varints, unknown fields); insisting on the one that
	// Marshal writes keeps the wire canonical. It costs a second copy of
	// the message while decoding, which even a large snapshot can afford.
	again, err := m.Msg.Marshal()
	if err != nil || !bytes.Equal(again, body) {
		d.fail(errors.New("the raft message is not in its canonical protobuf encoding"))
		return nil
	}
	return m
}

// checkRaftFields walks the top-level fields of an encoded raftpb.Message
// before it is unmarshalled. Responses (field 14) only ever carry a node's
// local storage messages, and each nests a whole Message: a peer could
// otherwise send a chain of them deep enough to overflow the reader's
// stack, which no recover can catch.
func checkRaftFields(b []byte) error {
	const responses = 14
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("a protobuf tag is truncated")
		}
		b = b[n:]
		if tag>>3 == responses {
			return errors.New("it carries responses, which are local to a node and never travel")
		}
		switch tag & 7 {
		case 0: // varint
			if _, n = binary.Uvarint(b); n <= 0 {
				return errors.New("a protobuf varint is truncated")
			}
			b = b[n:]
		case 1: // fixed64
			if len(b) < 8 {
				return errors.New("a protobuf fixed64 is truncated")
			}
			b = b[8:]
		case 2: // length-delimited
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errors.New("a protobuf field runs past the end")
			}
			b = b[n+int(l):]
		case 5: // fixed32
			if len(b) < 4 {
				return errors.New("a protobuf fixed32 is truncated")
			}
			b = b[4:]
		default:
			return fmt.Errorf("protobuf wire type %d is not allowed", tag&7)
		}
	}
	return nil
}
