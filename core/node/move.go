package node

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/shoaldb/shoal/core/bugs"
	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"go.etcd.io/raft/v3"
)

// Moving a bucket: the leaders' part of the protocol core/README.md
// describes ("Moving a bucket"). Group 0 holds the move under way
// (cluster.Config.Move); the source's leader proposes its steps in its
// own log (send, freeze, resume, drop: kv.OpBucket); the destination's
// leader reads the bucket from the source's members (MoveRead, answered
// by a MovePage) and proposes what it read as imports (kv.OpImport),
// then the commit in group 0. Every step is driven from the node's tick
// and from the answers, and starts over when a leadership changes.

// MovePart is what a MoveRead asks for.
type MovePart uint8

// The parts of a bucket, read in this order. The values are part of the
// peer protocol.
const (
	// MoveItems is the bucket's items, a page at a time (kv.Machine.BucketItems).
	MoveItems MovePart = iota + 1
	// MoveChanges is the change log from the send on (kv.Machine.BucketChanges).
	MoveChanges
	// MoveDedup is the clients' last answers (kv.Machine.Dedup), read
	// from a member that has applied the freeze.
	MoveDedup
)

var movePartNames = [...]string{MoveItems: "items", MoveChanges: "changes", MoveDedup: "dedup"}

func (p MovePart) String() string {
	if p >= MoveItems && p <= MoveDedup {
		return movePartNames[p]
	}
	return "part" + strconv.Itoa(int(p))
}

// MoveRead is a destination leader's request to a member of a moving
// bucket's source replicaset: the next page of a part.
type MoveRead struct {
	Move uint64 // the move's ID in group 0
	Part MovePart
	Seq  uint64 // the reader's number for the request, echoed in the page
	// Where the part's reading goes on: Cursor for MoveItems (a
	// kv.BucketCursor's Last), Change for MoveChanges, After (the last
	// client read) for MoveDedup.
	Cursor []byte
	Change kv.ChangeCursor
	After  string
	// Freeze says the reader has caught up with the change log: the
	// source's leader freezes the bucket.
	Freeze bool
}

// Kind implements env.Message.
func (*MoveRead) Kind() string { return "move.read" }

// MoveStatus says whether a MovePage holds what was asked.
type MoveStatus uint8

// Page statuses. The values are part of the peer protocol.
const (
	MovePageOK MoveStatus = iota
	// MoveNotSending: the member has not applied the move's send, or the
	// move ended there.
	MoveNotSending
	// MoveNotFrozen: a dedup read from a member that has not applied the
	// freeze.
	MoveNotFrozen
	// MoveUnplaced: the bucket holds an object the member's data model
	// cannot place (its model is behind its data).
	MoveUnplaced
	lastMoveStatus = MoveUnplaced
)

var moveStatusNames = [...]string{MovePageOK: "ok", MoveNotSending: "not-sending", MoveNotFrozen: "not-frozen", MoveUnplaced: "unplaced"}

func (s MoveStatus) String() string {
	if s <= lastMoveStatus {
		return moveStatusNames[s]
	}
	return "status" + strconv.Itoa(int(s))
}

// MovePage answers a MoveRead.
type MovePage struct {
	Move   uint64
	Part   MovePart
	Seq    uint64
	Status MoveStatus
	// Page holds the items (MoveItems, MoveChanges) or the dedup entries
	// (MoveDedup) read, with the move's bucket; nil unless MovePageOK.
	Page *kv.Import
	// Where the next read of the part goes on.
	Cursor []byte
	Change kv.ChangeCursor
	After  string
	// Done says the part has no more (for MoveChanges: as of this read).
	Done bool
	// Frozen says the member had applied the freeze when it read.
	Frozen bool
	// Leader is the source group's leader as the member knows it.
	Leader env.NodeID
}

// Kind implements env.Message.
func (*MovePage) Kind() string { return "move.page" }

