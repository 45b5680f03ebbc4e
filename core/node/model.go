package node

import (
	"fmt"
	"slices"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"go.etcd.io/raft/v3"
)

// The data model on an instance: the model in force is group 0's latest
// accepted revision (cluster.Config.Models). A replicaset's leader
// validates and upgrades every object written through it, votes on
// proposed models, and rewrites objects stored under older versions in the
// background; every member upgrades what it reads.

// modelCache holds the parsed model in force, parsed again only when group
// 0 accepts another.
type modelCache struct {
	digest string
	m      *model.Model
	rev    int
	traced int // the revision model.revision last recorded
}

// dataModel is the model in force and its revision, or nil.
func (n *Node) dataModel() (*model.Model, int) {
	cur := n.conf.conf.Model()
	if cur == nil {
		return nil, 0
	}
	if n.models.digest != cur.Digest {
		// Group 0 accepted it with this parser, on every replica alike.
		m, err := model.ParseWith("model.yaml", []byte(cur.Source), model.Options{AllowUnknownFuncs: true})
		if err != nil {
			panic(fmt.Sprintf("node: %s: model revision %d no longer parses: %v", n.e.ID(), cur.Revision, err))
		}
		n.models = modelCache{digest: cur.Digest, m: m, rev: cur.Revision, traced: n.models.traced}
	}
	return n.models.m, n.models.rev
}

// noteModel records in the trace (model.revision) when the model in
// force on this instance changes, the first time included.
func (n *Node) noteModel() {
	cur := n.conf.conf.Model()
	if cur == nil || cur.Revision == n.models.traced {
		return
	}
	n.models.traced = cur.Revision
	n.trace("model.revision", env.Int("revision", int64(cur.Revision)), env.Str("digest", cur.Digest))
}

// modelVoteTimeout bounds a vote's proposal; the leader votes again on a
// later tick if it is still leader and the change still waits.
const modelVoteTimeout = 5 * time.Second

// voteOnModels has every replicaset this instance leads vote on the model
// change group 0 is waiting on: yes if this binary accepts the model (it
// has every migration function the model names), else no with the
// reason.
func (n *Node) voteOnModels() {
	ch := n.conf.conf.ModelChange
	if ch == nil {
		return
	}
	for _, g := range n.groups {
		if g.id == cluster.ConfigGroup || g.role() != raft.StateLeader {
			continue
		}
		if _, voted := ch.Votes[g.name]; voted {
			continue
		}
		// Unique per change (a cancelled change's revision comes back),
		// since group 0 applies each action ID once.
		id := fmt.Sprintf("model-vote/%s/%d/%s/%s", g.name, ch.Revision, ch.Action, n.e.ID())
		if _, pending := n.pending[id]; pending {
			continue
		}
		reason := ""
		if _, err := model.Parse("model.yaml", []byte(ch.Source)); err != nil {
			reason = err.Error()
		}
		n.trace("model.vote", env.Str("group", g.name), env.Int("revision", int64(ch.Revision)), env.Str("reason", reason))
		n.propose(&Propose{ID: id, Group: "config", Data: cluster.VoteModel(g.name, ch, n.e.ID(), reason).Encode(),
			Timeout: modelVoteTimeout})
	}
}

// decideModelProposals answers the model proposals made here whose change
// group 0 has decided: ok once accepted, fail once voted down.
func (n *Node) decideModelProposals() {
	for _, id := range n.actions {
		req, ok := n.pending[id]
		if !ok || !req.deciding {
			continue
		}
		rev, reason, decided := n.conf.conf.ModelDecision(id)
		if !decided {
			continue
		}
		delete(n.pending, id)
		n.e.Cancel(req.timer)
		if reason != "" {
			n.trace("prop.result", env.Str("group", req.group.name), env.Str("id", id), env.Str("outcome", "fail"),
				env.Int("index", int64(req.index)), env.Str("error", "model revision "+fmt.Sprint(rev)+" was voted down: "+reason))
			continue
		}
		n.trace("prop.result", env.Str("group", req.group.name), env.Str("id", id), env.Str("outcome", "ok"),
			env.Int("index", int64(req.index)), env.Int("revision", int64(rev)))
	}
}

// modelBehind is objectCommand's error for a write that names what the
// model this instance has applied lacks (no model, the type, the
// version): a model group 0 accepted may not have reached it yet, so the
// write is refused as a redirect, which a client retries, rather than as
// invalid.
type modelBehind struct{ msg string }

