package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/shoaldb/shoal/core/api"
	"github.com/shoaldb/shoal/core/bugs"
	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// read is a linearizable read waiting for its ReadIndex and then for the
// state machine to apply up to it.
type read struct {
	id      string
	group   *group
	replyTo env.NodeID
	client  string
	seq     uint64
	key     string
	object  *kv.ObjectRequest // a get-object's
	queue   *kv.QueueRequest  // a read-queue's
	list    *kv.ListRequest   // a list-objects'
	index   uint64            // the read index, once raft confirmed it
	indexed bool
	expired bool
}

// serve handles a client's request. Only the leader of the key's
// replicaset serves it: writes through the log, reads through ReadIndex.
// Anyone else redirects (kv.Response documents how).
func (n *Node) serve(from env.NodeID, req *kv.Request) {
	if m := req.Message; m != nil {
		n.trace("kv.request", env.Str("client", req.Client), env.Int("seq", int64(req.Seq)), env.Str("op", req.Op.String()),
			env.Str("key", req.Key), env.Str("id", m.ID), env.Str("connector", m.Connector), env.Int("size", int64(len(m.Payload))))
	} else if l := req.List; l != nil {
		n.trace("kv.request", env.Str("client", req.Client), env.Int("seq", int64(req.Seq)), env.Str("op", req.Op.String()),
			env.Str("key", req.Key), env.Str("replicaset", l.Replicaset), env.Str("type", l.Type), env.Str("after", l.After),
			env.Int("limit", int64(l.Limit)), env.Int("filter", int64(len(l.Filter))))
	} else if o := req.Object; o != nil {
		n.trace("kv.request", env.Str("client", req.Client), env.Int("seq", int64(req.Seq)), env.Str("op", req.Op.String()),
			env.Str("key", req.Key), env.Str("value", string(o.Value)), env.Str("type", o.Type), env.Str("pk", o.PK),
			env.Int("version", int64(o.Version)))
	} else {
		n.trace("kv.request", env.Str("client", req.Client), env.Int("seq", int64(req.Seq)), env.Str("op", req.Op.String()),
			env.Str("key", req.Key), env.Str("value", req.Value))
	}
	conf := n.conf.conf
	if len(conf.Buckets) == 0 || n.expelled() {
		// A joining instance that has not received the configuration yet
		// knows no bucket's replicaset, and an expelled one serves
		// nothing: it points at a peer.
		var peers []env.NodeID
		for _, in := range conf.Instances {
			if in.Name != n.e.ID() && in.State != cluster.Expelled {
				peers = append(peers, in.Name)
			}
		}
		var hint env.NodeID
		if len(peers) > 0 {
			hint = peers[req.Seq%uint64(len(peers))]
		}
		n.redirect(from, req, "", hint)
		return
	}
	rsName := conf.Buckets[kv.Bucket(req.Key, len(conf.Buckets))]
	name := queueReplicaset(req)
	if req.Op == kv.OpListObjects {
		if req.List == nil || req.List.Replicaset == "" {
			n.respond(from, &kv.Response{Client: req.Client, Seq: req.Seq, Status: kv.StatusInvalid, Error: "list-objects without its list part naming a replicaset"})
			return
		}
		name = req.List.Replicaset
	}
	if name != "" {
		if _, ok := conf.Replicaset(name); !ok {
			n.respond(from, &kv.Response{Client: req.Client, Seq: req.Seq, Status: kv.StatusInvalid, Error: fmt.Sprintf("no replicaset is named %q", name)})
			return
		}
		rsName = name
	}
	g := n.groupNamed(rsName)
	if g == nil {
		// Not a member: point at one, chosen by the request so that a
		// retry may try another.
		rs, _ := conf.Replicaset(rsName)
		if len(rs.Members) == 0 {
			// Emptied by expulsions (it owns no bucket): nobody serves it.
			n.respond(from, &kv.Response{Client: req.Client, Seq: req.Seq, Status: kv.StatusInvalid,
				Error: fmt.Sprintf("replicaset %s has no members", rsName)})
			return
		}
		n.redirect(from, req, "", rs.Members[req.Seq%uint64(len(rs.Members))])
		return
	}
	if name == "" && !n.holds(g, req.Key) {
		// Its bucket is frozen here, on its way to another replicaset,
		// or has just come and is not applied yet: ask again in a
		// moment, here or where the configuration then points.
		n.redirect(from, req, "", n.e.ID())
		return
	}
	isRead := req.Op.IsRead()
	if req.Op == kv.OpReadQueue && req.Queue == nil {
		n.respond(from, &kv.Response{Client: req.Client, Seq: req.Seq, Status: kv.StatusInvalid, Error: "read-queue without its queue part"})
		return
	}
	if isRead && (req.Stale || n.cfg.Bugs.Has(bugs.StaleLocalRead) ||
		(n.cfg.Bugs.Has(bugs.LeaseReadUnderSkew) && n.e.Now().Before(g.lease))) {
		n.localRead(g, from, req)
		return
	}
	if g.role() != raft.StateLeader {
		leader := env.NodeID(n.name(g.rn.BasicStatus().Lead))
		var hint env.NodeID
		if leader == "" {
			rs, _ := conf.Replicaset(rsName)
			hint = next(rs.Members, n.e.ID())
		}
		n.redirect(from, req, leader, hint)
		return
	}
	id := fmt.Sprintf("%s/%d", req.Client, req.Seq)
	if isRead {
		if _, dup := n.reads[id]; !dup {
			n.reads[id] = &read{id: id, group: g, replyTo: from, client: req.Client, seq: req.Seq, key: req.Key, object: req.Object, queue: req.Queue,
				list: listPart(req)}
			g.rn.ReadIndex([]byte(id))
			n.e.After(n.cfg.RequestTTL, &expire{id: id})
		}
		return
	}
	if p, inFlight := n.pending[id]; inFlight {
		// A retry of a write still in the log: answer whoever asked last.
		p.replyTo = from
		return
	}
	cmd := req.Command()
	if req.Op == kv.OpPutObject || req.Op == kv.OpDeleteObject {
		var err error
		if cmd, err = n.objectCommand(req); err != nil {
			if _, behind := err.(modelBehind); behind {
				// Ask again here in a moment: the model will have come.
				n.respond(from, &kv.Response{Client: req.Client, Seq: req.Seq, Status: kv.StatusRedirect, Hint: n.e.ID(), Error: err.Error()})
				return
			}
			n.respond(from, &kv.Response{Client: req.Client, Seq: req.Seq, Status: kv.StatusInvalid, Error: err.Error()})
			return
		}
	}
	if req.Op == kv.OpEnqueue || req.Op == kv.OpRepair {
		var ok bool
		if cmd, ok = n.queueCommand(from, g, req); !ok {
			return
		}
	} else if !req.Op.IsWrite() || req.Op.IsLeaders() {
		n.respond(from, &kv.Response{Client: req.Client, Seq: req.Seq, Status: kv.StatusInvalid, Error: fmt.Sprintf("%s is not a client's request", req.Op)})
		return
	}
	if err := g.rn.Propose(envelope(id, cmd.Encode())); err != nil {
		n.redirect(from, req, "", next(n.membersOf(g), n.e.ID()))
		return
	}
	p := &request{group: g, replyTo: from, client: req.Client, seq: req.Seq, timer: n.e.After(n.cfg.RequestTTL, &expire{id: id}),
		queue: req.Op.IsQueue()}
	n.pending[id] = p
	n.ackEnqueued(from, req, p)
}