// Page sizes. An import's entry stays well under kv.MaxMoveItems and
// kv.MaxMoveDedup; a page scans a bounded number of stored records, so a
// replicaset with many keys in other buckets answers in bounded time.
const (
	movePageItems = 128
	movePageScan  = 4096
	movePageDedup = 512
	// moveReadTicks is how long a reader waits for a page before it asks
	// another member.
	moveReadTicks = 5
	// moveDropPages bounds the pages of other buckets' records a leader
	// looks through on one tick while dropping a leftover.
	moveDropPages = 16
	// moveRestartTicks is how long a destination waits before it copies
	// a bucket again from the start, after an import or its seal did not
	// apply.
	moveRestartTicks = 3
)

// moveIn is a destination leader's progress in the move under way.
type moveIn struct {
	move   uint64 // 0: none (its term is g.moveOut.term: moveTerm resets both)
	part   MovePart
	cursor []byte
	change kv.ChangeCursor
	after  string
	// caughtUp: a changes page came back done; the reader now asks for
	// the freeze and polls. copied: the dedup part is read and imported;
	// what is left is the seal, then the commit.
	caughtUp, copied bool
	sealed           uint64 // the index the seal applied at (0: not yet)
	seq              uint64 // the read awaiting its page (0: none)
	asked            int64  // the governor tick it was sent at
	wait             int64  // the tick before which no read is sent
	target           int    // which source member to ask
	leader           env.NodeID
	step             string // the import, seal or commit under way
	pages            int
}

// moveOut is a source leader's step under way: a send, freeze, resume or
// drop in its log, or a leftover's dropped in group 0.
type moveOut struct {
	term   uint64 // the term this instance leads g in (0: it does not)
	step   string
	seq    uint64
	drop   cluster.Leftover // the leftover being dropped
	cursor kv.BucketCursor  // how far its items are read
	clean  bool             // this pass over them found none yet
	// freezing is the move whose freeze this leader proposed (0: none).
	freezing uint64
}

// dataGroup is the group of this instance's replicaset, if it has one.
func (n *Node) dataGroup() *group {
	for _, g := range n.groups {
		if g.id != cluster.ConfigGroup {
			return g
		}
	}
	return nil
}

func machineOf(g *group) *kv.Machine { return g.sm.(dataMachine).m }

// frozen reports whether g's leader must propose nothing of its own that
// writes objects (queue settles, received changes, migration rewrites):
// its machine refuses only clients' writes to a frozen bucket, and a
// settle could write one. That holds while a move from g's replicaset
// has frozen its bucket, or this leader has proposed the freeze; and,
// while a move from it is under way, until the leader has applied an
// entry of its own term, since an earlier leader's freeze may be in the
// log still to apply, and anything proposed now would apply after it.
// Before the freeze, the change log records what a settle writes.
func (n *Node) frozen(g *group) bool {
	s, sending := machineOf(g).Sending()
	if mv := n.conf.conf.Move; !sending && (mv == nil || mv.From != g.name) {
		return false
	}
	return s.Frozen != 0 || g.moveOut.freezing != 0 && g.moveOut.freezing == s.Move ||
		g.appliedTerm != g.rn.BasicStatus().Term
}

// holds reports whether g's replicaset serves key now: the configuration
// gives it the key's bucket, its machine has applied the move that
// brought it there, and has not frozen or dropped it.
func (n *Node) holds(g *group, key string) bool {
	conf := n.conf.conf
	if len(conf.Buckets) == 0 {
		return false
	}
	b := kv.Bucket(key, len(conf.Buckets))
	if conf.Buckets[b] != g.name || g.applied < conf.BucketIndex[b] {
		return false
	}
	m := machineOf(g)
	if s, ok := m.Sending(); ok && s.Frozen != 0 && s.Bucket == b && !n.cfg.Bugs.Has(bugs.TwoOwners) {
		return false
	}
	return !m.Away(b)
}

// copiesUnheld reports whether g's replicaset may hold a copy of a bucket
// it does not serve: a source that froze a bucket and has not dropped
// it, a destination during a move, a holder of a leftover. A listing
// there leaves out the objects of such buckets (objectHeld).
func (n *Node) copiesUnheld(g *group) bool {
	conf := n.conf.conf
	if s, ok := machineOf(g).Sending(); ok && s.Frozen != 0 {
		return true
	}
	return conf.Move != nil && conf.Move.To == g.name || slices.ContainsFunc(conf.Garbage, func(l cluster.Leftover) bool {
		return l.Replicaset == g.name
	})
}