func (e modelBehind) Error() string { return e.msg }

// objectCommand turns an object write into the command its replicaset's
// log takes: the object validated at the version it was written at,
// upgraded to the latest, with its key and index entries.
func (n *Node) objectCommand(req *kv.Request) (kv.Command, error) {
	o := req.Object
	cmd := kv.Command{Client: req.Client, Seq: req.Seq, Op: req.Op, Key: req.Key}
	if o == nil {
		return cmd, fmt.Errorf("%s without an object", req.Op)
	}
	m, _ := n.dataModel()
	if m == nil {
		return cmd, modelBehind{"this instance has no data model"}
	}
	t, ok := m.Type(o.Type)
	if !ok {
		return cmd, modelBehind{fmt.Sprintf("the model here has no type %q", o.Type)}
	}
	w := &kv.ObjectWrite{Type: t.Name, History: t.History, IfRevision: o.IfRevision, IfAbsent: o.IfAbsent}
	cmd.Object = w
	if req.Op == kv.OpDeleteObject {
		w.PK = o.PK
		if err := n.checkRoute(t, o.PK, req.Key); err != nil {
			return cmd, err
		}
		return cmd, n.stamp(w, req.Key, n.e.Now().UnixNano())
	}
	v := o.Version
	if v == 0 {
		v = t.Latest()
	}
	if v > t.Latest() {
		return cmd, modelBehind{fmt.Sprintf("the model here has %s up to version %d", t.Name, t.Latest())}
	}
	obj, err := t.Validate(v, o.Value)
	if err != nil {
		return cmd, err
	}
	if obj, err = t.Upgrade(v, obj); err != nil {
		return cmd, err
	}
	if w.PK, err = t.PrimaryKey(obj); err != nil {
		return cmd, err
	}
	if err := n.checkRoute(t, w.PK, req.Key); err != nil {
		return cmd, err
	}
	entries, err := t.IndexEntries(obj)
	if err != nil {
		return cmd, err
	}
	w.Version, w.Value, w.Indexes = t.Latest(), model.Encode(obj), indexEntries(entries)
	return cmd, n.stamp(w, req.Key, n.e.Now().UnixNano())
}

// checkRoute refuses an object whose key does not route to the bucket the
// request was routed by: its replicaset may not own the object.
func (n *Node) checkRoute(t *model.Type, pk, route string) error {
	key, err := t.RouteKey(pk)
	if err != nil {
		return err
	}
	if key != route {
		return fmt.Errorf("the object routes by %q, the request was routed by %q", key, route)
	}
	return nil
}

func indexEntries(es []model.IndexEntry) []kv.IndexEntry {
	out := make([]kv.IndexEntry, len(es))
	for i, e := range es {
		out[i] = kv.IndexEntry{Index: e.Index, Key: e.Key, Unique: e.Unique}
	}
	return out
}

// readObject answers a get-object from this replica's state: the object
// as stored, upgraded to the model in force, and with History its kept
// previous versions, upgraded alike. An object that does not upgrade
// fails the read; a previous version that does not is answered as
// stored, with its version: the history is a record of what was, and
// one old version the model cannot bring forward should not hide the
// others (nor the object).
func (n *Node) readObject(g *group, o *kv.ObjectRequest, index uint64) *kv.Response {
	if o == nil {
		return &kv.Response{Status: kv.StatusInvalid, Error: "get-object without an object", Index: index}
	}
	machine := g.sm.(dataMachine).m
	rec, found, err := machine.GetObject(o.Type, o.PK)
	must(err)
	r := &kv.Response{Status: kv.StatusOK, Index: index}
	if found {
		up, err := n.upgradeRecord(rec)
		if err != nil {
			return &kv.Response{Status: kv.StatusInvalid, Error: err.Error(), Index: index}
		}
		r.Value, r.Object = kv.Some(""), &up
	}
	if o.History {
		hist, err := machine.ObjectHistory(o.Type, o.PK)
		must(err)
		if len(hist) > kv.MaxHistory {
			panic(fmt.Sprintf("node: %s: %s %q keeps %d previous versions, over %d", n.e.ID(), o.Type, o.PK, len(hist), kv.MaxHistory))
		}
		for i := range hist {
			if up, err := n.upgradeRecord(hist[i]); err == nil {
				hist[i] = up
			}
		}
		r.History = hist
	}
	return r
}