// next is the member after self in members, round the end.
func next(members []env.NodeID, self env.NodeID) env.NodeID {
	i := slices.Index(members, self)
	return members[(i+1)%len(members)]
}

func (n *Node) membersOf(g *group) []env.NodeID {
	rs, _ := n.conf.conf.Replicaset(g.name)
	return rs.Members
}

func (n *Node) redirect(to env.NodeID, req *kv.Request, leader, hint env.NodeID) {
	n.respond(to, &kv.Response{Client: req.Client, Seq: req.Seq, Status: kv.StatusRedirect, Leader: leader, Hint: hint})
}

// respond sends a response and records it.
func (n *Node) respond(to env.NodeID, r *kv.Response) {
	if r.Object != nil || r.Error != "" || r.Queue != nil || r.List != nil {
		fields := []env.Field{env.Str("client", r.Client), env.Int("seq", int64(r.Seq)), env.Str("status", r.Status.String()),
			env.Str("value", r.Value.S), env.Bool("found", r.Value.Present), env.Int("index", int64(r.Index)),
			env.Str("leader", string(r.Leader)), env.Str("hint", string(r.Hint)), env.Str("error", r.Error)}
		if o := r.Object; o != nil {
			fields = append(fields, env.Str("object", string(o.Value)), env.Int("version", int64(o.Version)),
				env.Int("revision", int64(o.Revision)))
		}
		if q := r.Queue; q != nil {
			fields = append(fields, env.Str("replicaset", q.Replicaset), env.Int("position", int64(q.Tail)),
				env.Int("depth", int64(q.Depth)), env.Int("repairs", int64(q.Repairs)))
		}
		if l := r.List; l != nil {
			fields = append(fields, env.Str("replicaset", l.Replicaset), env.Int("objects", int64(len(l.Objects))),
				env.Bool("more", l.More), env.Str("last", l.Last))
		}
		n.trace("kv.response", fields...)
		n.e.Send(to, r)
		return
	}
	n.trace("kv.response", env.Str("client", r.Client), env.Int("seq", int64(r.Seq)), env.Str("status", r.Status.String()),
		env.Str("value", r.Value.S), env.Bool("found", r.Value.Present), env.Int("index", int64(r.Index)),
		env.Str("leader", string(r.Leader)), env.Str("hint", string(r.Hint)))
	n.e.Send(to, r)
}