// objectHeld reports whether g's replicaset serves the bucket of object
// pk of type t (false when the model cannot route it), and whether that
// bucket is in transit: frozen here and not committed away yet, or
// committed here and not applied yet, so that no replicaset lists it
// now.
func (n *Node) objectHeld(g *group, t *model.Type, pk string) (held, transit bool) {
	route, err := t.RouteKey(pk)
	if err != nil {
		return false, false
	}
	if n.holds(g, route) {
		return true, false
	}
	conf := n.conf.conf
	b := kv.Bucket(route, len(conf.Buckets))
	return false, conf.Buckets[b] == g.name
}

// place tells an object's bucket from the data model in force; unplaced
// is set when the model lacks the object's type or cannot route it.
func (n *Node) place(buckets int, unplaced *bool) kv.ObjectBucket {
	mdl, _ := n.dataModel()
	return func(typ, pk string) (int, bool) {
		if mdl == nil {
			*unplaced = true
			return 0, false
		}
		t, ok := mdl.Type(typ)
		if !ok {
			*unplaced = true
			return 0, false
		}
		route, err := t.RouteKey(pk)
		if err != nil {
			*unplaced = true
			return 0, false
		}
		return kv.Bucket(route, buckets), true
	}
}

// moveRead answers a destination leader's read, on any member of the
// source: every replica that applied the send holds the same change log
// from it, and a page says whether the member had applied the freeze.
func (n *Node) moveRead(from env.NodeID, r *MoveRead) {
	page := &MovePage{Move: r.Move, Part: r.Part, Seq: r.Seq, Status: MoveNotSending}
	g := n.dataGroup()
	if g == nil || n.expelled() {
		n.e.Send(from, page)
		return
	}
	if lead := n.name(g.rn.BasicStatus().Lead); lead != "?" {
		page.Leader = env.NodeID(lead)
	}
	m := machineOf(g)
	s, ok := m.Sending()
	if !ok || s.Move != r.Move {
		n.e.Send(from, page)
		return
	}
	page.Frozen = s.Frozen != 0
	if r.Freeze && !page.Frozen {
		n.proposeFreeze(g, s)
	}
	page.Status = MovePageOK
	im := &kv.Import{Move: s.Move, Bucket: s.Bucket, Buckets: s.Buckets}
	unplaced := false
	var err error
	switch r.Part {
	case MoveItems:
		var next kv.BucketCursor
		im.Items, next, page.Done, err = m.BucketItems(s.Bucket, s.Buckets, kv.BucketCursor{Last: r.Cursor}, movePageItems, movePageScan,
			n.place(s.Buckets, &unplaced))
		page.Cursor = next.Last
	case MoveChanges:
		im.Items, page.Change, page.Done, err = m.BucketChanges(r.Change, movePageItems, movePageScan, n.place(s.Buckets, &unplaced))
	case MoveDedup:
		if !page.Frozen {
			page.Status = MoveNotFrozen
			break
		}
		im.Dedup = m.Dedup(r.After, movePageDedup)
		page.After, page.Done = r.After, len(im.Dedup) < movePageDedup
		if len(im.Dedup) > 0 {
			page.After = im.Dedup[len(im.Dedup)-1].Client
		}
	default:
		return // the codec admits no other part
	}
	switch {
	case err != nil:
		// A store that failed a read: the reader asks elsewhere.
		n.trace("move.read.error", env.Int("move", int64(r.Move)), env.Str("part", r.Part.String()), env.Str("error", err.Error()))
		return
	case unplaced:
		page.Status = MoveUnplaced
	case page.Status == MovePageOK:
		page.Page = im
	}
	n.e.Send(from, page)
}