// upgradeRecord brings a stored object to the latest version of its type.
func (n *Node) upgradeRecord(rec kv.ObjectRecord) (kv.ObjectRecord, error) {
	m, _ := n.dataModel()
	if m == nil {
		return rec, nil
	}
	t, ok := m.Type(rec.Type)
	if !ok {
		return rec, fmt.Errorf("the model has no type %q", rec.Type)
	}
	if rec.Version >= t.Latest() {
		return rec, nil
	}
	obj, err := model.Decode(rec.Value)
	if err != nil {
		return rec, fmt.Errorf("%s %s: stored object: %w", rec.Type, t.KeyString(rec.PK), err)
	}
	if obj, err = t.Upgrade(rec.Version, obj); err != nil {
		return rec, fmt.Errorf("%s %s: upgrading from version %d: %w", rec.Type, t.KeyString(rec.PK), rec.Version, err)
	}
	rec.Version, rec.Value = t.Latest(), model.Encode(obj)
	return rec, nil
}

// Limits of the background migration, per replicaset leader and tick.
const (
	// migrateScan bounds the stored objects one tick looks at.
	migrateScan = 128
	// migrateInFlight bounds the rewrites proposed and not yet applied.
	migrateInFlight = 32
)

// migration is a replicaset leader's progress through its objects,
// rewriting those stored under an older version of their type.
type migration struct {
	rev      int    // the model revision the pass works towards
	term     uint64 // the term this instance leads in
	typ      string // the type and the key the pass has reached
	after    string
	found    int  // rewrites proposed in this pass
	done     bool // a whole pass found nothing to rewrite under rev
	inFlight int
	seq      int // names the rewrites
}

// migrate moves the background migration of every replicaset this
// instance leads one bounded step on. A rewrite applies only if the object
// has not changed since it was read (its revision), so it never undoes a
// client's write; an object a client writes meanwhile is stored in the
// latest shape anyway.
func (n *Node) migrate() {
	m, rev := n.dataModel()
	if m == nil {
		return
	}
	for _, g := range n.groups {
		if g.id == cluster.ConfigGroup || g.role() != raft.StateLeader || n.frozen(g) {
			continue
		}
		mg := &g.migration
		// A new model, or a new term: a leader of another term may have
		// stored objects under the older model it knew.
		if term := g.rn.BasicStatus().Term; mg.rev != rev || mg.term != term {
			*mg = migration{rev: rev, term: term, inFlight: mg.inFlight, seq: mg.seq}
		}
		if mg.done {
			continue
		}
		n.migrateStep(g, m, mg)
	}
}

func (n *Node) migrateStep(g *group, m *model.Model, mg *migration) {
	machine := g.sm.(dataMachine).m
	budget := migrateScan
	proposed := 0
	defer func() {
		if proposed > 0 {
			n.trace("model.migrate", env.Str("group", g.name), env.Int("revision", int64(mg.rev)), env.Int("proposed", int64(proposed)))
		}
	}()
	for budget > 0 && mg.inFlight < migrateInFlight {
		if mg.typ == "" {
			// A pass starts once the previous one's rewrites are applied,
			// so that it sees them.
			if mg.inFlight > 0 || len(m.Types) == 0 {
				mg.done = len(m.Types) == 0
				return
			}
			mg.typ, mg.after = m.Types[0].Name, ""
		}
		t, _ := m.Type(mg.typ)
		limit := min(budget, migrateInFlight-mg.inFlight)
		recs, err := machine.ScanObjects(mg.typ, mg.after, limit)
		must(err)
		budget -= max(len(recs), 1)
		for _, rec := range recs {
			if rec.Version >= t.Latest() && entriesCurrent(t, rec) {
				mg.after = rec.PK
				continue
			}
			up, err := n.upgradeRecord(rec)
			var entries []model.IndexEntry
			if err == nil {
				var obj model.Object
				obj, err = model.Decode(up.Value)
				if err == nil {
					entries, err = t.IndexEntries(obj)
				}
			}
			if err != nil {
				// Reads report it too; the object stays as stored.
				mg.after = rec.PK
				n.trace("model.migrate.error", env.Str("group", g.name), env.Str("type", rec.Type), env.Str("error", err.Error()))
				continue
			}
			id := fmt.Sprintf("migrate/%s/%d", n.e.ID(), mg.seq+1)
			cmd := kv.Command{Op: kv.OpPutObject, Object: &kv.ObjectWrite{Type: rec.Type, PK: rec.PK, Version: up.Version,
				Value: up.Value, Indexes: indexEntries(entries), History: t.History, IfRevision: rec.Revision, Rewrite: true}}
			if g.rn.Propose(envelope(id, cmd.Encode())) != nil {
				return // no longer leader, or a transfer is under way: a later tick resumes here
			}
			mg.seq++
			mg.after = rec.PK
			n.pending[id] = &request{group: g, rewrite: true, timer: n.e.After(n.cfg.RequestTTL, &expire{id: id})}
			mg.inFlight++
			mg.found++
			proposed++
		}
		if len(recs) < limit {
			// The type is done: on to the next, or the pass is over.
			next := ""
			for i, ty := range m.Types {
				if ty.Name == mg.typ && i+1 < len(m.Types) {
					next = m.Types[i+1].Name
				}
			}
			mg.typ, mg.after = next, ""
			if next == "" {
				mg.done = mg.found == 0
				mg.found = 0
				return
			}
		}
	}
}

