package kv

import "github.com/shoaldb/shoal/core/env"

// Request is a client's operation, sent to any instance. A write carries
// the client's name and a sequence number that a retry repeats.
type Request struct {
	Client   string
	Seq      uint64
	Op       Op
	Key      string
	Value    string // put, cas: the new value
	Expected Value  // cas
	// Stale asks, of a get, for the value of whichever member of the
	// key's replicaset receives it, from its own state machine: no
	// ReadIndex round, so it may lag the leader (it may miss writes
	// acknowledged before the read began). Opt-in, for reads that trade
	// linearizability for speed and for availability inside a minority.
	Stale bool
	// Object is the object part of put-object, delete-object and
	// get-object, and nil for every other op. Key stays the routing key
	// (the object's affinity value) that picks the bucket.
	Object *ObjectRequest
	// Message is the message an enqueue hands in; Key is then the key
	// that picks its replicaset (the message's id unless the connector
	// names another).
	Message *Message
	// Queue is the queue part of a repair or read-queue request.
	Queue *QueueRequest
	// List is the part of a list-objects request, and nil for every
	// other op.
	List *ListRequest
}

// ListRequest asks one replicaset for a page of its objects of a type:
// those after the position After, in the order Index and Desc name, that
// the filter keeps.
type ListRequest struct {
	// Replicaset names the replicaset that answers; Request.Key is then
	// ignored.
	Replicaset string
	Type       string
	// Filter is the encoded filter (core/api's Filters.Encode) that the
	// answering instance evaluates on each object in the latest shape
	// of its type; empty keeps every object.
	Filter []byte
	// After is a position in the listing's order (ListOrder): the page
	// starts after it ("": from the first object). In primary key order
	// it is an encoded primary key; in an index's order, a position that
	// ListOrder.Position made (at most MaxListPosition bytes).
	After string
	// Index names the index of Type whose order the page follows ("":
	// the primary key's); Desc reverses the order (ListOrder). An
	// instance whose model lacks the index answers, as for another
	// Version, with a redirect to no one (try again): a model revision
	// may add an index without a new version of the type, and the
	// asker's model may have it first.
	Index string
	Desc  bool
	// Exact narrows a listing in Index's order to the objects whose
	// entry in it has the key Key (ListOrder): what a listing whose
	// filters fix every field of the index by equality reads instead of
	// the whole type. Key is "" without Exact.
	Exact bool
	Key   string
	// Limit bounds the objects of the page (1 to MaxListPage); Scan the
	// stored objects the instance examines for it (Limit to
	// MaxListScan), so that a filter that keeps few objects costs a
	// bounded read.
	Limit int
	Scan  int
	// Version is the latest version of Type in the model the filter was
	// read against; an instance whose model has another answers with a
	// redirect to no one (try again): the filter may name fields its
	// shape lacks, and a page judged by it would move the cursor past
	// objects it never matched. 0 is not checked.
	Version int
}

// Bounds of a list-objects request and its page.
const (
	MaxListPage   = 1000             // objects of one page
	MaxListScan   = 10 * MaxListPage // stored objects examined for one page
	MaxListFilter = 16 << 10         // bytes of an encoded filter
	// MaxListBytes bounds the objects' values of one page: the page ends
	// after the object that reaches it (one object is at most
	// MaxObjectValue), so that a page fits a message.
	MaxListBytes = 8 << 20
	// MaxListExamined bounds the stored bytes one page examines: every
	// record examined is upgraded and decoded on the engine's loop (about
	// 6 ms a MiB), so a filter that keeps few large objects ends its page
	// early, with More, rather than hold the loop for seconds.
	MaxListExamined = 2 << 20
)