// readIndexed records that raft confirmed a read's index.
func (n *Node) readIndexed(g *group, id string, index uint64) {
	if id == configSyncID && g.id == cluster.ConfigGroup {
		if s := &n.cfgSync; !s.indexed {
			s.index, s.indexed = index, true
		}
		return
	}
	if r, ok := n.reads[id]; ok && r.group == g {
		r.index, r.indexed = index, true
		g.waiting = append(g.waiting, r)
	}
}

// serveReads answers the reads whose index the state machine has reached.
func (n *Node) serveReads(g *group) {
	kept := g.waiting[:0]
	for _, r := range g.waiting {
		switch {
		case r.expired:
		case r.index > g.applied:
			kept = append(kept, r)
		default:
			delete(n.reads, r.id)
			n.respondRead(g, r.replyTo, r.client, r.seq, r.key, r.object, r.queue, r.list, r.index)
		}
	}
	clear(g.waiting[len(kept):])
	g.waiting = kept
}

func (n *Node) respondRead(g *group, to env.NodeID, client string, seq uint64, key string, obj *kv.ObjectRequest, q *kv.QueueRequest,
	l *kv.ListRequest, index uint64) {
	if l != nil {
		r := n.listObjects(g, l, index)
		r.Client, r.Seq = client, seq
		n.respond(to, r)
		return
	}
	if q == nil && !n.holds(g, key) {
		// The bucket moved, or is moving and frozen here, since the
		// request came: ask again, here or where the configuration
		// then points.
		n.respond(to, &kv.Response{Client: client, Seq: seq, Status: kv.StatusRedirect, Hint: n.e.ID()})
		return
	}
	if q != nil {
		r := n.readQueue(g, q, index)
		r.Client, r.Seq = client, seq
		n.respond(to, r)
		return
	}
	if obj != nil {
		r := n.readObject(g, obj, index)
		r.Client, r.Seq = client, seq
		n.respond(to, r)
		return
	}
	v, err := g.sm.(dataMachine).m.Get(key)
	must(err)
	n.respond(to, &kv.Response{Client: client, Seq: seq, Status: kv.StatusOK, Value: v, Index: index})
}

// localRead serves a read from whatever this replica has applied: a
// stale read asked for (kv.Request.Stale), or a linearizable one under
// the stale-local-read and lease-read-under-skew bugs.
func (n *Node) localRead(g *group, from env.NodeID, req *kv.Request) {
	n.respondRead(g, from, req.Client, req.Seq, req.Key, req.Object, req.Queue, listPart(req), g.applied)
}

// listPart is a list-objects' list part; another op's is none.
func listPart(req *kv.Request) *kv.ListRequest {
	if req.Op != kv.OpListObjects {
		return nil
	}
	return req.List
}

// ackAppended answers the writes among entries as soon as the leader has
// them on its own disk (the ack-before-commit bug).
func (n *Node) ackAppended(g *group, ents []pb.Entry) {
	for _, e := range ents {
		if e.Type != pb.EntryNormal || len(e.Data) == 0 {
			continue
		}
		id, _, err := openEnvelope(e.Data)
		if err != nil {
			continue
		}
		if req, ok := n.pending[id]; ok && req.replyTo != "" && !req.acked {
			req.acked = true
			n.respond(req.replyTo, &kv.Response{Client: req.client, Seq: req.seq, Status: kv.StatusOK, Index: e.Index})
		}
	}
}