// proposeFreeze has the source's leader propose the freeze, once it has
// applied an entry of its own term: no write an earlier leader proposed
// is then still to apply after it.
func (n *Node) proposeFreeze(g *group, s kv.Sending) {
	if !n.moveTerm(g) || g.appliedTerm != g.moveOut.term {
		return
	}
	if mv := n.conf.conf.Move; mv == nil || mv.ID != s.Move || mv.From != g.name {
		return // not the move group 0 has under way, as this instance knows it
	}
	g.moveOut.freezing = s.Move
	n.proposeBucketStep(g, &kv.BucketStep{Kind: kv.StepFreeze, Move: s.Move, Bucket: s.Bucket, Buckets: s.Buckets},
		func(index uint64, out outcome) {
			if out.result.Status == kv.StatusOK {
				// From this index of its log on, the source refuses
				// the bucket's writes (the buckets checker holds it to
				// that).
				n.trace("move.frozen", env.Str("group", g.name), env.Int("move", int64(s.Move)), env.Int("bucket", int64(s.Bucket)),
					env.Int("buckets", int64(s.Buckets)), env.Int("index", int64(out.result.Revision)))
			}
		})
}

// moveSource drives, on a replicaset's leader, its part as a move's
// source and as a holder of leftovers: the send, the resume after an
// abort, and the drops.
func (n *Node) moveSource(g *group) {
	st := &g.moveOut
	if st.step != "" {
		if _, pending := n.pending[st.step]; pending {
			return
		}
		st.step = ""
	}
	conf := n.conf.conf
	m := machineOf(g)
	s, sending := m.Sending()
	mv := conf.Move
	if sending && conf.Moves >= s.Move && (mv == nil || mv.ID != s.Move) && s.Buckets == len(conf.Buckets) &&
		conf.Buckets[s.Bucket] == g.name && !conf.HasLeftover(g.name, s.Bucket) {
		// The move ended with the bucket still here: aborted. Resumed
		// before anything else, a frozen bucket included, so that the
		// next move's send is not refused.
		n.proposeBucketStep(g, &kv.BucketStep{Kind: kv.StepResume, Move: s.Move, Bucket: s.Bucket, Buckets: s.Buckets}, nil)
		return
	}
	for _, l := range conf.Garbage {
		if l.Replicaset == g.name {
			n.dropLeftover(g, l)
			return
		}
	}
	if mv != nil && mv.From == g.name && (!sending || s.Move != mv.ID) && (!sending || s.Frozen == 0) {
		// (A frozen bucket of another move is resumed or dropped
		// first, above: the machine refuses to send while it is.)
		n.proposeBucketStep(g, &kv.BucketStep{Kind: kv.StepSend, Move: mv.ID, Bucket: mv.Bucket, Buckets: len(conf.Buckets)}, nil)
	}
}

// dropLeftover proposes the next step of dropping a leftover. The first
// is a drop of the leftover's move, whatever the bucket holds: it seals
// the move here, so that an import of it still in the log applies
// before it and none after. Then passes over the bucket drop what they
// find, page by page; once a whole pass, begun after that first drop,
// found nothing, the leader proposes the leftover's end in group 0. A
// drop that does not apply leaves the pass unclean, so a missed item is
// found on the next.
func (n *Node) dropLeftover(g *group, l cluster.Leftover) {
	st := &g.moveOut
	if st.drop != l {
		st.drop, st.cursor, st.clean = l, kv.BucketCursor{}, true
	}
	buckets := len(n.conf.conf.Buckets)
	m := machineOf(g)
	dropped, superseded := m.DroppedMove(l.Bucket, l.Move)
	passed := false // a whole clean pass ended
	for range moveDropPages {
		if superseded {
			break // a later move's step applied here: nothing of this one to drop
		}
		unplaced := false
		items, next, done, err := m.BucketItems(l.Bucket, buckets, st.cursor, movePageItems, movePageScan, n.place(buckets, &unplaced))
		if err != nil || unplaced {
			why := "an object the data model cannot place"
			if err != nil {
				why = err.Error()
			}
			n.trace("move.drop.wait", env.Int("bucket", int64(l.Bucket)), env.Int("move", int64(l.Move)), env.Str("why", why))
			return
		}
		if len(items) > 0 || !dropped {
			st.clean = st.clean && len(items) == 0
			step := &kv.BucketStep{Kind: kv.StepDrop, Move: l.Move, Bucket: l.Bucket, Buckets: buckets}
			for _, it := range items {
				if it.Object == nil {
					step.Keys = append(step.Keys, it.Key)
				} else {
					step.Objects = append(step.Objects, kv.ObjectRef{Type: it.Object.Type, PK: it.Object.PK})
				}
			}
			n.proposeBucketStep(g, step, func(_ uint64, out outcome) {
				switch cur := &g.moveOut; {
				case cur.drop != l || out.rejected != nil || out.result.Status != kv.StatusOK:
				case !dropped:
					// The move is sealed here: the passes that count
					// begin now.
					cur.cursor, cur.clean = kv.BucketCursor{}, true
				default:
					cur.cursor = next
				}
			})
			return
		}
		st.cursor = next
		if !done {
			continue
		}
		if !st.clean {
			st.cursor, st.clean = kv.BucketCursor{}, true // once more, to be sure
			continue
		}
		passed = true
		break
	}
	if !superseded && !(dropped && passed) {
		return
	}
	g0 := n.group(cluster.ConfigGroup)
	if g0 == nil {
		return
	}
	n.trace("move.dropped", env.Str("group", g.name), env.Int("bucket", int64(l.Bucket)), env.Int("move", int64(l.Move)))
	st.step = n.proposeMoveAction(g0, g, "dropped", cluster.Dropped(l).Encode(), nil)
	st.drop = cluster.Leftover{}
}