// ListPage is one replicaset's answer to a list-objects request. It holds
// every object the filter keeps with a position after the request's
// After and up to Last (up to the end when More is false), in the
// request's order (ListOrder). In a page ordered by an index each
// object's Indexes holds the one entry of that index that placed it, or
// none for an object among those without an entry, so that
// ListOrder.Position tells where it stands; in primary key order they
// hold what the machine's caller left (the node sends none).
type ListPage struct {
	Replicaset string
	Objects    []ObjectRecord
	// More says that the replicaset stores objects after Last, which it
	// has not examined: the page ended at its limit, at its scan bound or
	// at MaxListBytes. Last is the position of the last object it
	// examined: the last object's or, past it, one the filter did not
	// keep.
	More bool
	Last string
}

// QueueRequest names a replicaset's queues and what to do with them.
type QueueRequest struct {
	// Replicaset is the replicaset whose queues the request reads or
	// changes; Request.Key is then ignored.
	Replicaset string
	// read-queue: List "repair", "queue" or "outbound" (the outbound
	// repair entries) asks for a page of that list's entries after
	// position After (at most Limit, MaxQueuePage if 0); "" for the
	// depths alone.
	List  string
	After uint64
	Limit int
	// repair: the action, the entry, and for an edit the new payload.
	// Outbound names an outbound repair entry (List "outbound" lists
	// them), by its outbound position.
	Action   RepairAction
	Seq      uint64
	Payload  []byte
	Outbound bool
}

// MaxQueuePage bounds the entries one read-queue returns.
const MaxQueuePage = 1000

// ObjectRequest is the object part of a request. Request.Key stays the
// routing key (the object's affinity value) that picks the bucket.
type ObjectRequest struct {
	Type    string
	PK      string // encoded primary key: get, delete (for put the leader computes it from Value)
	Version int    // put: the model version Value is written at; 0 means the type's latest
	Value   []byte // put: the object's JSON as the client sent it
	// IfRevision (put, delete) applies the write only if the object's
	// current revision is this one; 0 means unconditionally.
	IfRevision uint64
	IfAbsent   bool // put: apply only if no object has this key
	// History (get-object) asks for the object's kept previous versions
	// too, in Response.History: also those of a deleted object, which
	// keeps its history until it is written again.
	History bool
}

// Kind implements env.Message.
func (*Request) Kind() string { return "kv.request" }

// Command is the write the request asks for. For an object write it
// leaves Command.Object nil: the leader validates the object against the
// data model and fills the ObjectWrite in (its primary key, version,
// canonical value, index entries) before proposing it.
func (r *Request) Command() Command {
	return Command{Client: r.Client, Seq: r.Seq, Op: r.Op, Key: r.Key, Value: r.Value, Expected: r.Expected}
}

// Response answers a Request.
//
// Redirects: an instance that cannot serve the key (it is not in the key's
// replicaset, or not its leader) answers StatusRedirect and does nothing
// else. Leader names the replicaset's leader when the instance knows it
// (it is a member and has heard from a leader); otherwise Hint names a
// member of the right replicaset to ask instead.
type Response struct {
	Client string
	Seq    uint64
	Status Status
	Value  Value  // get: the value read; cas mismatch: the value found
	Index  uint64 // the Raft index that served the request
	Leader env.NodeID
	Hint   env.NodeID
	// Error says why an object request failed (mismatch, conflict,
	// invalid).
	Error string
	// Object is the object a get-object read (nil: none has the key) or
	// a put-object wrote.
	Object *ObjectRecord
	// History is what a get-object with ObjectRequest.History read: the
	// object's kept previous versions, oldest first (at most MaxHistory),
	// each upgraded like Object (one that does not upgrade comes as
	// stored, with its version). The current object is not among them.
	History []ObjectRecord
	// Queue is what a read-queue read, and, after an enqueue, the
	// message's position (Index is the command's).
	Queue *QueueState
	// RetryAfter suggests, with StatusBusy, how long a connector should
	// wait before sending again (nanoseconds).
	RetryAfter int64
	// List is the page a list-objects read.
	List *ListPage
}

// Kind implements env.Message.
func (*Response) Kind() string { return "kv.response" }