// listObjects answers a list-objects: a page of the replicaset's objects
// of a type in the request's order (kv.ListOrder), each upgraded to the
// latest version of its type in the model this instance knows, kept if
// the request's filter matches it in that shape (core/api evaluates it;
// it needs no model), and sent without its index entries (in an index's
// order, with the one entry that placed it). An object that does not
// upgrade fails the page, as it fails a get-object. An order by an index
// needs the index on the type in this instance's model (else a redirect
// to no one: try again, kv.ListRequest.Index), as does a listing of one
// of its keys (Exact), and After a position of that order (else
// invalid: the asker checks it before it sends).
func (n *Node) listObjects(g *group, l *kv.ListRequest, index uint64) *kv.Response {
	invalid := func(msg string) *kv.Response {
		return &kv.Response{Status: kv.StatusInvalid, Error: msg, Index: index}
	}
	if l.Limit < 1 || l.Limit > kv.MaxListPage {
		return invalid(fmt.Sprintf("list-objects: a page of %d objects, want 1 to %d", l.Limit, kv.MaxListPage))
	}
	filters, err := api.DecodeFilters(l.Filter)
	if err != nil {
		return invalid(err.Error())
	}
	if l.Version != 0 {
		if m, _ := n.dataModel(); m != nil {
			if t, ok := m.Type(l.Type); !ok || t.Latest() != l.Version {
				// The asker read the filter against another model: try
				// again once the two agree (kv.ListRequest.Version).
				return &kv.Response{Status: kv.StatusRedirect, Index: index}
			}
		}
	}
	order := kv.ListOrder{Index: l.Index, Desc: l.Desc, Exact: l.Exact, Key: l.Key}
	if err := order.Check(); err != nil {
		return invalid(fmt.Sprintf("list-objects: %v", err))
	}
	var keyType *model.Type // the type of an index's order, in this instance's model
	if l.Index != "" {
		// The asker's model has the index and this instance's does not
		// (yet: a revision may add an index without a new version of the
		// type, and the leader may not have applied it): try again once
		// the two agree, as for another version.
		m, _ := n.dataModel()
		var t *model.Type
		if m != nil {
			t, _ = m.Type(l.Type)
		}
		i := -1
		if t != nil {
			i = slices.IndexFunc(t.Indexes, func(ix model.Index) bool { return ix.Name == l.Index })
		}
		if i < 0 {
			return &kv.Response{Status: kv.StatusRedirect, Index: index,
				Error: fmt.Sprintf("list-objects: ordered by index %s of %s, which this instance's model does not have", l.Index, l.Type)}
		}
		// The entries of one key may miss objects until the migration
		// has given every object the entries of the model in force: the
		// objects themselves are read then (kv.ListOrder.ByScan), with
		// the same answer.
		order.ByScan = order.Exact && !t.Indexes[i].Unique && !n.entriesComplete(g)
		keyType = t
	}
	if err := order.CheckPosition(l.After); err != nil {
		return invalid(fmt.Sprintf("list-objects: after: %v", err))
	}
	scan := min(max(l.Scan, l.Limit), kv.MaxListScan)
	var unreadable error
	// While a move leaves a copy here of a bucket this replicaset does
	// not serve, its objects are left out: the owner lists them.
	var held *model.Type
	if n.copiesUnheld(g) {
		if m, _ := n.dataModel(); m != nil {
			held, _ = m.Type(l.Type)
		}
	}
	transit := false
	page, err := g.sm.(dataMachine).m.ListObjects(l.Type, order, l.After, l.Limit, scan, func(rec *kv.ObjectRecord) (bool, error) {
		if held != nil {
			switch ok, moving := n.objectHeld(g, held, rec.PK); {
			case moving:
				transit = true
				return false, errTransit
			case !ok:
				return false, nil
			}
		}
		up, err := n.upgradeRecord(*rec)
		if err != nil {
			unreadable = err
			return false, err
		}
		*rec = up
		rec.Indexes, rec.Stamp = nil, kv.Stamp{}
		if len(filters) == 0 && !order.ByScan {
			return true, nil
		}
		obj, err := model.Decode(rec.Value)
		if err != nil {
			unreadable = fmt.Errorf("%s %q: stored object: %w", rec.Type, rec.PK, err)
			return false, unreadable
		}
		if order.ByScan && !hasEntry(keyType, obj, order.Index, order.Key) {
			return false, nil // another key's object, which the index would not list
		}
		return filters.Match(obj), nil
	})
	if unreadable != nil {
		return invalid(unreadable.Error())
	}
	if transit {
		// A bucket of this page is between its freeze and the commit
		// (or its import here is not applied yet): nobody lists it
		// now, and the asker asks again in a moment.
		return &kv.Response{Status: kv.StatusRedirect, Index: index,
			Error: "list-objects: a bucket of the page is moving; ask again"}
	}
	must(err)
	page.Replicaset = g.name
	return &kv.Response{Status: kv.StatusOK, Index: index, List: &page}
}

// errTransit ends a listing that met a bucket in transit (objectHeld).
var errTransit = errors.New("a bucket in transit")

// hasEntry reports whether obj, an object of t in its latest shape, has
// key in t's index: what the index holds for it once its entries are
// those of the model in force (kv.ListOrder.ByScan).
func hasEntry(t *model.Type, obj model.Object, index, key string) bool {
	entries, err := t.IndexEntries(obj)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(entries, func(e model.IndexEntry) bool { return e.Index == index && e.Key == key })
}