// proposeBucketStep proposes a source's step in g's log, as g's leader.
func (n *Node) proposeBucketStep(g *group, s *kv.BucketStep, done func(uint64, outcome)) {
	st := &g.moveOut
	if st.step != "" {
		if _, pending := n.pending[st.step]; pending {
			return
		}
	}
	c := kv.Command{Op: kv.OpBucket, Bucket: s}
	n.trace("move.step", env.Str("group", g.name), env.Str("step", s.Kind.String()), env.Int("move", int64(s.Move)),
		env.Int("bucket", int64(s.Bucket)), env.Int("keys", int64(len(s.Keys))), env.Int("objects", int64(len(s.Objects))))
	st.step = n.proposeMoveAction(g, g, s.Kind.String(), c.Encode(), func(index uint64, out outcome) {
		if done != nil {
			done(index, out)
		}
		n.moveTick() // the next step need not wait for the tick
	})
}

// proposeMoveAction proposes data in group to, as an action of a move
// led from g in the term g.moveOut.term, and returns its ID ("" if raft
// did not take it: the next tick tries again). done, if set, is called
// when the entry applies here.
//
// A step in g's own log is proposed once, by this leader, never again
// (retryActions) nor forwarded: its ID names the term, and an entry of
// another term with such an ID is refused as it applies (moveStepTerm),
// so that a step an old leader proposed cannot land after what a newer
// one did. A step in group 0 (a commit, a leftover dropped) is retried
// like any action: group 0 checks each against the configuration.
func (n *Node) proposeMoveAction(to, g *group, what string, data []byte, done func(index uint64, out outcome)) string {
	g.moveOut.seq++
	id := fmt.Sprintf("mv-%s-%s-%d-%d", n.e.ID(), what, g.moveOut.term, g.moveOut.seq)
	req := &request{group: to, timer: n.e.After(governorTimeout, &expire{id: id}), entry: envelope(id, data), done: done}
	n.proposeAction(req)
	switch {
	case to.id == cluster.ConfigGroup:
		n.actions = append(n.actions, id)
	case !req.proposed:
		n.e.Cancel(req.timer)
		return ""
	}
	n.pending[id] = req
	return id
}

// moveStepTerm reads the term a move step's ID names (proposeMoveAction):
// "mv-NODE-WHAT-TERM-SEQ". ok is false for any other ID.
func moveStepTerm(id string) (term uint64, ok bool) {
	if !strings.HasPrefix(id, "mv-") {
		return 0, false
	}
	parts := strings.Split(id, "-")
	if len(parts) < 5 {
		return 0, false
	}
	term, err := strconv.ParseUint(parts[len(parts)-2], 10, 64)
	if _, err2 := strconv.ParseUint(parts[len(parts)-1], 10, 64); err != nil || err2 != nil {
		return 0, false
	}
	return term, true
}