// entriesCurrent reports whether rec, stored at the latest version of
// t, holds the non-unique index entries t gives its object: a model
// revision may add an index, or change one's fields, without a new
// version, and the objects stored before it then lack the entries an
// index's order and an index lookup read. Unique entries are left out:
// a change received from another cluster may have taken one, and a
// rewrite could not take it back.
func entriesCurrent(t *model.Type, rec kv.ObjectRecord) bool {
	obj, err := model.Decode(rec.Value)
	if err != nil {
		return true // reads report it; a rewrite would not help
	}
	want, err := t.IndexEntries(obj)
	if err != nil {
		return true
	}
	var stored, given []kv.IndexEntry
	for _, e := range rec.Indexes {
		if !e.Unique {
			stored = append(stored, e)
		}
	}
	for _, e := range indexEntries(want) {
		if !e.Unique {
			given = append(given, e)
		}
	}
	return slices.Equal(stored, given)
}

// entriesComplete reports whether every object g stores holds the index
// entries the model in force gives it: g's leader has made a whole pass
// of the migration in this term under the model in force and found
// nothing to rewrite, and every write since stored the entries of that
// model. A follower does not know, nor does a leader before its pass.
func (n *Node) entriesComplete(g *group) bool {
	if g.rn == nil {
		return false // a group that is no Raft member (a test's) leads nothing
	}
	_, rev := n.dataModel()
	mg := &g.migration
	return g.role() == raft.StateLeader && mg.done && mg.rev == rev && mg.term == g.rn.BasicStatus().Term
}

// rewriteDone accounts for a background rewrite that was applied or
// expired.
func (n *Node) rewriteDone(req *request) {
	if req.group.migration.inFlight > 0 {
		req.group.migration.inFlight--
	}
}

// StoredObjects lists the objects of a type this instance holds as a
// member of replicaset rs, as stored (versions not upgraded), in key
// order: how far the background migration got, for tests and tools.
func (n *Node) StoredObjects(rs, typ string) ([]kv.ObjectRecord, error) {
	g := n.groupNamed(rs)
	if g == nil || g.id == cluster.ConfigGroup {
		return nil, fmt.Errorf("node: %s is not a member of replicaset %q", n.e.ID(), rs)
	}
	var out []kv.ObjectRecord
	after := ""
	for {
		recs, err := g.sm.(dataMachine).m.ScanObjects(typ, after, 256)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		if len(recs) < 256 {
			return out, nil
		}
		after = recs[len(recs)-1].PK
	}
}

// ObjectHistory lists the previous versions this instance keeps of an
// object as a member of replicaset rs, oldest first and as stored
// (versions not upgraded; a get-object with History answers them
// upgraded): for tests and tools.
func (n *Node) ObjectHistory(rs, typ, pk string) ([]kv.ObjectRecord, error) {
	g := n.groupNamed(rs)
	if g == nil || g.id == cluster.ConfigGroup {
		return nil, fmt.Errorf("node: %s is not a member of replicaset %q", n.e.ID(), rs)
	}
	return g.sm.(dataMachine).m.ObjectHistory(typ, pk)
}