// moveTerm keeps g's move state to the leadership it belongs to and
// reports whether this instance leads g: a new term, or the end of its
// leadership, forgets the reads and steps under way and cancels the
// steps' proposals in g's own log.
func (n *Node) moveTerm(g *group) bool {
	st := g.rn.BasicStatus()
	leading := st.RaftState == raft.StateLeader
	if leading && g.moveOut.term == st.Term {
		return true
	}
	for _, id := range []string{g.moveOut.step, g.moveIn.step} {
		if req, ok := n.pending[id]; ok && req.group == g {
			n.e.Cancel(req.timer)
			delete(n.pending, id)
			n.trace("prop.result", env.Str("group", g.name), env.Str("id", id), env.Str("outcome", "timeout"),
				env.Str("error", "the leadership of the group ended"))
		}
	}
	g.moveIn = moveIn{}
	g.moveOut = moveOut{seq: g.moveOut.seq}
	if leading {
		g.moveOut.term = st.Term
	}
	return leading
}

// moveDest drives, on a replicaset's leader, its part as a move's
// destination: it reads the bucket, imports it, and commits the move.
func (n *Node) moveDest(g *group) {
	mv := n.conf.conf.Move
	st := &g.moveIn
	if mv == nil || mv.To != g.name {
		*st = moveIn{}
		return
	}
	if st.move != mv.ID {
		*st = moveIn{move: mv.ID, part: MoveItems, wait: st.wait}
		if machineOf(g).Sealed(mv.Bucket, mv.ID) {
			// An earlier leader sealed the copy and its commit did not
			// apply: the copy is whole, and nothing of the move applied
			// since. Commit it.
			st.copied, st.sealed = true, g.applied
		} else {
			n.trace("move.copy", env.Str("group", g.name), env.Int("move", int64(mv.ID)), env.Int("bucket", int64(mv.Bucket)),
				env.Str("from", mv.From))
		}
	}
	if st.step != "" {
		if _, pending := n.pending[st.step]; pending {
			return
		}
		n.restartCopy(g, "a step timed out") // it may not have applied
		return
	}
	if st.seq != 0 && n.gov.tick-st.asked < moveReadTicks {
		return
	}
	if st.seq != 0 {
		st.target++ // no answer: ask another member
		st.leader = ""
	}
	if n.gov.tick < st.wait {
		return
	}
	n.moveNext(g)
}

// destDone is the callback of a destination's step of move (an import,
// the seal), what in words: one refused restarts the copy, one applied
// goes on with then.
func (n *Node) destDone(g *group, move uint64, what string, then func(index uint64)) func(uint64, outcome) {
	return func(index uint64, out outcome) {
		cur := &g.moveIn
		if cur.move != move || cur.step == "" {
			return
		}
		cur.step = ""
		switch {
		case out.rejected != nil:
			n.restartCopy(g, what+" was refused: "+out.rejected.Error())
		case out.result.Status != kv.StatusOK:
			n.restartCopy(g, what+" was refused: "+out.result.Error)
		default:
			then(index)
		}
	}
}

// restartCopy has the destination copy the bucket again from the start,
// after a few ticks: a page it read was not imported (an import or the
// seal was refused, or did not apply in time), and what it read after
// may not cover it.
func (n *Node) restartCopy(g *group, why string) {
	st := &g.moveIn
	n.trace("move.restart", env.Str("group", g.name), env.Int("move", int64(st.move)), env.Str("why", why))
	// Move 0: the next tick starts the copy afresh (moveDest), or
	// commits a copy sealed meanwhile.
	*st = moveIn{wait: n.gov.tick + moveRestartTicks}
}

// moveNext sends the destination's next read, or proposes the seal and
// then the commit.
func (n *Node) moveNext(g *group) {
	st := &g.moveIn
	conf := n.conf.conf
	mv := conf.Move
	if !n.moveTerm(g) || mv == nil || mv.ID != st.move {
		return
	}
	if st.copied && st.sealed == 0 {
		// The copy is whole: sealed, no import of the move applies
		// after, and the commit names the seal's index.
		n.trace("move.step", env.Str("group", g.name), env.Str("step", kv.StepSeal.String()), env.Int("move", int64(mv.ID)),
			env.Int("bucket", int64(mv.Bucket)), env.Int("keys", 0), env.Int("objects", 0))
		seal := kv.Command{Op: kv.OpBucket, Bucket: &kv.BucketStep{Kind: kv.StepSeal, Move: mv.ID, Bucket: mv.Bucket, Buckets: len(conf.Buckets)}}
		st.step = n.proposeMoveAction(g, g, "seal", seal.Encode(), n.destDone(g, mv.ID, "the seal", func(index uint64) {
			g.moveIn.sealed = index
			n.moveNext(g)
		}))
		return
	}
	if st.copied {
		g0 := n.group(cluster.ConfigGroup)
		if g0 == nil {
			return
		}
		n.trace("move.commit", env.Str("group", g.name), env.Int("move", int64(mv.ID)), env.Int("bucket", int64(mv.Bucket)),
			env.Int("index", int64(st.sealed)), env.Int("pages", int64(st.pages)))
		st.step = n.proposeMoveAction(g0, g, "commit", cluster.CommitMove(*mv, st.sealed).Encode(), nil)
		return
	}
	rs, ok := conf.Replicaset(mv.From)
	if !ok || len(rs.Members) == 0 {
		return
	}
	to := rs.Members[st.target%len(rs.Members)]
	if st.caughtUp && st.leader != "" {
		to = st.leader // the freeze is the leader's to propose
	}
	// The term in the number keeps a page asked for before a restart
	// (whose counter starts again) from passing for a later one.
	n.moveSeq++
	st.seq, st.asked = g.moveOut.term<<32|n.moveSeq&(1<<32-1), n.gov.tick
	n.e.Send(to, &MoveRead{Move: st.move, Part: st.part, Seq: st.seq, Cursor: st.cursor, Change: st.change, After: st.after,
		Freeze: st.caughtUp})
}

// movePage handles a page a destination leader asked for.
func (n *Node) movePage(from env.NodeID, p *MovePage) {
	g := n.dataGroup()
	if g == nil || !n.moveTerm(g) {
		return
	}
	st := &g.moveIn
	mv := n.conf.conf.Move
	if mv == nil || p.Move != st.move || p.Seq != st.seq || st.seq == 0 || p.Part != st.part {
		return // an answer to a read given up on
	}
	st.seq = 0
	if p.Leader != "" {
		st.leader = p.Leader
	}
	if p.Status != MovePageOK {
		st.target++
		st.wait = n.gov.tick + 1
		return
	}
	im := p.Page
	if im == nil || im.Move != mv.ID || im.Bucket != mv.Bucket || im.Buckets != len(n.conf.conf.Buckets) {
		return // not this move's bucket: ask again on the next tick
	}
	switch st.part {
	case MoveItems:
		st.cursor = p.Cursor
		if p.Done {
			st.part = MoveChanges
		}
	case MoveChanges:
		st.change = p.Change
		switch {
		case p.Done && p.Frozen:
			// Read to the end from a member that had frozen the
			// bucket: nothing of it applies after.
			st.part = MoveDedup
		case p.Done:
			st.caughtUp = true
			st.wait = n.gov.tick + 1 // poll for the freeze on the next tick
		}
	case MoveDedup:
		st.after = p.After
		st.copied = p.Done
	}
	if len(im.Items) == 0 && len(im.Dedup) == 0 {
		if st.wait <= n.gov.tick {
			n.moveNext(g)
		}
		return
	}
	st.pages++
	n.trace("move.import", env.Str("group", g.name), env.Int("move", int64(im.Move)), env.Str("part", p.Part.String()),
		env.Int("items", int64(len(im.Items))), env.Int("dedup", int64(len(im.Dedup))))
	c := kv.Command{Op: kv.OpImport, Import: im}
	st.step = n.proposeMoveAction(g, g, "import", c.Encode(), n.destDone(g, im.Move, "an import", func(uint64) {
		if g.moveIn.wait <= n.gov.tick {
			n.moveNext(g)
		}
	}))
	if st.step == "" {
		n.restartCopy(g, "raft did not take an import")
	}
}

// moveTick runs the moves' part of the tick on the replicaset this
// instance leads.
func (n *Node) moveTick() {
	g := n.dataGroup()
	if g == nil || !n.moveTerm(g) || n.expelled() || len(n.conf.conf.Buckets) == 0 {
		return
	}
	n.moveSource(g)
	n.moveDest(g)
}
